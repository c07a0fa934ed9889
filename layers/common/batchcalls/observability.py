"""Powertools logger, tracer and metrics shared by every handler; the logger masks
personal data (phone numbers, names, contact variables, call summaries) in every line."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

# A phone number as the service writes it (E.164) anywhere in a string, even in a
# traceback or a message that quotes a body. Bare digit runs are left alone: epoch
# milliseconds look the same.
_E164 = re.compile(r"\+\d{7,15}(?!\d)")
KEPT_DIGITS = 2
# Log fields whose values are personal data whatever their shape.
_PHONE_KEYS = frozenset({"phone_number", "phonenumber", "phone", "to", "number", "numbers"})
_SECRET_KEYS = frozenset({"name", "contact_name", "summary", "variables", "body", "raw_body"})


def mask_phone(number: str) -> str:
    """`+12125550104` -> `+*********04`: enough to tell two numbers apart in a log,
    not enough to call anyone."""
    digits = sum(c.isdigit() for c in number)
    if digits <= KEPT_DIGITS:
        return "*" * len(number)
    kept, seen = [], 0
    for char in reversed(number):
        if char.isdigit():
            seen += 1
            kept.append(char if seen <= KEPT_DIGITS else "*")
        else:
            kept.append(char)
    return "".join(reversed(kept))


def mask_text(text: str) -> str:
    """Every E.164 number in `text`, masked."""
    return _E164.sub(lambda match: mask_phone(match.group()), text)


def _hidden(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): "***" for k in value}
    return f"*** ({len(str(value))} characters)"


def mask_personal_data(value: Any, key: str | None = None) -> Any:
    """A copy of a log record (or any JSON-like value) with personal data masked."""
    normalised = key.lower().replace("-", "_") if isinstance(key, str) else None
    if normalised in _SECRET_KEYS:
        return _hidden(value)
    if normalised in _PHONE_KEYS:
        if isinstance(value, str):
            return mask_phone(value)
        if isinstance(value, list | tuple):
            return [mask_phone(v) if isinstance(v, str) else _hidden(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_personal_data(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_personal_data(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Anything else is written as its str() (an exception in `stack_trace`, a Decimal...).
    return mask_text(str(value))


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, with `mask_personal_data` applied to the whole record
    (message, extra keys, exception text) just before it is written."""

    def serialize(self, log: Any) -> str:
        return self.json_serializer(mask_personal_data(log))


class _Untraced(BaseSegment):
    """A segment that records nothing."""

    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class NoTracing(BaseProvider):
    """The tracer's provider when tracing is off (outside Lambda, or
    POWERTOOLS_TRACE_DISABLED): Powertools' own default, the X-Ray recorder, is imported
    even then and costs a cold start about 150 ms (docs/benchmarks.md, "Cold start")."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _Untraced()

    def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError("no async handlers here")

    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Sequence[str]) -> None: ...
    def patch_all(self) -> None: ...


# What the X-Ray recorder patches: botocore, which every AWS request goes through
# (pynamodb's too). Powertools' default, every library the SDK knows that is installed,
# also patches pynamodb (its requests traced twice), requests and sqlite3 (neither used),
# and importing them costs each cold start tens of milliseconds (docs/benchmarks.md).
# http.client is left alone: patched, it would trace every botocore request once more.
TRACED_MODULES = ("botocore",)


def _tracer() -> Tracer:
    """Powertools' tracer: the X-Ray recorder when tracing is on (in Lambda, the
    template's `Tracing: Active`), otherwise one that records nothing and never loads
    the X-Ray SDK."""
    if Tracer._is_tracer_disabled():
        return Tracer(disabled=True, auto_patch=False, provider=NoTracing())
    return Tracer(patch_modules=TRACED_MODULES)


logger = Logger(logger_formatter=MaskingFormatter())
tracer = _tracer()
metrics = Metrics(namespace="BatchCalls")

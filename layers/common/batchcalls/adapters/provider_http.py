"""The voice provider over HTTP (API.md "Provider"): POST {PROVIDER_URL}/calls.

`2xx` accepts; `422 from_rejected` refuses the caller ID; `401`, `403`, or a `4xx` whose
error code is `agent_not_found` or `unauthorized` refuses the campaign itself (its agent or
our credentials: no call of it can be placed, so it fails); another `4xx` refuses the call;
`5xx`, timeouts and network errors are retried with the same `call_id` (the provider
dedupes on it) with exponential backoff, a bounded number of times.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from batchcalls.observability import logger

PlaceStatus = Literal["accepted", "from_rejected", "refused", "blocked", "unavailable"]
# Error codes of a 4xx that refuse every call of the campaign, not only this one.
CAMPAIGN_REFUSALS = frozenset({"agent_not_found", "unauthorized"})


@dataclass(frozen=True)
class CallRequest:
    call_id: str
    agent_id: str | None
    from_number: str
    to: str
    variables: dict[str, str]
    callback_url: str

    def body(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "agent_id": self.agent_id,
            "from": self.from_number,
            "to": self.to,
            "variables": self.variables,
            "callback_url": self.callback_url,
        }


@dataclass(frozen=True)
class PlaceResult:
    status: PlaceStatus
    http_status: int | None = None
    detail: str | None = None
    # "blocked": why (`agent_not_found`, `unauthorized`).
    code: str | None = None


_MAX_ERROR_BODY = 64_000
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _error_code(body: bytes) -> str | None:
    """`error.code` of a provider's JSON error body when it is a plain identifier."""
    code = None
    with contextlib.suppress(ValueError, AttributeError, RecursionError):
        code = json.loads(body).get("error", {}).get("code")
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None


def result_of_error(status: int, body: bytes) -> PlaceResult:
    """How an HTTP error answer of the provider ends the attempt. Its body is never kept,
    only the status and the error code: a provider may echo the number, the name or the
    variables of the call, and `detail` is logged."""
    code = _error_code(body)
    detail = f"HTTP {status}" + (f" {code}" if code else "")
    if status >= 500:
        return PlaceResult("unavailable", status, detail)
    if status == 422 and code == "from_rejected":
        return PlaceResult("from_rejected", 422, detail)
    if status in (401, 403) or code in CAMPAIGN_REFUSALS:
        return PlaceResult("blocked", status, detail, code or "unauthorized")
    return PlaceResult("refused", status, detail)


class HttpProvider:
    """Implements services.delivery.Provider."""

    def __init__(
        self,
        base_url: str,
        timeout_seconds: float = 10,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep

    def place(self, call: CallRequest, budget_seconds: float) -> PlaceResult:
        """Up to `attempts` requests, each waiting at most `timeout_seconds`, all of them
        (backoff included) within `budget_seconds` of real time: each request's timeout is
        cut to what is left of the budget, so none is under way after it."""
        deadline = time.monotonic() + budget_seconds
        last = PlaceResult("unavailable", detail="no time left to dial")
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            left = deadline - time.monotonic()
            if left <= 0 or (attempt and left < min(self.timeout_seconds, 1.0)):
                break
            last = self._once(call, min(self.timeout_seconds, left))
            if last.status != "unavailable":
                return last
            logger.warning(
                "provider unavailable",
                call_id=call.call_id,
                attempt=attempt + 1,
                detail=last.detail,
            )
        return last

    def _once(self, call: CallRequest, timeout_seconds: float) -> PlaceResult:
        request = urllib.request.Request(
            f"{self.base_url}/calls",
            data=json.dumps(call.body()).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
                response.read()
                return PlaceResult("accepted", response.status)
        except urllib.error.HTTPError as failure:
            return result_of_error(failure.code, failure.read(_MAX_ERROR_BODY))
        except (urllib.error.URLError, OSError, TimeoutError) as failure:
            return PlaceResult("unavailable", None, repr(failure))


def parse_secrets(value: str) -> tuple[str, ...]:
    """The secrets in a parameter value: `new,old` or one per line, spaces around each
    ignored, empty parts dropped, the first kept of repeats. The first signs; every one
    is accepted (so a secret can be rotated without refusing callbacks)."""
    secrets: list[str] = []
    for part in re.split(r"[,\n]", value):
        secret = part.strip()
        if secret and secret not in secrets:
            secrets.append(secret)
    return tuple(secrets)


class ProviderSecret:
    """The shared secrets of callback signatures: from settings if given, else from SSM
    (Powertools parameters: decrypted and cached for `max_age_seconds`, so a new value is
    seen within that time). The value holds one secret, or two during a rotation
    (`new,old`, or newline separated): `signing()` is the first, `accepted()` all."""

    def __init__(self, value: str, parameter_name: str, max_age_seconds: int = 300) -> None:
        self.value = value
        self.parameter_name = parameter_name
        self.max_age_seconds = max_age_seconds

    def accepted(self) -> tuple[str, ...]:
        secrets = parse_secrets(self._raw())
        if not secrets:
            raise RuntimeError(
                f"the provider secret ({self.parameter_name or 'PROVIDER_SECRET'}) is empty"
            )
        return secrets

    def signing(self) -> str:
        return self.accepted()[0]

    def _raw(self) -> str:
        if self.value:
            return self.value
        if not self.parameter_name:
            raise RuntimeError("neither PROVIDER_SECRET nor PROVIDER_SECRET_NAME is set")
        from aws_lambda_powertools.utilities import parameters

        return str(
            parameters.get_parameter(
                self.parameter_name, decrypt=True, max_age=self.max_age_seconds
            )
        )

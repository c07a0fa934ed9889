"""Request bodies read as JSON within limits, so that no body can crash a handler.

Python's `json` raises `RecursionError` on deeply nested arrays and a `ValueError` on
integers past `sys.get_int_max_str_digits()`; neither is a `JSONDecodeError`, so a
resolver that only expects the latter answers 500. Every such body is refused here as
malformed instead (400 `invalid_json`), with the limit in the message.
"""

from __future__ import annotations

import json
from typing import Any

# The deepest body the API takes is 3 levels (contacts -> contact -> variables); 32 leaves
# room for any reasonable client and stays far from Python's recursion limit.
MAX_DEPTH = 32
# No numeric field takes more than 19 digits (a 64-bit integer).
MAX_NUMBER_DIGITS = 100


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    return int(text)


def _real(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS + 10:
        raise ValueError(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    return float(text)


def _depth_of(value: Any) -> int:
    """How deeply containers nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, dict | list):
            continue
        children = item.values() if isinstance(item, dict) else item
        deepest = max(deepest, depth + 1)
        if deepest > MAX_DEPTH:
            break
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def parse_json_body(text: str | bytes | bytearray) -> Any:
    """The body as JSON; `json.JSONDecodeError` (with a reason) for anything else:
    not JSON, not UTF-8, nested deeper than MAX_DEPTH, numbers longer than
    MAX_NUMBER_DIGITS."""
    document = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else text
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_real)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", document, 0) from None
    except ValueError as error:  # UnicodeDecodeError, too many digits
        raise json.JSONDecodeError(str(error).split(":")[0], document, 0) from None
    if _depth_of(value) > MAX_DEPTH:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", document, 0)
    return value

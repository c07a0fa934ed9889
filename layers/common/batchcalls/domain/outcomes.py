"""Call outcomes, provider callback signatures and event bodies (API.md "Provider", "Events").

Pure: no AWS, no clock of its own (instants are inputs).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["completed", "no_answer", "busy", "failed", "unknown"]
PROVIDER_OUTCOMES: frozenset[str] = frozenset({"completed", "no_answer", "busy", "failed"})
SIGNATURE_MAX_AGE_SECONDS = 300
# A signature stamped this far ahead of our clock is refused too (clock skew allowance).
SIGNATURE_MAX_SKEW_SECONDS = 60
MAX_SIGNATURE_HEADER_LENGTH = 1_000
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


# --------------------------------------------------------------------------- signatures
def sign(secret: str, timestamp: int, raw_body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def signature_problem(
    secrets: str | Sequence[str], header: str | None, raw_body: bytes, now_seconds: float
) -> str | None:
    """None when the header signs the body recently enough with the secret, or with any
    of the secrets (two while one is rotated out); else why not."""
    if not header:
        return "the X-Signature header is missing"
    if len(header) > MAX_SIGNATURE_HEADER_LENGTH or not header.isascii():
        return "the X-Signature header is not t=<unix seconds>,v1=<hex>"
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    stamps = parts.get("t", [])
    # ASCII digits only ("²".isdigit() is true) and few of them: a float of a 400-digit
    # number overflows.
    if len(stamps) != 1 or not _UNIX_SECONDS.fullmatch(stamps[0]):
        return "the X-Signature header has no valid t="
    timestamp = int(stamps[0])
    if now_seconds - timestamp > SIGNATURE_MAX_AGE_SECONDS:
        return "the signature is too old"
    if timestamp - now_seconds > SIGNATURE_MAX_SKEW_SECONDS:
        return "the signature is from the future"
    given = [v.lower() for v in parts.get("v1", []) if _HEX_SHA256.fullmatch(v)]
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        expected = sign(secret, timestamp, raw_body).split("v1=", 1)[1]
        if any(hmac.compare_digest(expected, v) for v in given):
            return None
    return "the signature does not match"


# --------------------------------------------------------------------------- events
def event_id(kind: str, key: str) -> str:
    """Stable per (event kind, key): a redelivery carries the same id."""
    return "evt_" + hashlib.sha256(f"{kind}|{key}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CallEnded:
    campaign_id: str
    call_id: str
    contact_id: str
    phone_number: str
    outcome: Outcome
    attempt: int
    duration_seconds: int | None
    summary: str | None


def call_completed_body(call: CallEnded, occurred_at: str) -> dict[str, Any]:
    return {
        "event": "call.completed",
        "eventId": event_id("call.completed", call.call_id),
        "occurredAt": occurred_at,
        "batchId": call.campaign_id,
        "callId": call.call_id,
        "contactId": call.contact_id,
        "phoneNumber": call.phone_number,
        "status": call.outcome.upper(),
        "attempt": call.attempt,
        "duration": call.duration_seconds or 0,
        "summary": call.summary,
    }


def batch_statistics(counts: dict[str, int]) -> dict[str, int]:
    """`total` counts every contact, `succeeded` the completed ones."""
    return {
        "total": sum(int(v) for v in counts.values()),
        "succeeded": int(counts.get("completed", 0)),
        "failed": int(counts.get("failed", 0)),
        "skipped": int(counts.get("skipped", 0)),
        "cancelled": int(counts.get("cancelled", 0)),
    }


def batch_completed_body(
    campaign_id: str, counts: dict[str, int], occurred_at: str
) -> dict[str, Any]:
    return {
        "event": "batch.completed",
        "eventId": event_id("batch.completed", campaign_id),
        "occurredAt": occurred_at,
        "batchId": campaign_id,
        "statistics": batch_statistics(counts),
    }


def batch_failed_body(campaign_id: str, error: str, occurred_at: str) -> dict[str, Any]:
    return {
        "event": "batch.failed",
        "eventId": event_id("batch.failed", campaign_id),
        "occurredAt": occurred_at,
        "batchId": campaign_id,
        "error": error,
    }


def status_changed_body(
    campaign_id: str, before: str, after: str, occurred_at: str, at_ms: int
) -> dict[str, Any]:
    """`campaign.status_changed`; one per change (`at_ms`, the instant of the change,
    tells a pause from a later pause of the same campaign)."""
    return {
        "event": "campaign.status_changed",
        "eventId": event_id("campaign.status_changed", f"{campaign_id}|{before}|{after}|{at_ms}"),
        "occurredAt": occurred_at,
        "batchId": campaign_id,
        "from": before,
        "to": after,
    }


def import_finished_body(
    campaign_id: str,
    import_id: str,
    file: str,
    counts: dict[str, int],
    error: str | None,
    occurred_at: str,
) -> dict[str, Any]:
    """`import.completed`, or `import.failed` when `error` says why the file failed."""
    kind = "import.failed" if error else "import.completed"
    body: dict[str, Any] = {
        "event": kind,
        "eventId": event_id(kind, import_id),
        "occurredAt": occurred_at,
        "batchId": campaign_id,
        "importId": import_id,
        "file": file,
        "accepted": int(counts.get("accepted", 0)),
        "duplicates": int(counts.get("duplicates", 0)),
        "invalid": int(counts.get("invalid", 0)),
    }
    if error:
        body["error"] = error
    return body

"""Delivery arithmetic: which calls get a free place first, send delays, dispatch windows.

Pure. Live calls are counted per campaign (`max_concurrent_calls`) and provider-wide;
a call that finds no free place waits, and freed places go to waiting calls in order:
higher campaign priority first, then earlier `scheduled_at`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MINUTE_MS = 60_000
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds


@dataclass(frozen=True)
class WaitingHead:
    """The earliest waiting call of one campaign."""

    tenant_id: str
    campaign_id: str
    priority: int
    due_ms: int


def admission_order(heads: Iterable[WaitingHead]) -> list[WaitingHead]:
    """Campaigns with waiting calls, in the order freed places go to them."""
    return sorted(heads, key=lambda h: (-h.priority, h.due_ms, h.tenant_id, h.campaign_id))


def has_room(live: int, limit: int) -> bool:
    return live < limit


def delay_seconds(due_ms: int, now_ms: int) -> int:
    """Whole seconds until the call is due, rounded up so it is never early (0..900)."""
    if due_ms <= now_ms:
        return 0
    return min(MAX_DELAY_SECONDS, -(-(due_ms - now_ms) // 1000))


def minute_start(ms: int) -> int:
    return ms - ms % MINUTE_MS


def dispatch_minutes(watermark_ms: int | None, now_ms: int, max_back: int = 1440) -> list[int]:
    """The minutes a tick reads: from the watermark (a missed tick loses nothing) through
    the end of the next minute (a rule fires anywhere within its minute)."""
    current = minute_start(now_ms)
    first = current if watermark_ms is None else min(minute_start(watermark_ms), current)
    first = max(first, current - max_back * MINUTE_MS)
    return list(range(first, current + 2 * MINUTE_MS, MINUTE_MS))


def crossed_period(previous_ms: int, now_ms: int, period_minutes: int) -> bool:
    """Whether a period boundary (every `period_minutes`, counted from the epoch) lies in
    (previous, now]: a sweep that need not run every minute runs once per period."""
    period = period_minutes * MINUTE_MS
    return now_ms // period != previous_ms // period


def dispatch_horizon_ms(now_ms: int) -> int:
    """Slots due before this instant were (or will be) read by the latest tick; a slot
    written later than that tick for such a time must be dispatched by its writer."""
    return minute_start(now_ms) + 2 * MINUTE_MS


def next_caller_id(
    numbers: Sequence[str], current: str | None, rejected: Iterable[str]
) -> str | None:
    """API.md `phone_rotation`: a rejected number is replaced by the next one in the list
    (cyclically from it) that is not rejected; None when every number is rejected."""
    refused = set(rejected)
    if not numbers:
        return None
    start = numbers.index(current) if current in numbers else -1
    for step in range(1, len(numbers) + 1):
        candidate = numbers[(start + step) % len(numbers)]
        if candidate not in refused:
            return candidate
    return None


def usable_caller_id(
    numbers: Sequence[str], planned: str | None, rejected: Iterable[str]
) -> str | None:
    """The planned caller ID unless it is known to be rejected, else its replacement."""
    refused = set(rejected)
    if planned is not None and planned not in refused:
        return planned
    return next_caller_id(numbers, planned, refused)

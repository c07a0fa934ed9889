"""Delivery arithmetic: which calls get a free place first, send delays, dispatch windows.

Pure. Live calls are counted per campaign (`max_concurrent_calls`) and provider-wide;
a call that finds no free place waits, and freed places go to waiting calls in order:
higher campaign priority first, then earlier `scheduled_at`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MINUTE_MS = 60_000
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds
# Kept free before the allowed time ends and before the invocation's time runs out: no
# request to the provider may still be under way at either.
DIAL_MARGIN_SECONDS = 2.0
# A dial needs at least this long (one provider request and its answer).
MIN_DIAL_SECONDS = 3.0
# A dial the provider did not answer is tried again after 15 s, 30 s, 1 min... up to 5 min.
REDIAL_FIRST_SECONDS = 15
REDIAL_MAX_SECONDS = 300


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


def delay_seconds(due_ms: int, now_ms: int) -> int:
    """Whole seconds until the call is due, rounded up so it is never early (0..900)."""
    if due_ms <= now_ms:
        return 0
    return min(MAX_DELAY_SECONDS, -(-(due_ms - now_ms) // 1000))


def arrival_lag_ms(due_ms: int, now_ms: int) -> int:
    """How late a message sent now arrives for a call due at `due_ms`: its delay counts
    whole seconds, rounded up (0 for a call already due: it goes at once)."""
    if due_ms <= now_ms:
        return 0
    return delay_seconds(due_ms, now_ms) * 1000 - (due_ms - now_ms)


def paced_delay_seconds(due_ms: int, now_ms: int, overdue_before: int, rate: int) -> int:
    """The send delay of a claimed call: to its own second, or, for a call already due (a
    late tick, a catch-up), after the campaign's earlier overdue calls of this batch at
    `rate` a second, so a catch-up does not reach the caller in one burst."""
    if due_ms > now_ms:
        return delay_seconds(due_ms, now_ms)
    return min(MAX_DELAY_SECONDS, overdue_before // max(1, rate))


def dial_budget_seconds(allowed_until_ms: int, now_ms: int, invocation_left_ms: int) -> float:
    """How long a dial starting now may take, with its retries: until the allowed time
    ends and within the invocation's remaining time, each less a margin."""
    window = (allowed_until_ms - now_ms) / 1000 - DIAL_MARGIN_SECONDS
    invocation = invocation_left_ms / 1000 - DIAL_MARGIN_SECONDS
    return max(0.0, min(window, invocation))


def next_free_second(used: Mapping[int, int], first: int, rate: int) -> int:
    """The first second from `first` in which fewer than `rate` calls started."""
    second = first
    while used.get(second, 0) >= rate:
        second += 1
    return second


def redial_delay_seconds(redials: int) -> int:
    """The wait before dialling again a call the provider did not answer (`redials` made)."""
    return min(REDIAL_MAX_SECONDS, REDIAL_FIRST_SECONDS * 2 ** min(redials, 8))


def minute_start(ms: int) -> int:
    return ms - ms % MINUTE_MS


def first_watermark(now_ms: int) -> int:
    """The watermark of a dispatcher that has never ticked: the minute before the current
    one (a rule fires anywhere in its minute, so a slot written before a first tick is
    due no earlier than that). Whoever first writes a slot sets it (the planner), so a
    first tick that comes late, however late, still reads every minute since."""
    return minute_start(now_ms) - MINUTE_MS


def dispatch_minutes(watermark_ms: int, now_ms: int) -> list[int]:
    """The minutes a tick reads: from the watermark, however far back (missed ticks, even
    a dispatcher stopped for days, lose nothing), through the end of the next minute (a
    rule fires anywhere within its minute)."""
    current = minute_start(now_ms)
    first = min(minute_start(watermark_ms), current)
    return list(range(first, current + 2 * MINUTE_MS, MINUTE_MS))


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

"""The frequency limits (API.md "Frequency"): no number is called more than `limit` times
in any rolling 24 hours, across the tenant's campaigns. The limit is the tenant's
`max_calls_per_number_per_24h` and, with `state_rules`, the strictest calls-per-24-hours
of the recipient's states (e.g. Florida's 3); the smaller wins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DAY_MS = 86_400_000


def frequency_limit(tenant_cap: int | None, state_cap: int | None) -> int | None:
    """The limit that applies: the smaller of the two; None when neither is set."""
    caps = [cap for cap in (tenant_cap, state_cap) if cap is not None]
    return min(caps) if caps else None


@dataclass(frozen=True)
class FrequencyVerdict:
    allowed: bool
    calls_ms: list[int]  # the number's calls of the last 24 hours, with this one if allowed
    not_before_ms: int | None  # when held back: the earliest instant a call may start


def judge_call(calls_ms: Iterable[int], now_ms: int, limit: int | None) -> FrequencyVerdict:
    """May a call to the number start now, given the start times of its earlier calls?
    Held back, it may start once the oldest call that keeps it at the limit is 24 hours
    old."""
    recent: Sequence[int] = sorted(ms for ms in calls_ms if ms > now_ms - DAY_MS)
    if limit is None or len(recent) < limit:
        return FrequencyVerdict(True, [*recent, now_ms], None)
    # The (len - limit + 1)-th oldest must leave the window for one more call to fit.
    blocking = recent[len(recent) - limit]
    return FrequencyVerdict(False, list(recent), blocking + DAY_MS)

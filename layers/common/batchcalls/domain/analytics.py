"""Campaign analytics from counters (API.md "Analytics"): the duration histogram, the
answer rate, attempts per contact, and calls per local day and hour.

The counters are kept by the transactions that change what they count (see
`adapters/analytics_counters.py`); this module only turns them into figures.

- Durations (of completed attempts, as the provider reported them) go into a fixed
  histogram: `DURATION_EDGES` are the lower edges, bucket i holds [edge i, edge i+1), the
  last one everything from 3600 s. Each bucket keeps its count and the sum of its
  durations, so the mean is exact, and a percentile is the mean of the bucket holding
  that rank (nearest rank): exact when that bucket holds one value (all calls of 60 s give
  60), otherwise within the bucket's bounds.
- Calls placed and completed are counted per UTC quarter hour (every timezone's offset is
  a multiple of 15 minutes), calls planned per UTC minute (the campaign's bookings): both
  fall exactly into local days and hours of any timezone, read in the campaign's current
  one.

Pure: no AWS, no clock.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

OUTCOMES = ("completed", "no_answer", "busy", "failed", "unknown")
DURATION_EDGES: tuple[int, ...] = (
    *(0, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200),
    *(1800, 2700, 3600),
)
# Attempts per contact are counted up to this many (max_attempts is at most 5).
MAX_COUNTED_ATTEMPTS = 10
QUARTER_MINUTES = 15
_MINUTE_FORMAT = "%Y-%m-%dT%H:%M"


def duration_bucket(seconds: float) -> int:
    """The histogram bucket of a duration (a negative one counts as 0)."""
    return max(0, bisect.bisect_right(DURATION_EDGES, max(0.0, seconds)) - 1)


def quarter_of(instant_ms: int) -> str:
    """The UTC quarter hour an instant falls in: `2026-11-30T14:15`."""
    start = datetime.fromtimestamp(instant_ms // 1000, tz=UTC)
    start = start.replace(minute=start.minute - start.minute % QUARTER_MINUTES, second=0)
    return start.strftime(_MINUTE_FORMAT)


def _utc(minute: str) -> datetime:
    return datetime.strptime(minute, _MINUTE_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Durations:
    """mean, p50 and p95 in seconds (one decimal), None when no duration was counted."""

    mean: float | None
    p50: float | None
    p95: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"mean": self.mean, "p50": self.p50, "p95": self.p95}


def duration_summary(counts: list[int], sums: list[float]) -> Durations:
    """From the histogram's per-bucket counts and sums (see the module's note)."""
    total = sum(counts)
    if total <= 0:
        return Durations(None, None, None)

    def percentile(fraction: float) -> float:
        rank = max(1, math.ceil(fraction * total))
        seen = 0
        for count, summed in zip(counts, sums, strict=True):
            seen += count
            if count > 0 and seen >= rank:
                return round(summed / count, 1)
        raise AssertionError("the rank lies within the total")

    return Durations(round(sum(sums) / total, 1), percentile(0.5), percentile(0.95))


def answer_rate(by_outcome: Mapping[str, int]) -> float | None:
    """The fraction of ended attempts that were completed; None before any ended."""
    ended = sum(by_outcome.values())
    return None if ended <= 0 else round(by_outcome.get("completed", 0) / ended, 4)


def per_contact(counts: Mapping[int, int], max_attempts: int) -> dict[str, int]:
    """Contacts by the number of their latest ended attempt: `{"1": n, "2": n, ...}`, every
    number from 1 to `max_attempts` (and any higher one seen) present."""
    highest = max([max_attempts, *(n for n, c in counts.items() if c)])
    return {str(n): int(counts.get(n, 0)) for n in range(1, highest + 1)}


@dataclass
class Counters:
    """What the counters of one campaign hold (summed over their shards)."""

    by_outcome: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    latest_attempt: dict[int, int] = field(default_factory=dict)
    duration_counts: list[int] = field(default_factory=lambda: [0] * len(DURATION_EDGES))
    duration_sums: list[float] = field(default_factory=lambda: [0.0] * len(DURATION_EDGES))
    # UTC quarter hour -> (placed, completed)
    quarters: dict[str, list[int]] = field(default_factory=dict)


def per_day_and_hour(
    timezone: str, planned_minutes: Mapping[str, int], quarters: Mapping[str, Iterable[int]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`per_day` `[{date, planned, placed, completed}]` and `per_hour` `[{hour, planned,
    placed}]`, in time order, local to `timezone`, for every day and hour with any call.

    `planned_minutes`: calls planned (or made) per UTC minute; `quarters`: (placed,
    completed) per UTC quarter hour. An hour is labelled by its local start with its UTC
    offset (`2026-11-01T01:00:00-04:00`), a day by its local date."""
    zone = ZoneInfo(timezone)
    days: dict[date, list[int]] = {}
    hours: dict[datetime, list[int]] = {}  # keyed by the hour's UTC start

    def add(minute: str, planned: int, placed: int, completed: int) -> None:
        instant = _utc(minute)
        local = instant.astimezone(zone)
        day = days.setdefault(local.date(), [0, 0, 0])
        day[0] += planned
        day[1] += placed
        day[2] += completed
        # In absolute time: local wall-clock arithmetic loses which of two equal hours
        # (a fall-back night) it was.
        hour_start = instant - timedelta(minutes=local.minute)
        hour = hours.setdefault(hour_start, [0, 0])
        hour[0] += planned
        hour[1] += placed

    for minute, planned in planned_minutes.items():
        if planned:
            add(minute, int(planned), 0, 0)
    for quarter, counts in quarters.items():
        placed, completed = (int(n) for n in counts)
        if placed or completed:
            add(quarter, 0, placed, completed)
    per_day = [
        {"date": day.isoformat(), "planned": p, "placed": d, "completed": c}
        for day, (p, d, c) in sorted(days.items())
    ]
    per_hour = [
        {"hour": start.astimezone(zone).isoformat(), "planned": p, "placed": d}
        for start, (p, d) in sorted(hours.items())
    ]
    return per_day, per_hour

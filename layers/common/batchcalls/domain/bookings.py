"""Where one more call of a campaign fits, without reading the campaign's other contacts.

A retry (or a call whose window closed before it could be placed) must keep planning
rules 3 and 4 against every call the campaign already has: at most `max_calls_per_day`
per local day, at most `max_calls_per_second` per second, each call at its own tick.
Reading every open contact for that is exact but costs O(campaign) per retry.

Instead the campaign keeps *bookings*: how many of its calls are planned or made in each
UTC minute (kept by whoever writes or moves a slot, see `adapters/bookings.py`). From
them, `place_one` knows each local day's count and which minutes are full, and reads
the calls themselves (their slots) only for the minute the call lands in. Bookings may
count a call too many after a crash (they are raised before a slot is written and
lowered after it is gone), never one too few: a count that is off makes a call later,
never a cap broken.

Pure: the bookings and slots come through `BookingSource`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from batchcalls.domain.leases import MINUTE_MS, minute_start
from batchcalls.domain.planning import (
    Occupancy,
    PlanContact,
    PlannedCall,
    campaign_day,
    plan_contacts,
)
from batchcalls.domain.planning_windows import DailyWindow
from batchcalls.models.campaign import CampaignSettings

_MINUTE_FORMAT = "%Y-%m-%dT%H:%M"


def minute_of(instant_ms: int) -> str:
    """The UTC minute an instant falls in, as slots and bookings are keyed: 2026-11-30T14:05."""
    return datetime.fromtimestamp(instant_ms // MINUTE_MS * 60, tz=UTC).strftime(_MINUTE_FORMAT)


def day_minutes(settings: CampaignSettings, day: date) -> tuple[str, str]:
    """The first and last UTC minute of a campaign day (23, 24 or 25 hours long)."""
    window = DailyWindow.of(
        settings.start_time, settings.end_time, settings.working_days, settings.blackout_dates
    )
    first = window.day_start_ms(settings.timezone, day.toordinal())
    following = window.day_start_ms(settings.timezone, day.toordinal() + 1)
    return minute_of(first), minute_of(following - MINUTE_MS)


class BookingSource(Protocol):
    def booked_minutes(self, first: str, last: str) -> Mapping[str, int]:
        """Calls booked per minute from `first` to `last` (inclusive); absent minutes: 0."""
        ...

    def calls_in_minute(self, minute: str) -> Sequence[int]:
        """The due instants (ms) of the campaign's calls in one minute."""
        ...


@dataclass
class _Known:
    """What has been read so far: whole days of minute counts, and some minutes' calls."""

    settings: CampaignSettings
    source: BookingSource
    own_ms: int | None
    minutes: dict[str, int] = field(default_factory=dict)
    days: dict[date, int] = field(default_factory=dict)
    calls: list[int] = field(default_factory=list)
    read_minutes: set[str] = field(default_factory=set)

    def read_day(self, day: date) -> None:
        counts = dict(self.source.booked_minutes(*day_minutes(self.settings, day)))
        if self.own_ms is not None and campaign_day(self.settings, self.own_ms) == day:
            own = minute_of(self.own_ms)
            counts[own] = max(0, counts.get(own, 0) - 1)
        self.minutes.update(counts)
        self.days[day] = sum(counts.values())

    def read_minute(self, minute: str) -> None:
        # No booking, no slot: bookings go up before a slot is written.
        calls = list(self.source.calls_in_minute(minute)) if self.minutes.get(minute) else []
        if self.own_ms is not None and self.own_ms in calls:
            calls.remove(self.own_ms)
        self.calls.extend(calls)
        self.read_minutes.add(minute)

    def full(self, minute: str, per_minute: int) -> bool:
        return self.minutes.get(minute, 0) >= per_minute


def place_one(
    settings: CampaignSettings,
    start_ms: int,
    contact: PlanContact,
    source: BookingSource,
    own_ms: int | None = None,
) -> PlannedCall | None:
    """The earliest instant from `start_ms` that keeps planning rules 1-4 for one more call
    (asap), or None when there is none within the planning horizon.

    `own_ms`: the contact's own booked instant that this call replaces (a re-plan), left
    out of the counts; a retry gives None (the attempt that failed was a real call).

    Exactness: planning against a subset of the existing calls can only give an earlier
    or equal instant; the answer is accepted once its day's counts and its minute's calls
    are all known, so it is the instant a full read would give. A full minute (as many
    bookings as ticks) is skipped without reading its calls.
    """
    per_minute = 60 * settings.max_calls_per_second  # ticks in a minute
    known = _Known(settings, source, own_ms)
    start = start_ms
    while True:
        result = plan_contacts(
            settings,
            start,
            [contact],
            occupancy=Occupancy(tuple(known.calls), dict(known.days)),
            pacing="asap",
        )
        if not result.due_ms:
            return None
        due = result.due_ms[0]
        day = campaign_day(settings, due)
        if day not in known.days:
            known.read_day(day)
            continue
        minute = minute_of(due)
        if minute in known.read_minutes:
            return result.planned[0]
        if known.full(minute, per_minute):
            # Skip the run of full minutes: the next candidate lies after it.
            following = minute_start(due) + MINUTE_MS
            while known.full(minute_of(following), per_minute):
                following += MINUTE_MS
            start = following
            continue
        known.read_minute(minute)

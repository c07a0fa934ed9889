"""Allowed calling time as UTC intervals: daily windows, working days, blackouts, DST, guard.

Every local wall time is turned into an instant by one rule (`wall_to_ms`): the first
instant whose local wall time is at or after it. So a time that exists once is itself, a
repeated time (fall back) is its first occurrence, and a time that does not exist (spring
forward) is the instant the clocks jump: the skipped wall times are simply not in any
window. A window is then the real UTC interval between its start and its end, so the
repeated hour counts as real time like any other and a window over the gap is shorter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000
MINUTES_PER_DAY = 1440
# API.md `legal_hours_guard`: 08:00-21:00 local, every day, in every zone of the contact.
GUARD_START_MINUTE = 8 * 60
GUARD_END_MINUTE = 21 * 60

Interval = tuple[int, int]
"""A half-open UTC interval [start, end) in epoch milliseconds."""

# A contact's reach: the key its allowed time is worked out (and cached) by. Its IANA
# zones, then one `state:<USPS code>` for each US state whose calling rules apply to it
# (domain/state_rules), then, when its number's frequency limit holds it back at the
# plan's start, `after:<epoch ms>`: the instant before which it may not be called. A
# contact with neither is keyed by its zones alone.
STATE_MARK = "state:"
AFTER_MARK = "after:"
_MARKS = (STATE_MARK, AFTER_MARK)


def reach(
    zones: Iterable[str], states: Iterable[str], not_before_ms: int | None = None
) -> tuple[str, ...]:
    after = () if not_before_ms is None else (f"{AFTER_MARK}{not_before_ms}",)
    return (*zones, *(STATE_MARK + state for state in sorted(states)), *after)


def split_reach(key: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(zones, states) of a reach."""
    if not any(entry.startswith(_MARKS) for entry in key):
        return key, ()
    zones = tuple(e for e in key if not e.startswith(_MARKS))
    states = tuple(e[len(STATE_MARK) :] for e in key if e.startswith(STATE_MARK))
    return zones, states


def not_before_of(key: tuple[str, ...]) -> int | None:
    """The instant a reach may not be called before (its `after:` mark), if any."""
    if key and key[-1].startswith(AFTER_MARK):
        return int(key[-1][len(AFTER_MARK) :])
    return None


def without_after(key: tuple[str, ...]) -> tuple[str, ...]:
    """The reach without its `after:` mark."""
    return key[:-1] if not_before_of(key) is not None else key


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_minute(hhmm: str) -> int:
    """`HH:MM` as minutes since midnight; `24:00` is 1440."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@lru_cache(maxsize=1 << 16)
def wall_to_ms(zone_name: str, day_ordinal: int, minute: int) -> int:
    """The first instant (epoch ms) whose local wall time in the zone is at or after
    `minute` minutes past midnight of the local date `day_ordinal` (minute may be 1440)."""
    tz = zone(zone_name)
    day = date.fromordinal(day_ordinal)
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    first = int(naive.replace(tzinfo=tz, fold=0).timestamp())
    second = int(naive.replace(tzinfo=tz, fold=1).timestamp())
    if first <= second:
        # Unique (equal) or repeated (fold=0 is the earlier occurrence).
        return first * 1000
    # The wall time falls in a gap: `second` shows a wall time before it, `first` one
    # after it, and the jump lies between. Find the jump to the second.
    low, high = second, first
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high * 1000


def local_ordinal(zone_name: str, instant_ms: int) -> int:
    """The local calendar date (as an ordinal) on which the instant falls in the zone."""
    return datetime.fromtimestamp(instant_ms / 1000, zone(zone_name)).date().toordinal()


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """A daily window in minutes since local midnight and the dates it may start on."""

    start_minute: int
    end_minute: int  # 1440 means 24:00
    working_days: frozenset[int]  # ISO weekdays, 1=Mon..7=Sun
    blackout_ordinals: frozenset[int]

    @classmethod
    def of(
        cls, start_time: str, end_time: str, working_days: Iterable[int], blackouts: Iterable[date]
    ) -> DailyWindow:
        return cls(
            parse_minute(start_time),
            parse_minute(end_time),
            frozenset(working_days),
            frozenset(day.toordinal() for day in blackouts),
        )

    @property
    def day_start_minute(self) -> int:
        """Where a campaign day begins, in minutes past local midnight: midnight, or the
        window's start time when the window runs past midnight (or is a whole day from its
        start time), so that a window's calls all count for the day it starts on."""
        return self.start_minute if self.end_minute <= self.start_minute else 0

    def day_of(self, zone_name: str, instant_ms: int) -> int:
        """The campaign day (a local date ordinal) an instant counts for."""
        ordinal = local_ordinal(zone_name, instant_ms)
        if instant_ms < wall_to_ms(zone_name, ordinal, self.day_start_minute):
            return ordinal - 1
        return ordinal

    def day_start_ms(self, zone_name: str, day_ordinal: int) -> int:
        """The first instant of a campaign day."""
        return wall_to_ms(zone_name, day_ordinal, self.day_start_minute)

    def interval_starting_on(self, zone_name: str, day_ordinal: int) -> Interval | None:
        """The window that starts on that local date, or None when none starts there."""
        weekday = date.fromordinal(day_ordinal).isoweekday()
        if weekday not in self.working_days or day_ordinal in self.blackout_ordinals:
            return None
        start = wall_to_ms(zone_name, day_ordinal, self.start_minute)
        if self.end_minute == self.start_minute:
            # Equal means the whole day, from the start time to the same time next day.
            end = wall_to_ms(zone_name, day_ordinal + 1, self.start_minute)
        elif self.end_minute < self.start_minute:
            # Runs past midnight; it belongs to the day it starts on.
            end = wall_to_ms(zone_name, day_ordinal + 1, self.end_minute)
        else:
            end = wall_to_ms(zone_name, day_ordinal, self.end_minute)
        return (start, end) if start < end else None

    def intervals(self, zone_name: str, start_ms: int, end_ms: int) -> list[Interval]:
        """Every window of the zone that overlaps [start_ms, end_ms), in time order."""
        first = local_ordinal(zone_name, start_ms) - 1  # yesterday's window may run into today
        last = local_ordinal(zone_name, end_ms)
        found = []
        for ordinal in range(first, last + 1):
            window = self.interval_starting_on(zone_name, ordinal)
            if window is not None and window[1] > start_ms and window[0] < end_ms:
                found.append(window)
        return found

    def contains(self, zone_name: str, instant_ms: int) -> bool:
        ordinal = local_ordinal(zone_name, instant_ms)
        for day in (ordinal - 1, ordinal, ordinal + 1):
            window = self.interval_starting_on(zone_name, day)
            if window is not None and window[0] <= instant_ms < window[1]:
                return True
        return False


GUARD = DailyWindow(GUARD_START_MINUTE, GUARD_END_MINUTE, frozenset(range(1, 8)), frozenset())


def intersect(first: Sequence[Interval], second: Sequence[Interval]) -> list[Interval]:
    """The intersection of two sorted lists of disjoint intervals."""
    i = j = 0
    out: list[Interval] = []
    while i < len(first) and j < len(second):
        start = max(first[i][0], second[j][0])
        end = min(first[i][1], second[j][1])
        if start < end:
            out.append((start, end))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return out


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, with touching intervals joined."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


@dataclass(frozen=True, slots=True)
class AllowedTime:
    """Everything rule 1 depends on, for one campaign."""

    campaign_zone: str
    window: DailyWindow
    respect_contact_timezone: bool
    legal_hours_guard: bool

    def window_zones(self, timezones: tuple[str, ...]) -> tuple[str, ...]:
        return timezones if self.respect_contact_timezone else (self.campaign_zone,)

    def intervals(self, key: tuple[str, ...], start_ms: int, end_ms: int) -> list[Interval]:
        """The allowed time of a contact of this reach (its zones, and the states whose
        rules apply: `reach`) within [start_ms, end_ms), as sorted disjoint intervals."""
        timezones, states = split_reach(key)
        not_before = not_before_of(key)
        if not_before is not None:
            start_ms = max(start_ms, not_before)
            if start_ms >= end_ms:
                return []
        allowed: list[Interval] = [(start_ms, end_ms)]
        for zone_name in dict.fromkeys(self.window_zones(timezones)):
            allowed = intersect(allowed, merge(self.window.intervals(zone_name, start_ms, end_ms)))
        if self.legal_hours_guard:
            for zone_name in dict.fromkeys(timezones):
                allowed = intersect(allowed, GUARD.intervals(zone_name, start_ms, end_ms))
        if states:
            from batchcalls.domain import state_rules  # it builds on this module

            for zone_name in dict.fromkeys(timezones):
                rules = state_rules.allowed_intervals(states, zone_name, start_ms, end_ms)
                allowed = intersect(allowed, rules)
        return allowed

    def contains(self, key: tuple[str, ...], instant_ms: int) -> bool:
        timezones, states = split_reach(key)
        not_before = not_before_of(key)
        if not_before is not None and instant_ms < not_before:
            return False
        if not all(self.window.contains(z, instant_ms) for z in self.window_zones(timezones)):
            return False
        if self.legal_hours_guard and not all(GUARD.contains(z, instant_ms) for z in timezones):
            return False
        if states:
            from batchcalls.domain import state_rules

            return all(state_rules.is_allowed_at(states, z, instant_ms) for z in timezones)
        return True

"""A straightforward planner to measure the real one against: one contact at a time,
walking candidate instants as datetimes. asap pacing only; same rules, same tick grid
(`max_calls_per_second` ticks per second at k * (1000 // rate) ms), same DST reading (a
local time is the first instant whose wall time is at or after it).

For each contact it starts from where the last contact of the same timezones stopped
and moves forward: to the next minute while the instant is outside the allowed window
(every window edge is on a whole minute), to the next local midnight while the day is
full, to the next tick while the tick is taken. Only the window instants of a (zone,
date) are memoised, since recomputing them for every candidate would make the
comparison meaningless rather than fair.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from batchcalls.models.campaign import CampaignSettings

HORIZON_DAYS = 400


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=100_000)
def _first_instant(zone_name: str, day: date, minute: int) -> datetime:
    zone = _zone(zone_name)
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    real = [
        aware.astimezone(UTC)
        for aware in (naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1))
        if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive
    ]
    if real:
        return min(real)
    instant = min(naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    while instant.astimezone(zone).replace(tzinfo=None) < naive:
        instant += timedelta(minutes=1)
    return instant


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class BaselinePlanner:
    def __init__(self, settings: CampaignSettings, start: datetime) -> None:
        self.settings = settings
        self.start = start.astimezone(UTC)
        self.horizon_end = self.start + timedelta(days=HORIZON_DAYS)
        self.rate = settings.max_calls_per_second
        self.spacing = 1000 // self.rate
        self.start_minute = _minutes(settings.start_time)
        self.end_minute = _minutes(settings.end_time)
        self.used: set[int] = set()
        self.per_day: dict[date, int] = defaultdict(int)
        self.cursor: dict[tuple[str, ...], datetime] = {}

    def _window(self, zone_name: str, day: date) -> tuple[datetime, datetime] | None:
        s = self.settings
        if day.isoweekday() not in s.working_days or day in s.blackout_dates:
            return None
        opens = _first_instant(zone_name, day, self.start_minute)
        if self.end_minute == self.start_minute:
            closes = _first_instant(zone_name, day + timedelta(days=1), self.start_minute)
        elif self.end_minute < self.start_minute:
            closes = _first_instant(zone_name, day + timedelta(days=1), self.end_minute)
        else:
            closes = _first_instant(zone_name, day, self.end_minute)
        return (opens, closes) if opens < closes else None

    def allowed(self, timezones: tuple[str, ...], instant: datetime) -> bool:
        s = self.settings
        zones = timezones if s.respect_contact_timezone else (s.timezone,)
        for zone_name in zones:
            today = instant.astimezone(_zone(zone_name)).date()
            if not any(
                (w := self._window(zone_name, today + timedelta(days=shift))) is not None
                and w[0] <= instant < w[1]
                for shift in (-1, 0, 1)
            ):
                return False
        if s.legal_hours_guard:
            for zone_name in timezones:
                today = instant.astimezone(_zone(zone_name)).date()
                opens = _first_instant(zone_name, today, 8 * 60)
                closes = _first_instant(zone_name, today, 21 * 60)
                if not opens <= instant < closes:
                    return False
        return True

    def _next_tick(self, instant: datetime) -> datetime:
        """The first tick strictly after the instant's tick (instants here are ticks)."""
        ms = instant.microsecond // 1000
        k = ms // self.spacing + 1
        whole = instant.replace(microsecond=0)
        if k >= self.rate:
            return whole + timedelta(seconds=1)
        return whole + timedelta(milliseconds=k * self.spacing)

    def _first_tick_at_or_after(self, instant: datetime) -> datetime:
        whole = instant.replace(microsecond=0)
        ms = instant.microsecond / 1000
        k = int(-(-ms // self.spacing))
        if k >= self.rate:
            return whole + timedelta(seconds=1)
        return whole + timedelta(milliseconds=k * self.spacing)

    def plan_one(self, timezones: tuple[str, ...]) -> int | str:
        """The due instant (epoch ms) of the next contact, or the reason it has none."""
        s = self.settings
        campaign_zone = _zone(s.timezone)
        candidate = self.cursor.get(timezones, self._first_tick_at_or_after(self.start))
        ever_allowed = timezones in self.cursor
        while candidate < self.horizon_end:
            if not self.allowed(timezones, candidate):
                next_minute = candidate.replace(second=0, microsecond=0) + timedelta(minutes=1)
                candidate = next_minute
                continue
            ever_allowed = True
            day = candidate.astimezone(campaign_zone).date()
            if s.max_calls_per_day is not None and self.per_day[day] >= s.max_calls_per_day:
                midnight = _first_instant(s.timezone, day + timedelta(days=1), 0)
                if midnight > candidate:
                    candidate = midnight
                else:  # an odd midnight (DST at 00:00): walk on by the minute
                    candidate = candidate.replace(second=0, microsecond=0) + timedelta(minutes=1)
                continue
            ms = int(candidate.timestamp() * 1000 + 0.5)
            if ms in self.used:
                candidate = self._next_tick(candidate)
                continue
            self.used.add(ms)
            self.per_day[day] += 1
            self.cursor[timezones] = self._next_tick(candidate)
            return ms
        self.cursor[timezones] = candidate
        return "beyond_horizon" if ever_allowed else "no_allowed_window"


def plan_baseline(
    settings: CampaignSettings, start: datetime, contacts
) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    planner = BaselinePlanner(settings, start)
    planned: list[tuple[str, int]] = []
    unplaceable: list[tuple[str, str]] = []
    for contact in contacts:
        outcome = planner.plan_one(tuple(contact.timezones))
        if isinstance(outcome, int):
            planned.append((contact.contact_id, outcome))
        else:
            unplaceable.append((contact.contact_id, outcome))
    return planned, unplaceable

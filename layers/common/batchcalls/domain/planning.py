"""Plans when each contact of a campaign is called: a due instant and a caller id per contact.

Pure: no AWS, no environment, no clock (the start instant is an input). It implements
API.md "Planning rules" 1-7:

1. Allowed time. A call lies in the daily window (`start_time`..`end_time`, half-open,
   on a working day that is not a blackout date, both judged on the local date the
   window *starts* on, in the zone the window is read in) of the campaign's timezone, or
   with `respect_contact_timezone` of every timezone of the contact; with
   `legal_hours_guard` also within 08:00-21:00 in every timezone of the contact. Local
   wall times become instants as `planning_windows` explains (DST gaps skipped, the
   repeated hour counted as real time, a repeated wall time read as its first
   occurrence).
2. Not before `start`.
3. At most `max_calls_per_day` calls per campaign day, counting existing calls given as
   `Occupancy`. A campaign day is a local date of the campaign's timezone; when the
   daily window runs past midnight (or is a whole day from its start time) a day begins
   at the window's start time instead of midnight, so a window's calls all count for the
   day it starts on (`campaign_day`).
4. At most `max_calls_per_second` (r) calls in any UTC second, each at its own
   millisecond: every second has r "ticks", at offsets k * (1000 // r) ms, k = 0..r-1;
   a call takes one free tick. Ticks are numbered globally (tick = second * r + k), so
   all the work below is integer arithmetic on tick numbers.
5. Days fill in order, and 7. pacing:
   - `asap`: contacts, in the order given, each take the earliest free tick that is
     allowed for them, in a day that is not full. Earlier days fill first as a result.
   - `spread`: the calls of a day are spaced evenly over that day's allowed time. When
     a day is first used it gets a quota n = min(calls the cap still allows that day,
     contacts still to plan); the j-th new call of the day (j = 0..n-1) aims at the point
     (j + 1/2) / n of the way through its own contact's allowed time that day (measured
     in allowed time only, so gaps, DST and the guard do not bunch calls). With several
     timezone groups, each group is thus spread over its own window while the day's calls
     keep their order. If the aimed tick is taken, the call takes the next free allowed
     tick after it that day, else the nearest free one before it; only when the contact
     has no free allowed tick left that day does it go to the next day. A day is closed
     when its quota is reached. To spread chunked plans exactly as one plan, give
     `total` (contacts in the whole plan) with the first chunk.
6. A contact is never dropped: it is planned, or reported unplaceable with reason
   `no_allowed_window` (its allowed time is empty within the horizon, e.g. its zones'
   windows never meet) or `beyond_horizon` (it has allowed time, but the capacity in it
   is used up within the horizon).

Horizon: planning looks `HORIZON_DAYS` (400) days past the start, a little over a year,
so yearly blackout lists and any working-day pattern are covered; a campaign that needs
more days than that (e.g. a small daily cap) gets `beyond_horizon` for the rest and can be
planned again later from a later start.

Speed: contacts are grouped by their timezone tuple; each group's allowed time is
computed once (and cached) as tick intervals tagged with their campaign day. Used ticks
are kept as a sorted list of merged runs; an asap group walks a frontier forward and
takes whole free stretches at once for consecutive contacts of the same group, so a
million contacts of one zone cost a few hundred list operations plus building the
output. The result is columnar (`contact_ids`, `due_ms`, `caller_ids`), with
`planned` building `PlannedCall` objects on demand.

Chunks: `PlanResult.state` (a `PlannerState`, JSON via `to_json`/`from_json`) holds the
day counts, the used tick runs still relevant, the rotation offset and, for spread, the
day quotas. Planning contacts in chunks, each given the previous chunk's state, gives
exactly the same plan as planning them in one call. Per-group frontiers are not stored:
they are recomputed from the used runs and day counts, which is cheap and exact. Runs in
days that can take no more calls are dropped, so an asap state stays a few hundred bytes;
a spread state carries one run per call of the day being filled (about 3 bytes each).

Use:
- fresh plan: `plan_contacts(settings, start, contacts)`;
- chunk k+1: `plan_contacts(settings, start, chunk, PlannerState.from_json(saved))`, the
  same `start` every time (and `total=` with the first chunk for spread);
- re-plan: `plan_contacts(settings, now, pending, occupancy=Occupancy.from_calls(...),
  rotation_offset=...)`;
- a retry: `plan_contacts(settings, attempt_end + delay, [contact], occupancy=...,
  pacing="asap", rotation_offset=...)`;
- at dial time: `is_allowed(settings, timezones, now_ms)`.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Literal, NamedTuple, Protocol

from batchcalls.domain import state_rules
from batchcalls.domain.holiday_calendars import holiday_dates, years_around
from batchcalls.domain.phones import effective_timezones
from batchcalls.domain.planning_state import PlannerState
from batchcalls.domain.planning_windows import (
    DAY_MS,
    GUARD,
    AllowedTime,
    DailyWindow,
    not_before_of,
    reach,
    split_reach,
    without_after,
)
from batchcalls.domain.state_rules import states_with_rules
from batchcalls.models.campaign import CampaignSettings, Pacing

__all__ = [
    "HORIZON_DAYS",
    "ContactLike",
    "Occupancy",
    "PlanContact",
    "PlanResult",
    "PlanSummary",
    "PlannedCall",
    "PlannerState",
    "Unplaceable",
    "UnplaceableReason",
    "allowed_until",
    "campaign_day",
    "contact_reach",
    "delay_reason",
    "is_allowed",
    "plan_contacts",
    "summarise",
]

HORIZON_DAYS = 400
_NO_CAP = 1 << 62
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

UnplaceableReason = Literal["no_allowed_window", "beyond_horizon", "suppressed"]


class ContactLike(Protocol):
    """What the planner reads of a contact."""

    @property
    def contact_id(self) -> str: ...

    @property
    def timezones(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class PlanContact:
    """A contact as the planner sees it: its id and its (non-empty) timezones."""

    contact_id: str
    timezones: tuple[str, ...]


class PlannedCall(NamedTuple):
    """One planned call (a named tuple: a million of them build several times faster
    than frozen dataclasses)."""

    contact_id: str
    due_ms: int  # epoch milliseconds, UTC
    caller_id: str | None


@dataclass(frozen=True, slots=True)
class Unplaceable:
    contact_id: str
    reason: UnplaceableReason


@dataclass(frozen=True, slots=True)
class Occupancy:
    """Calls that already exist and count against the caps (e.g. queued, in progress and
    finished calls when re-planning, or every known call around a retry).

    - `calls_ms`: the instants of existing calls; each takes one place in its second (and
      its exact millisecond is never handed out again). Calls before the start's second
      do not matter here and may be left out.
    - `day_counts`: existing calls per local date of the campaign's timezone, counted
      towards `max_calls_per_day`. Independent of `calls_ms`: give the full count of each
      day, whether or not its calls are also listed in `calls_ms`.
      `Occupancy.from_calls` derives both from a list of instants.

    Occupancy is added to the state it is planned with: give each existing call once
    over a chain of chunks (normally with the first chunk).
    """

    calls_ms: Sequence[int] = ()
    day_counts: Mapping[date, int] = field(default_factory=dict)

    @classmethod
    def from_calls(
        cls,
        settings: CampaignSettings,
        calls_ms: Sequence[int],
        extra_day_counts: Mapping[date, int] | None = None,
    ) -> Occupancy:
        """Both counts from the instants of existing calls (plus calls known only by day)."""
        days: dict[date, int] = dict(extra_day_counts or {})
        for instant in calls_ms:
            day = campaign_day(settings, instant)
            days[day] = days.get(day, 0) + 1
        return cls(tuple(calls_ms), days)


@dataclass(frozen=True)
class PlanResult:
    """The plan of a list of contacts, in their order. Columnar for speed: position i of
    `contact_ids`, `due_ms` and `caller_ids` is one planned call."""

    contact_ids: list[str]
    due_ms: list[int]
    caller_ids: list[str | None]
    unplaceable: list[Unplaceable]
    state: PlannerState
    # Planned contacts whose calling a rule delayed past the plan's start: the rule (see
    # `delay_reason`), by contact id. The others are absent.
    reasons: dict[str, str] = field(default_factory=dict)

    @cached_property
    def planned(self) -> list[PlannedCall]:
        columns = zip(self.contact_ids, self.due_ms, self.caller_ids, strict=True)
        return list(map(PlannedCall._make, columns))


# --- the frame: everything about a plan that does not depend on its contacts ---------


@dataclass(frozen=True, eq=False)
class _Frame:
    key: str
    allowed: AllowedTime
    rate: int
    spacing: int
    cap: int
    spread: bool
    start_ms: int
    end_ms: int
    start_tick: int
    end_tick: int
    day0: int  # ordinal of the start's campaign day
    day_ms: tuple[int, ...]  # day_ms[i]: first instant of campaign day i (len = days + 1)
    day_ticks: tuple[int, ...]

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Frame) and other.key == self.key

    def ceil_tick(self, ms: int) -> int:
        """The first tick at or after the instant."""
        second, rest = divmod(ms, 1000)
        k = -(-rest // self.spacing)
        if k >= self.rate:
            return (second + 1) * self.rate
        return second * self.rate + k

    def tick_ms(self, tick: int) -> int:
        second, k = divmod(tick, self.rate)
        return second * 1000 + k * self.spacing


def daily_window(settings: CampaignSettings, first_ms: int, last_ms: int) -> DailyWindow:
    """The campaign's daily window for a stretch of time: its hours and working days, and
    no window on its blackout dates nor on the public holidays of its `holiday_calendars`
    in the years the stretch touches."""
    blackouts = set(settings.blackout_dates)
    if settings.holiday_calendars:
        blackouts |= holiday_dates(settings.holiday_calendars, years_around(first_ms, last_ms))
    return DailyWindow.of(settings.start_time, settings.end_time, settings.working_days, blackouts)


def _frame(settings: CampaignSettings, start_ms: int, pacing: Pacing, horizon_days: int) -> _Frame:
    window = daily_window(settings, start_ms, start_ms + horizon_days * DAY_MS)
    parts = (
        settings.timezone,
        window.start_minute,
        window.end_minute,
        sorted(window.working_days),
        sorted(window.blackout_ordinals),
        settings.respect_contact_timezone,
        settings.legal_hours_guard,
        settings.max_calls_per_day,
        settings.max_calls_per_second,
        pacing,
        start_ms,
        horizon_days,
    )
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]
    allowed = AllowedTime(
        settings.timezone, window, settings.respect_contact_timezone, settings.legal_hours_guard
    )
    cap = settings.max_calls_per_day or _NO_CAP
    return _frame_for_key(
        key, allowed, settings.max_calls_per_second, cap, pacing, start_ms, horizon_days
    )


@lru_cache(maxsize=64)
def _frame_for_key(
    key: str,
    allowed: AllowedTime,
    rate: int,
    cap: int,
    pacing: Pacing,
    start_ms: int,
    horizon_days: int,
) -> _Frame:
    campaign_zone = allowed.campaign_zone
    end_ms = start_ms + horizon_days * DAY_MS
    day0 = allowed.window.day_of(campaign_zone, start_ms)
    last = allowed.window.day_of(campaign_zone, end_ms) + 1
    day_ms = [allowed.window.day_start_ms(campaign_zone, d) for d in range(day0, last + 1)]
    day_ms[0] = min(day_ms[0], start_ms)
    frame = _Frame(
        key=key,
        allowed=allowed,
        rate=rate,
        spacing=1000 // rate,
        cap=cap,
        spread=pacing == "spread",
        start_ms=start_ms,
        end_ms=end_ms,
        start_tick=0,
        end_tick=0,
        day0=day0,
        day_ms=tuple(day_ms),
        day_ticks=(),
    )
    # Tick numbers need the rate, so they are filled in once the frame can compute them.
    object.__setattr__(frame, "start_tick", frame.ceil_tick(start_ms))
    object.__setattr__(frame, "end_tick", frame.ceil_tick(end_ms))
    object.__setattr__(frame, "day_ticks", tuple(frame.ceil_tick(ms) for ms in day_ms))
    return frame


@dataclass(frozen=True, eq=False)
class _Group:
    """The allowed time of one timezone tuple, as tick intervals within campaign days."""

    starts: list[int]
    ends: list[int]
    days: list[int]  # campaign day index of each interval
    first_ms: int | None  # the first allowed instant (not rounded to a tick), if any
    # For spread: the distinct days, and per day its interval index range.
    day_list: list[int]
    day_first: list[int]
    day_stop: list[int]
    cum: list[int]  # cum[k]: allowed ticks in intervals before k


@lru_cache(maxsize=512)
def _group(frame: _Frame, timezones: tuple[str, ...]) -> _Group:
    starts: list[int] = []
    ends: list[int] = []
    days: list[int] = []
    first_ms: int | None = None
    day_ms = frame.day_ms
    for start, end in frame.allowed.intervals(timezones, frame.start_ms, frame.end_ms):
        if first_ms is None and frame.ceil_tick(start) < frame.ceil_tick(end):
            first_ms = start
        day = bisect_right(day_ms, start) - 1
        while start < end:
            # Split at the campaign's midnights: the daily cap is per campaign day.
            cut = min(end, day_ms[day + 1])
            first, stop = frame.ceil_tick(start), frame.ceil_tick(cut)
            if first < stop:
                starts.append(first)
                ends.append(stop)
                days.append(day)
            start = cut
            day += 1
    day_list: list[int] = []
    day_first: list[int] = []
    day_stop: list[int] = []
    for k, day in enumerate(days):
        if not day_list or day_list[-1] != day:
            day_list.append(day)
            day_first.append(k)
            day_stop.append(k)
        day_stop[-1] = k + 1
    cum = [0]
    for first, stop in zip(starts, ends, strict=True):
        cum.append(cum[-1] + stop - first)
    return _Group(starts, ends, days, first_ms, day_list, day_first, day_stop, cum)


# --- the engine: used ticks, day counts, and the two pacings ---------------------------


class _Engine:
    def __init__(self, frame: _Frame, state: PlannerState | None) -> None:
        self.frame = frame
        n_days = len(frame.day_ticks) - 1
        self.day_counts = [0] * n_days
        self.closed = bytearray(n_days)  # spread: day reached its quota
        self.quotas: dict[int, list[int]] = {}  # spread: day -> [quota, placed]
        self.remaining = 0
        # Used ticks as sorted, disjoint, non-touching runs [run_starts[i], run_ends[i]).
        self.run_starts: list[int] = []
        self.run_ends: list[int] = []
        if state is not None:
            if state.key != frame.key:
                raise ValueError(
                    "planner state belongs to another plan (settings, start, pacing or "
                    "horizon differ): start a fresh plan instead"
                )
            for i, count in enumerate(state.day_counts[:n_days]):
                self.day_counts[i] = count
            self.run_starts = list(state.used_runs[0::2])
            self.run_ends = list(state.used_runs[1::2])
            self.remaining = state.remaining
            for day, quota, placed in state.quotas:
                self.quotas[day] = [quota, placed]
            for day in state.closed_days:
                self.closed[day] = 1

    # used ticks

    def is_used(self, tick: int) -> bool:
        j = bisect_right(self.run_starts, tick) - 1
        return j >= 0 and self.run_ends[j] > tick

    def mark(self, first: int, stop: int) -> None:
        """Mark the free ticks [first, stop) used, merging with touching runs."""
        starts, ends = self.run_starts, self.run_ends
        j = bisect_right(starts, first) - 1
        if j >= 0 and ends[j] == first:
            ends[j] = stop
        else:
            j += 1
            starts.insert(j, first)
            ends.insert(j, stop)
        if j + 1 < len(starts) and starts[j + 1] == stop:
            ends[j] = ends[j + 1]
            del starts[j + 1]
            del ends[j + 1]

    def add_occupancy(self, occupancy: Occupancy) -> None:
        frame = self.frame
        rate, spacing = frame.rate, frame.spacing
        by_second: dict[int, list[int]] = defaultdict(list)
        for instant in occupancy.calls_ms:
            second = instant // 1000
            if (second + 1) * rate > frame.start_tick and second * rate < frame.end_tick:
                by_second[second].append(instant)
        for second, instants in by_second.items():
            base = second * rate
            others = 0
            for instant in instants:
                offset = instant - second * 1000
                tick = base + offset // spacing
                if offset % spacing == 0 and offset // spacing < rate and not self.is_used(tick):
                    self.mark(tick, tick + 1)  # exactly on a tick: that tick is taken
                else:
                    others += 1
            # A call between ticks still takes a place in its second: block the latest
            # free ticks, keeping the earliest ones for asap.
            tick = base + rate - 1
            while others and tick >= base:
                if not self.is_used(tick):
                    self.mark(tick, tick + 1)
                    others -= 1
                tick -= 1
        for day, count in occupancy.day_counts.items():
            index = (day if isinstance(day, date) else date.fromisoformat(day)).toordinal()
            index -= frame.day0
            if 0 <= index < len(self.day_counts):
                self.day_counts[index] += count

    # asap

    def plan_asap(
        self,
        runs: Iterable[tuple[tuple[str, ...], int]],
        due_out: list[int],
        unplaced_out: list[tuple[int, int, UnplaceableReason]],
    ) -> None:
        """Place runs of consecutive contacts of one timezone tuple each. Appends due
        instants to `due_out` and (first index, count, reason) to `unplaced_out`.

        This loop is the hot path (once per run, i.e. per contact when zones alternate),
        hence the local names and the inlined run bookkeeping."""
        frame = self.frame
        cap = frame.cap
        rate, spacing = frame.rate, frame.spacing
        even = rate * spacing == 1000  # then a tick's instant is simply tick * spacing
        day_counts = self.day_counts
        starts, ends = self.run_starts, self.run_ends
        append, extend = due_out.append, due_out.extend
        # Per timezone tuple: [starts, ends, days, interval count, interval k, frontier tick]
        groups: dict[tuple[str, ...], list] = {}
        index = 0
        for timezones, count in runs:
            record = groups.get(timezones)
            if record is None:
                group = _group(frame, timezones)
                first_tick = group.starts[0] if group.starts else 0
                record = [group.starts, group.ends, group.days, len(group.starts), 0, first_tick]
                groups[timezones] = record
            g_starts, g_ends, g_days, n_intervals, k, tick = record
            if not n_intervals:
                unplaced_out.append((index, count, "no_allowed_window"))
                index += count
                continue
            need = count
            while need:
                if k >= n_intervals:
                    unplaced_out.append((index + count - need, need, "beyond_horizon"))
                    break
                end = g_ends[k]
                day = g_days[k]
                if tick >= end or day_counts[day] >= cap:
                    k += 1
                    if k < n_intervals and g_starts[k] > tick:
                        tick = g_starts[k]
                    continue
                j = bisect_right(starts, tick) - 1
                if j >= 0 and ends[j] > tick:
                    tick = ends[j]  # runs never touch, so the run's end is free
                    if tick >= end:
                        continue
                # [tick, free_end) is free and allowed: take as much as needed and fits.
                free_end = starts[j + 1] if j + 1 < len(starts) and starts[j + 1] < end else end
                taken = need
                if free_end - tick < taken:
                    taken = free_end - tick
                if cap - day_counts[day] < taken:
                    taken = cap - day_counts[day]
                stop = tick + taken
                if j >= 0 and ends[j] == tick:
                    ends[j] = stop
                else:
                    j += 1
                    starts.insert(j, tick)
                    ends.insert(j, stop)
                if j + 1 < len(starts) and starts[j + 1] == stop:
                    ends[j] = ends[j + 1]
                    del starts[j + 1]
                    del ends[j + 1]
                day_counts[day] += taken
                if not even:
                    extend((t // rate) * 1000 + (t % rate) * spacing for t in range(tick, stop))
                elif taken == 1:
                    append(tick * spacing)
                else:
                    extend(range(tick * spacing, stop * spacing, spacing))
                tick = stop
                need -= taken
            record[4] = k
            record[5] = tick
            index += count

    # spread

    def plan_spread(
        self,
        timezone_list: list[tuple[str, ...]],
        due_out: list[int],
        unplaced_out: list[tuple[int, int, UnplaceableReason]],
    ) -> None:
        frame = self.frame
        cap = frame.cap
        day_counts, closed, quotas = self.day_counts, self.closed, self.quotas
        pointer: dict[tuple[str, ...], int] = {}
        for index, timezones in enumerate(timezone_list):
            group = _group(frame, timezones)
            if not group.starts:
                unplaced_out.append((index, 1, "no_allowed_window"))
                self.remaining -= 1
                continue
            p = pointer.get(timezones, 0)
            placed = -1
            while p < len(group.day_list):
                day = group.day_list[p]
                if closed[day] or day_counts[day] >= cap:
                    p += 1
                    continue
                quota = quotas.get(day)
                if quota is None:
                    quota = quotas[day] = [min(cap - day_counts[day], self.remaining), 0]
                first, stop = group.day_first[p], group.day_stop[p]
                length = group.cum[stop] - group.cum[first]
                aim = group.cum[first] + (2 * quota[1] + 1) * length // (2 * quota[0])
                k = bisect_right(group.cum, aim, first, stop) - 1
                placed = self._free_near(
                    group, first, stop, k, group.starts[k] + aim - group.cum[k]
                )
                if placed < 0:
                    p += 1  # no free allowed tick left for this group on this day
                    continue
                self.mark(placed, placed + 1)
                quota[1] += 1
                day_counts[day] += 1
                if quota[1] >= quota[0]:
                    closed[day] = 1
                    del quotas[day]
                break
            pointer[timezones] = p
            self.remaining -= 1
            if placed < 0:
                unplaced_out.append((index, 1, "beyond_horizon"))
            else:
                due_out.append(frame.tick_ms(placed))

    def _free_near(self, group: _Group, first: int, stop: int, k: int, aim: int) -> int:
        """The first free tick at or after `aim` in intervals k..stop-1, else the last free
        tick before it in intervals first..k, else -1."""
        starts, ends = self.run_starts, self.run_ends
        g_starts, g_ends = group.starts, group.ends
        tick, i = aim, k
        while i < stop:
            tick = max(tick, g_starts[i])
            j = bisect_right(starts, tick) - 1
            if j >= 0 and ends[j] > tick:
                tick = ends[j]
            if tick < g_ends[i]:
                return tick
            i += 1
        tick, i = aim - 1, k
        while i >= first:
            tick = min(tick, g_ends[i] - 1)
            if tick >= g_starts[i]:
                j = bisect_right(starts, tick) - 1
                if j >= 0 and ends[j] > tick:
                    tick = starts[j] - 1
                if tick >= g_starts[i]:
                    return tick
            i -= 1
        return -1

    # state

    def export(self, rotation_offset: int) -> PlannerState:
        frame = self.frame
        # Runs inside days that can take no more calls can never matter again: drop them.
        done = [
            (frame.day_ticks[d], frame.day_ticks[d + 1])
            for d, count in enumerate(self.day_counts)
            if count >= frame.cap or self.closed[d]
        ]
        runs: list[int] = []
        i = 0
        for start, end in zip(self.run_starts, self.run_ends, strict=True):
            while i < len(done) and done[i][1] <= start:
                i += 1
            j = i
            while start < end:
                if j < len(done) and done[j][0] < end:
                    if done[j][0] > start:
                        runs += (start, done[j][0])
                    start = max(start, done[j][1])
                    j += 1
                else:
                    runs += (start, end)
                    break
        if runs:
            # Touching pieces after cutting stay separate runs; join them again.
            joined = [runs[0], runs[1]]
            for a, b in zip(runs[2::2], runs[3::2], strict=True):
                if a == joined[-1]:
                    joined[-1] = b
                else:
                    joined += (a, b)
            runs = joined
        return PlannerState(
            key=frame.key,
            rotation_offset=rotation_offset,
            day_counts=tuple(self.day_counts),
            used_runs=tuple(runs),
            remaining=self.remaining if frame.spread else 0,
            quotas=tuple((d, q[0], q[1]) for d, q in sorted(self.quotas.items())),
            closed_days=tuple(d for d, c in enumerate(self.closed) if c),
        )


# --- public API -------------------------------------------------------------------------


def _epoch_ms(instant: datetime | int) -> int:
    if isinstance(instant, datetime):
        if instant.tzinfo is None:
            raise ValueError("the start instant must be timezone-aware")
        return (instant - _EPOCH) // timedelta(milliseconds=1)
    return int(instant)


def _caller_ids(
    settings: CampaignSettings, contact_ids: list[str], offset: int
) -> tuple[list[str | None], int]:
    numbers = list(settings.phone_numbers)
    count = len(contact_ids)
    if not numbers:
        return [None] * count, offset
    if settings.phone_rotation == "sequential":
        return [numbers[0]] * count, offset
    if settings.phone_rotation == "random":
        # Uniform over the numbers, but a pure function of the contact id, so the same
        # contact gets the same number however often or in whatever chunk it is planned.
        size = len(numbers)
        return [
            numbers[
                int.from_bytes(
                    hashlib.blake2b(c.encode(), digest_size=8, person=b"caller-id").digest(),
                    "big",
                )
                % size
            ]
            for c in contact_ids
        ], offset
    # round_robin: continue where the previous chunk or plan stopped.
    start = offset % len(numbers)
    rotated: list[str | None] = [*numbers[start:], *numbers[:start]]
    return (rotated * (count // len(numbers) + 1))[:count], offset + count


def _zone_tuples(contacts: Sequence[ContactLike]) -> list[tuple[str, ...]]:
    # Tuples are what the per-group caches are keyed by; lists are accepted too.
    zones = [c.timezones for c in contacts]
    if all(type(z) is tuple for z in zones):
        return zones
    return [tuple(z) for z in zones]


def _runs(zone_list: list[tuple[str, ...]]) -> Iterator[tuple[tuple[str, ...], int]]:
    """(timezones, count) for each run of consecutive contacts with the same timezones."""
    size = len(zone_list)
    i = 0
    while i < size:
        zones = zone_list[i]
        j = i + 1
        while j < size and zone_list[j] == zones:
            j += 1
        yield zones, j - i
        i = j


def plan_contacts(
    settings: CampaignSettings,
    start: datetime | int,
    contacts: Sequence[ContactLike],
    state: PlannerState | None = None,
    occupancy: Occupancy | None = None,
    *,
    rotation_offset: int | None = None,
    total: int | None = None,
    pacing: Pacing | None = None,
    horizon_days: int = HORIZON_DAYS,
) -> PlanResult:
    """Plan `contacts` (in plan order) from `start` (aware datetime or epoch ms).

    - `state`: the previous chunk's `PlanResult.state`, to go on where it stopped; the
      settings, start, pacing and horizon must be the same (else ValueError).
    - `occupancy`: existing calls that count against the caps (see `Occupancy`).
    - `rotation_offset`: where round-robin continues (defaults to the state's, else 0).
    - `total`: spread pacing only, the number of contacts in the whole plan when this is
      its first chunk (default: these contacts).
    - `pacing`: overrides `settings.pacing` (e.g. "asap" to plan a retry at the earliest).
    """
    if horizon_days < 1:
        raise ValueError("horizon_days must be at least 1")
    start_ms = _epoch_ms(start)
    effective_pacing: Pacing = pacing or settings.pacing
    frame = _frame(settings, start_ms, effective_pacing, horizon_days)
    engine = _Engine(frame, state)
    if occupancy is not None:
        engine.add_occupancy(occupancy)
    if state is None:
        engine.remaining = total if total is not None else len(contacts)
    # Spread needs at least this chunk's contacts to be expected.
    engine.remaining = max(engine.remaining, len(contacts))

    due: list[int] = []
    unplaced: list[tuple[int, int, UnplaceableReason]] = []
    zone_list = _zone_tuples(contacts)
    if frame.spread:
        engine.plan_spread(zone_list, due, unplaced)
    else:
        engine.plan_asap(_runs(zone_list), due, unplaced)

    ids = [c.contact_id for c in contacts]
    reasons = _reasons(settings, frame, ids, zone_list)
    unplaceable: list[Unplaceable] = []
    if unplaced:
        skip = bytearray(len(ids))
        for first, count, reason in unplaced:
            for i in range(first, first + count):
                skip[i] = 1
                unplaceable.append(Unplaceable(ids[i], reason))
                reasons.pop(ids[i], None)
        ids = [c for c, s in zip(ids, skip, strict=True) if not s]
    offset = (
        rotation_offset if rotation_offset is not None else state.rotation_offset if state else 0
    )
    callers, next_offset = _caller_ids(settings, ids, offset)
    return PlanResult(ids, due, callers, unplaceable, engine.export(next_offset), reasons)


# --- why a contact's calls start later than the plan: the rule that delayed them -------


@dataclass(frozen=True, slots=True)
class _Rules:
    """A campaign's allowed time taken apart, to tell which rule held a contact back: the
    bare window (its hours on its working days), each holiday calendar's dates and the
    campaign's blackout dates (the guard is a flag; states and the frequency `after:` mark
    are read off the reach)."""

    bare: AllowedTime
    calendars: tuple[tuple[str, frozenset[int]], ...]
    blackouts: frozenset[int]

    @classmethod
    def of(cls, settings: CampaignSettings, first_ms: int, last_ms: int) -> _Rules:
        bare = DailyWindow.of(settings.start_time, settings.end_time, settings.working_days, ())
        years = years_around(first_ms, last_ms)
        calendars = tuple(
            (code, _ordinals(holiday_dates([code], years))) for code in settings.holiday_calendars
        )
        return cls(
            AllowedTime(settings.timezone, bare, settings.respect_contact_timezone, False),
            calendars,
            _ordinals(settings.blackout_dates),
        )

    def without(self, allowed: AllowedTime, rule: str) -> AllowedTime:
        """The campaign's allowed time without one rule: `legal_hours`, `holiday:<code>`
        or `blackout_date` (its dates only: another calendar's same date stays barred)."""
        if rule == "legal_hours":
            return replace(allowed, legal_hours_guard=False)
        kept = [dates for code, dates in self.calendars if f"holiday:{code}" != rule]
        if rule != "blackout_date":
            kept.append(self.blackouts)
        days = frozenset().union(*kept)
        return replace(allowed, window=replace(allowed.window, blackout_ordinals=days))

    def candidates(self, key: tuple[str, ...], guard: bool) -> Iterator[str]:
        """The rules that may bar a reach, in the order `delay_reason` tells them."""
        if not_before_of(key) is not None:
            yield "frequency_limit"
        if guard:
            yield "legal_hours"
        for state in split_reach(key)[1]:
            yield f"state_rule:{state}"
        for code, _ in self.calendars:
            yield f"holiday:{code}"
        if self.blackouts:
            yield "blackout_date"

    def bars(self, rule: str, key: tuple[str, ...], instant_ms: int) -> bool:
        """Whether the rule alone bars a call of the reach at the instant."""
        zones, _ = split_reach(key)
        if rule == "frequency_limit":
            return instant_ms < (not_before_of(key) or 0)
        if rule == "legal_hours":
            return not all(GUARD.contains(z, instant_ms) for z in zones)
        if rule.startswith("state_rule:"):
            state = rule.removeprefix("state_rule:")
            return not all(state_rules.is_allowed_at((state,), z, instant_ms) for z in zones)
        if rule == "blackout_date":
            days = self.blackouts
        else:
            days = next(d for code, d in self.calendars if f"holiday:{code}" == rule)
        window = replace(self.bare.window, blackout_ordinals=days)
        return not all(window.contains(z, instant_ms) for z in self.bare.window_zones(zones))


def _ordinals(days: Iterable[date]) -> frozenset[int]:
    return frozenset(day.toordinal() for day in days)


def _without_state(key: tuple[str, ...], rule: str) -> tuple[str, ...]:
    mark = "state:" + rule.removeprefix("state_rule:")
    return tuple(entry for entry in key if entry != mark)


@lru_cache(maxsize=4096)
def _delay_reason(frame: _Frame, rules: _Rules, key: tuple[str, ...]) -> str | None:
    first = _group(frame, key).first_ms
    start = frame.start_ms
    if first is None or first <= start:
        return None
    zones, _ = split_reach(key)
    bare = rules.bare.intervals(zones, start, first)
    if not bare:
        return None  # the campaign's own hours begin there: no rule held it back
    allowed = frame.allowed
    candidates = list(rules.candidates(key, allowed.legal_hours_guard))
    # The rule without which the contact could be called earlier, the others kept.
    for rule in candidates:
        if rule == "frequency_limit":
            earlier = allowed.intervals(without_after(key), start, first)
        elif rule.startswith("state_rule:"):
            earlier = allowed.intervals(_without_state(key, rule), start, first)
        else:
            earlier = rules.without(allowed, rule).intervals(key, start, first)
        if earlier:
            return rule
    # Several rules bar the same time: the one barring the campaign's last hour before.
    last = bare[-1][1] - 1
    return next((rule for rule in candidates if rules.bars(rule, key, last)), None)


def _reasons(
    settings: CampaignSettings, frame: _Frame, ids: list[str], zone_list: list[tuple[str, ...]]
) -> dict[str, str]:
    """`PlanResult.reasons` of the contacts (ids and reaches, in order): worked out once per
    reach, and only for reaches whose allowed time starts after the plan does."""
    delayed: dict[tuple[str, ...], str] = {}
    rules: _Rules | None = None
    for key in set(zone_list):
        first = _group(frame, key).first_ms
        if first is None or first <= frame.start_ms:
            continue
        rules = rules or _Rules.of(settings, frame.start_ms, frame.end_ms)
        reason = _delay_reason(frame, rules, key)
        if reason is not None:
            delayed[key] = reason
    if not delayed:
        return {}
    return {cid: delayed[key] for cid, key in zip(ids, zone_list, strict=True) if key in delayed}


def delay_reason(settings: CampaignSettings, start_ms: int, key: tuple[str, ...]) -> str | None:
    """Why a contact of this reach cannot be called as early as `start_ms` when its
    campaign's own hours would allow it, or None when nothing held it back (or nothing
    allows it at all: then it is unplaceable). The rules are tried in this order:
    `frequency_limit` (its number's recent calls), `legal_hours` (the federal guard),
    `state_rule:<XX>` (a state's hours, days or holidays), `holiday:<calendar>` (a
    `holiday_calendars` code), `blackout_date`. The reason is the first rule without
    which (the others kept) it could be called earlier; when none alone would do (two
    rules bar the same time), the first that bars the last instant of the campaign's
    bare window (its hours on its working days) before the contact's first allowed one."""
    frame = _frame(settings, start_ms, "asap", HORIZON_DAYS)
    return _delay_reason(frame, _Rules.of(settings, frame.start_ms, frame.end_ms), key)


def _allowed_time(settings: CampaignSettings, instant_ms: int) -> AllowedTime:
    """Rule 1 around an instant (what delivery checks at the dial)."""
    window = daily_window(settings, instant_ms - 2 * DAY_MS, instant_ms + 3 * DAY_MS)
    return AllowedTime(
        settings.timezone, window, settings.respect_contact_timezone, settings.legal_hours_guard
    )


def contact_reach(
    settings: CampaignSettings,
    timezones: Iterable[object] | None,
    phone_number: str,
    state: str | None,
    not_before_ms: int | None = None,
) -> tuple[str, ...]:
    """What a contact's allowed time depends on (`planning_windows.reach`): its zones (the
    campaign's when it has none), with `state_rules` the US states whose rules apply to it
    (its `state`, else its area code's), and the instant its number's frequency limit lets
    it be called again, when that limit holds it back (`not_before_ms`)."""
    zones = effective_timezones(timezones or [], settings.timezone)
    states = states_with_rules(phone_number, state) if settings.state_rules else ()
    if not states and not_before_ms is None:
        return zones
    return reach(zones, states, not_before_ms)


def is_allowed(settings: CampaignSettings, timezones: Sequence[str], instant_ms: int) -> bool:
    """Whether the instant lies in the contact's allowed time (rule 1, guard included):
    what delivery checks just before dialling. It knows nothing of start, caps or rate."""
    zones = tuple(timezones) or (settings.timezone,)
    return _allowed_time(settings, instant_ms).contains(zones, instant_ms)


def allowed_until(
    settings: CampaignSettings, timezones: Sequence[str], instant_ms: int
) -> int | None:
    """The end (epoch ms, exclusive) of the stretch of allowed time the instant lies in,
    or None when it lies outside: how long a dial starting now may take."""
    zones = tuple(timezones) or (settings.timezone,)
    allowed = _allowed_time(settings, instant_ms)
    if not allowed.contains(zones, instant_ms):
        return None
    for start, end in allowed.intervals(zones, instant_ms, instant_ms + 2 * DAY_MS):
        if start <= instant_ms < end:
            return end
    return instant_ms + 2 * DAY_MS  # allowed for longer than two days ahead


def campaign_day(settings: CampaignSettings, instant_ms: int) -> date:
    """The campaign day an instant counts for in `max_calls_per_day` (rule 3)."""
    window = _allowed_time(settings, instant_ms).window
    return date.fromordinal(window.day_of(settings.timezone, instant_ms))


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """What a preview shows (API.md `POST /batch-calls/{id}/preview`)."""

    first_call_ms: int | None
    last_call_ms: int | None
    calls_per_day: dict[date, int]
    unplaceable: list[Unplaceable]
    delayed: dict[str, int]  # planned contacts a rule delayed, by reason (`delay_reason`)


def summarise(settings: CampaignSettings, result: PlanResult) -> PlanSummary:
    """First and last call, calls per campaign day; `last_call_ms` is the finish
    estimate (the last call's due time)."""
    per_day: dict[date, int] = {}
    if result.due_ms:
        ordered = sorted(result.due_ms)
        # Walk day boundaries instead of converting each instant to a local date.
        window = _allowed_time(settings, ordered[0]).window
        day = campaign_day(settings, ordered[0])
        next_start = window.day_start_ms(settings.timezone, day.toordinal() + 1)
        for instant in ordered:
            while instant >= next_start:
                day = date.fromordinal(day.toordinal() + 1)
                next_start = window.day_start_ms(settings.timezone, day.toordinal() + 1)
            per_day[day] = per_day.get(day, 0) + 1
    return PlanSummary(
        first_call_ms=min(result.due_ms) if result.due_ms else None,
        last_call_ms=max(result.due_ms) if result.due_ms else None,
        calls_per_day=per_day,
        unplaceable=list(result.unplaceable),
        delayed=dict(sorted(Counter(result.reasons.values()).items())),
    )

"""An independent, deliberately plain checker of API.md "Planning rules", for the planner tests.

It shares no code with `batchcalls.domain.planning*`: local times are turned into instants
with datetime arithmetic and a minute-by-minute walk over DST gaps, allowed time is
intersected interval by interval, and the caps are recounted from the result. The
tests at the bottom pin the checker itself on hand-worked cases.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from batchcalls.models.campaign import CampaignSettings

HORIZON = timedelta(days=400)


def wall_instant(zone_name: str, day: date, minute: int) -> datetime:
    """The first instant whose local wall time is at or after `day` + `minute` minutes."""
    zone = ZoneInfo(zone_name)
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    real = []
    for fold in (0, 1):
        candidate = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if candidate.astimezone(zone).replace(tzinfo=None) == naive:
            real.append(candidate)
    if real:
        return min(real)  # a repeated wall time counts from its first occurrence
    # The wall time was skipped: walk minute by minute to where the clocks jumped.
    instant = min(naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    instant = instant.replace(second=0, microsecond=0)
    while instant.astimezone(zone).replace(tzinfo=None) < naive:
        instant += timedelta(minutes=1)
    return instant


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def window_starting(settings: CampaignSettings, zone_name: str, day: date):
    """The campaign window starting on that local date in the zone, or None."""
    if day.isoweekday() not in settings.working_days or day in settings.blackout_dates:
        return None
    start, end = minutes(settings.start_time), minutes(settings.end_time)
    opens = wall_instant(zone_name, day, start)
    if start == end:
        closes = wall_instant(zone_name, day + timedelta(days=1), start)
    elif end < start:
        closes = wall_instant(zone_name, day + timedelta(days=1), end)
    else:
        closes = wall_instant(zone_name, day, end)
    return (opens, closes) if opens < closes else None


def guard_window(zone_name: str, day: date):
    return wall_instant(zone_name, day, 8 * 60), wall_instant(zone_name, day, 21 * 60)


def local_date(zone_name: str, instant: datetime) -> date:
    return instant.astimezone(ZoneInfo(zone_name)).date()


def campaign_day(settings: CampaignSettings, instant: datetime) -> date:
    """The campaign day a call counts for (rule 3): its local date in the campaign's
    timezone, except that the hours of a window running past midnight (or of a whole-day
    window, `start_time` = `end_time`) before its start time belong to the day before,
    on which that window started."""
    local = instant.astimezone(ZoneInfo(settings.timezone))
    if local.time() < time.fromisoformat(settings.start_time) and _wraps(settings):
        return local.date() - timedelta(days=1)
    return local.date()


def _wraps(settings: CampaignSettings) -> bool:
    return settings.end_time != "24:00" and settings.end_time <= settings.start_time


def campaign_day_start(settings: CampaignSettings, day: date) -> datetime:
    """The first instant of a campaign day (see `campaign_day`)."""
    hours, minutes = map(int, settings.start_time.split(":"))
    minute = hours * 60 + minutes if _wraps(settings) else 0
    return wall_instant(settings.timezone, day, minute)


def window_zones(settings: CampaignSettings, timezones: Sequence[str]) -> Sequence[str]:
    return timezones if settings.respect_contact_timezone else [settings.timezone]


def allowed_at(settings: CampaignSettings, timezones: Sequence[str], instant: datetime) -> bool:
    """Rule 1 for one instant, judged straight from the definitions."""
    for zone_name in window_zones(settings, timezones):
        today = local_date(zone_name, instant)
        windows = [
            window_starting(settings, zone_name, today + timedelta(days=shift))
            for shift in (-1, 0, 1)
        ]
        if not any(w and w[0] <= instant < w[1] for w in windows):
            return False
    if settings.legal_hours_guard:
        for zone_name in timezones:
            today = local_date(zone_name, instant)
            windows = [guard_window(zone_name, today + timedelta(days=s)) for s in (-1, 0, 1)]
            if not any(w[0] <= instant < w[1] for w in windows):
                return False
    return True


def _intersect(first, second):
    """Intersection of two lists of intervals (any order, possibly overlapping)."""
    first, second = sorted(first), sorted(second)
    out = []
    j0 = 0
    for a_start, a_end in first:
        while j0 < len(second) and second[j0][1] <= a_start:
            j0 += 1  # safe: `first` starts only grow, and an interval of `second` that
            # ends before this one starts ends before every later one starts too
        j = j0
        while j < len(second) and second[j][0] < a_end:
            start, end = max(a_start, second[j][0]), min(a_end, second[j][1])
            if start < end:
                out.append((start, end))
            j += 1
    return sorted(set(out))


def allowed_intervals(
    settings: CampaignSettings, timezones: Sequence[str], since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """The contact's allowed time within [since, until) as datetime intervals."""
    allowed = [(since, until)]
    days = (until - since).days + 3

    def each_day(zone_name: str):
        first = local_date(zone_name, since) - timedelta(days=1)
        return [first + timedelta(days=i) for i in range(days + 1)]

    for zone_name in set(window_zones(settings, timezones)):
        windows = [window_starting(settings, zone_name, d) for d in each_day(zone_name)]
        allowed = _intersect(allowed, [w for w in windows if w])
    if settings.legal_hours_guard:
        for zone_name in set(timezones):
            allowed = _intersect(allowed, [guard_window(zone_name, d) for d in each_day(zone_name)])
    return allowed


def to_dt(instant_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=instant_ms)


def check_plan(
    settings: CampaignSettings,
    start_ms: int,
    contacts,
    result,
    occupancy=None,
    pacing: str | None = None,
) -> None:
    """Assert every planning rule on `result`; raises AssertionError naming the rule."""
    pacing = pacing or settings.pacing
    start = to_dt(start_ms)
    horizon_end = start + HORIZON
    rate = settings.max_calls_per_second
    cap = settings.max_calls_per_day
    occupied_ms = list(occupancy.calls_ms) if occupancy else []
    occupied_days = Counter(occupancy.day_counts) if occupancy else Counter()
    zones_of = {c.contact_id: tuple(c.timezones) for c in contacts}

    # Rule 6: nothing dropped, nothing invented, planned ones kept in input order.
    unplaced = {u.contact_id: u.reason for u in result.unplaceable}
    assert sorted([*result.contact_ids, *unplaced]) == sorted(c.contact_id for c in contacts)
    assert result.contact_ids == [c.contact_id for c in contacts if c.contact_id not in unplaced]
    assert len(result.due_ms) == len(result.contact_ids) == len(result.caller_ids)

    for contact_id, due in zip(result.contact_ids, result.due_ms, strict=True):
        instant = to_dt(due)
        assert instant >= start, f"rule 2: {contact_id} at {instant} before start {start}"
        assert instant < horizon_end, f"horizon: {contact_id} at {instant}"
        assert allowed_at(settings, zones_of[contact_id], instant), (
            f"rule 1: {contact_id} at {instant} outside its window ({zones_of[contact_id]})"
        )

    # Rule 4: unique instants, no second over the rate (existing calls counted).
    assert len(set(result.due_ms)) == len(result.due_ms), "rule 4: duplicate timestamps"
    assert not set(result.due_ms) & set(occupied_ms), "rule 4: reuses an existing timestamp"
    new_per_second = Counter(d // 1000 for d in result.due_ms)
    old_per_second = Counter(d // 1000 for d in occupied_ms)
    for second, count in new_per_second.items():
        assert count + old_per_second[second] <= rate, f"rule 4: second {second} over the rate"

    # Rule 3: no campaign day over the cap (existing calls counted).
    new_per_day = Counter(campaign_day(settings, to_dt(d)) for d in result.due_ms)
    if cap is not None:
        for day, count in new_per_day.items():
            assert count + occupied_days[day] <= cap, f"rule 3: {day} holds too many calls"

    # Reasons: no_allowed_window means the contact has no allowed time in the horizon.
    for contact_id, reason in unplaced.items():
        has_time = bool(allowed_intervals(settings, zones_of[contact_id], start, horizon_end))
        assert has_time == (reason == "beyond_horizon"), f"rule 6: wrong reason {reason}"

    if pacing == "asap":
        _check_earliest(settings, start, horizon_end, contacts, result, occupancy)


def _check_earliest(settings, start, horizon_end, contacts, result, occupancy) -> None:
    """Rules 5 and 7 (asap): when a contact was planned, no earlier second that its
    allowed time covers had room, in a day that had room. Checked to the second (the
    start's own second, which may be partly before the start, is left out)."""
    rate = settings.max_calls_per_second
    cap = settings.max_calls_per_day
    per_second = Counter(d // 1000 for d in (occupancy.calls_ms if occupancy else ()))
    per_day = Counter(occupancy.day_counts) if occupancy else Counter()
    full_seconds = sorted(s for s, n in per_second.items() if n >= rate)
    due_of = dict(zip(result.contact_ids, result.due_ms, strict=True))
    first_second = int(start.timestamp()) + 1
    if result.unplaceable or not result.due_ms:
        until = horizon_end
    else:
        until = min(horizon_end, to_dt(max(result.due_ms)) + timedelta(days=2))
    pieces_of: dict[tuple, list] = {}

    def pieces(zones):
        """Allowed seconds as (low, high, campaign day) pieces, split where campaign days begin."""
        if zones not in pieces_of:
            found = []
            for opens, closes in allowed_intervals(settings, zones, start, until):
                low, high = max(int(opens.timestamp()), first_second), int(closes.timestamp())
                while low < high:
                    day = campaign_day(settings, datetime.fromtimestamp(low, UTC))
                    following = campaign_day_start(settings, day + timedelta(days=1))
                    cut = min(high, int(following.timestamp()))
                    found.append((low, cut, day))
                    low = cut
            pieces_of[zones] = found
        return pieces_of[zones]

    for contact in contacts:
        due = due_of.get(contact.contact_id)
        # beyond_horizon: no allowed second may have room anywhere in the horizon
        limit = int(horizon_end.timestamp()) if due is None else due // 1000
        for low, high, day in pieces(tuple(contact.timezones)):
            if low >= limit:
                break
            high = min(high, limit)
            if cap is not None and per_day[day] >= cap:
                continue
            full = bisect_left(full_seconds, high) - bisect_left(full_seconds, low)
            assert high - low <= full, (
                f"rule 5/7: {contact.contact_id} planned at {due} "
                f"but second(s) in [{low}, {high}) of {day} had room"
            )
        if due is not None:
            second = due // 1000
            per_second[second] += 1
            if per_second[second] == rate:
                insort(full_seconds, second)
            per_day[campaign_day(settings, to_dt(due))] += 1


# --- the checker's own tests ---------------------------------------------------------------


def test_checker_maps_a_skipped_wall_time_to_the_jump():
    # Given New York's spring-forward night, 02:00 -> 03:00 on 2026-03-08
    # When 02:30 (which does not exist) is turned into an instant
    instant = wall_instant("America/New_York", date(2026, 3, 8), 150)
    # Then it is the jump, 07:00 UTC (03:00 EDT)
    assert instant == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_checker_maps_a_repeated_wall_time_to_its_first_occurrence():
    # Given New York's fall-back night, 01:00-02:00 happens twice on 2026-11-01
    # When 01:30 is turned into an instant
    instant = wall_instant("America/New_York", date(2026, 11, 1), 90)
    # Then it is the first 01:30, still EDT (05:30 UTC)
    assert instant == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_checker_sees_the_guard_and_the_window():
    # Given a 09:00-17:00 New York window with the guard on
    settings = CampaignSettings(timezone="America/New_York", start_time="09:00", end_time="17:00")
    # Then 10:00 New York is allowed for a New York contact but not for a Honolulu one
    instant = datetime(2026, 6, 3, 14, 0, tzinfo=UTC)
    assert allowed_at(settings, ["America/New_York"], instant)
    assert not allowed_at(settings, ["Pacific/Honolulu"], instant)

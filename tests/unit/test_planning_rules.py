"""Example tests of the planner, one behaviour each (API.md "Planning rules")."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from batchcalls.domain.planning import (
    HORIZON_DAYS,
    Occupancy,
    PlanContact,
    PlannerState,
    campaign_day,
    is_allowed,
    plan_contacts,
    summarise,
)
from batchcalls.models.campaign import CampaignSettings

from tests.unit.test_planning_checker import check_plan

NY = "America/New_York"
US_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
]
NUMBERS = ["+14155550100", "+14155550101", "+14155550102"]


def campaign(**fields) -> CampaignSettings:
    return CampaignSettings(**fields)


def at(zone: str, *parts: int) -> int:
    """Epoch ms of a local wall time (unambiguous ones only)."""
    return int(datetime(*parts, tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def utc(*parts: int) -> int:
    return at("UTC", *parts)


def local(instant_ms: int, zone: str) -> datetime:
    return datetime.fromtimestamp(instant_ms / 1000, ZoneInfo(zone)).replace(tzinfo=None)


def people(count: int, zones: tuple[str, ...] = ("UTC",), prefix: str = "c") -> list[PlanContact]:
    return [PlanContact(f"{prefix}{i}", zones) for i in range(count)]


def first_run(due_ms: list[int]) -> int:
    """How many calls come before the first pause of more than a second."""
    for i in range(1, len(due_ms)):
        if due_ms[i] - due_ms[i - 1] > 1000:
            return i
    return len(due_ms)


def plan_checked(settings: CampaignSettings, start_ms: int, contacts, **kwargs):
    """Plan, and check every rule with the independent checker. Big asap lists are
    checked on a prefix (asap plans a prefix exactly as the start of the whole plan)."""
    result = plan_contacts(settings, start_ms, contacts, **kwargs)
    checked, checked_result = contacts, result
    if len(contacts) > 12_000 and (kwargs.get("pacing") or settings.pacing) == "asap":
        checked = contacts[:2000]
        checked_result = plan_contacts(settings, start_ms, checked, **kwargs)
        assert checked_result.due_ms == result.due_ms[: len(checked_result.due_ms)]
    occupancy, pacing = kwargs.get("occupancy"), kwargs.get("pacing")
    check_plan(settings, start_ms, checked, checked_result, occupancy, pacing)
    return result


# --- rule 1: the allowed window ----------------------------------------------------------


def test_calls_are_placed_on_working_days_only():
    # Given a Monday-to-Friday 09:00-17:00 New York campaign starting on a Saturday
    settings = campaign(
        timezone=NY, start_time="09:00", end_time="17:00", working_days=[1, 2, 3, 4, 5]
    )
    # When a contact is planned
    result = plan_checked(settings, at(NY, 2026, 6, 6, 10, 0), people(1, (NY,)))
    # Then it is called on Monday at 09:00
    assert local(result.due_ms[0], NY) == datetime(2026, 6, 8, 9, 0)


def test_no_window_starts_on_a_blackout_date():
    # Given a campaign whose first day is a blackout date
    settings = campaign(
        timezone=NY, start_time="09:00", end_time="17:00", blackout_dates=[date(2026, 6, 8)]
    )
    # When a contact is planned from that morning
    result = plan_checked(settings, at(NY, 2026, 6, 8, 7, 0), people(1, (NY,)))
    # Then it is called the next day
    assert local(result.due_ms[0], NY) == datetime(2026, 6, 9, 9, 0)


def test_a_window_past_midnight_belongs_to_the_day_it_starts_on():
    # Given a Friday-only 22:00-02:00 window (guard off), one call a second
    settings = campaign(
        start_time="22:00",
        end_time="02:00",
        working_days=[5],
        legal_hours_guard=False,
        max_calls_per_second=1,
    )
    # When one more contact than the window holds is planned
    result = plan_checked(settings, utc(2026, 6, 5, 12, 0), people(4 * 3600 + 1))
    # Then the window runs from Friday 22:00 into Saturday (not a working day) 02:00
    assert local(result.due_ms[0], "UTC") == datetime(2026, 6, 5, 22, 0)
    assert local(result.due_ms[4 * 3600 - 1], "UTC") == datetime(2026, 6, 6, 1, 59, 59)
    # And the next call waits for the next Friday
    assert local(result.due_ms[4 * 3600], "UTC") == datetime(2026, 6, 12, 22, 0)


def test_a_night_window_holds_its_daily_cap_once_not_once_per_calendar_date():
    # Given a nightly 22:00-02:00 window every day (guard off) and 40 calls a day
    settings = campaign(
        start_time="22:00", end_time="02:00", legal_hours_guard=False, max_calls_per_day=40
    )
    # When 100 contacts are planned from Monday noon
    result = plan_checked(settings, utc(2026, 6, 1, 12, 0), people(100))
    # Then each night (the window's day: the date it starts on) holds 40 calls, the calls
    # after midnight included: Monday night, Tuesday night, then 20 on Wednesday night
    nights = Counter((local(due, "UTC") - timedelta(hours=22)).date() for due in result.due_ms)
    assert nights == {date(2026, 6, 1): 40, date(2026, 6, 2): 40, date(2026, 6, 3): 20}
    assert campaign_day(settings, utc(2026, 6, 2, 1, 59)) == date(2026, 6, 1)
    assert campaign_day(settings, utc(2026, 6, 2, 22, 0)) == date(2026, 6, 2)


def test_equal_start_and_end_means_the_whole_day():
    # Given a Monday-only 09:00-09:00 window (guard off)
    settings = campaign(
        start_time="09:00", end_time="09:00", working_days=[1], legal_hours_guard=False
    )
    # Then it runs from Monday 09:00 to Tuesday 09:00
    assert not is_allowed(settings, ["UTC"], utc(2026, 6, 1, 8, 59, 59))
    assert is_allowed(settings, ["UTC"], utc(2026, 6, 1, 9, 0))
    assert is_allowed(settings, ["UTC"], utc(2026, 6, 2, 8, 59, 59))
    assert not is_allowed(settings, ["UTC"], utc(2026, 6, 2, 9, 0))
    # And a plan fills it whole: 86,400 seconds at one call a second
    result = plan_checked(
        settings.model_copy(update={"max_calls_per_second": 1}),
        utc(2026, 6, 1, 0, 0),
        people(86_401),
    )
    assert first_run(result.due_ms) == 86_400


def test_24_00_as_end_means_midnight():
    # Given a 23:00-24:00 window (guard off), one call a second
    settings = campaign(
        start_time="23:00", end_time="24:00", legal_hours_guard=False, max_calls_per_second=1
    )
    # When one more contact than an hour holds is planned
    result = plan_checked(settings, utc(2026, 6, 1, 0, 0), people(3601))
    # Then the last second of the day is used, and the next call is the next night
    assert local(result.due_ms[3599], "UTC") == datetime(2026, 6, 1, 23, 59, 59)
    assert local(result.due_ms[3600], "UTC") == datetime(2026, 6, 2, 23, 0)


def test_the_legal_hours_guard_narrows_the_window_to_08_to_21():
    # Given a 06:00-23:00 window with the guard on
    settings = campaign(timezone=NY, start_time="06:00", end_time="23:00")
    # Then only 08:00-21:00 is allowed
    assert not is_allowed(settings, [NY], at(NY, 2026, 6, 3, 7, 59, 59))
    assert is_allowed(settings, [NY], at(NY, 2026, 6, 3, 8, 0))
    assert is_allowed(settings, [NY], at(NY, 2026, 6, 3, 20, 59, 59))
    assert not is_allowed(settings, [NY], at(NY, 2026, 6, 3, 21, 0))
    # And a plan from 06:00 starts at 08:00
    result = plan_checked(settings, at(NY, 2026, 6, 3, 6, 0), people(1, (NY,)))
    assert local(result.due_ms[0], NY) == datetime(2026, 6, 3, 8, 0)


def test_the_guard_applies_in_every_timezone_of_the_contact_even_without_respect():
    # Given a whole-day New York window, not respecting contact timezones, guard on
    settings = campaign(timezone=NY)
    contact = PlanContact("c", (NY, "America/Los_Angeles"))
    # When a contact in New York and Los Angeles is planned from New York midnight
    result = plan_checked(settings, at(NY, 2026, 6, 3, 0, 0), [contact])
    # Then it is called at 08:00 in Los Angeles (11:00 in New York)
    assert local(result.due_ms[0], "America/Los_Angeles") == datetime(2026, 6, 3, 8, 0)
    # And never after 21:00 New York
    assert not is_allowed(settings, contact.timezones, at(NY, 2026, 6, 3, 21, 0))


def test_respect_contact_timezone_calls_each_us_zone_in_its_own_window():
    # Given a 09:00-17:00 window applied in each contact's own timezone
    settings = campaign(
        timezone=NY, start_time="09:00", end_time="17:00", respect_contact_timezone=True
    )
    contacts = [PlanContact(zone, (zone,)) for zone in US_ZONES]
    # When one contact per US zone is planned from Wednesday 10:00 UTC (before 09:00 in
    # every US zone)
    result = plan_checked(settings, utc(2026, 6, 3, 10, 0), contacts)
    # Then each is called at 09:00 in its own zone (Phoenix and Los Angeles share the
    # instant 16:00 UTC in summer, so one of them gets the next tick)
    for zone, due in zip(result.contact_ids, result.due_ms, strict=True):
        called = local(due, zone)
        assert datetime(2026, 6, 3, 9, 0) <= called < datetime(2026, 6, 3, 9, 0, 1), zone


def test_a_contact_in_two_zones_is_called_only_when_both_windows_are_open():
    # Given a 09:00-17:00 window in each of the contact's zones: Adelaide (UTC+9:30 in
    # June) and Perth (UTC+8), so 09:00 Perth .. 17:00 Adelaide = 01:00-07:30 UTC
    settings = campaign(
        timezone="Australia/Adelaide",
        start_time="09:00",
        end_time="17:00",
        respect_contact_timezone=True,
        max_calls_per_second=1,
    )
    zones = ("Australia/Adelaide", "Australia/Perth")
    # When more contacts than that window holds are planned
    result = plan_checked(settings, utc(2026, 6, 2, 20, 0), people(6 * 3600 + 1801, zones))
    # Then the first is at 09:00 Perth, the window holds 6.5 hours, the next day follows
    assert local(result.due_ms[0], "Australia/Perth") == datetime(2026, 6, 3, 9, 0)
    assert first_run(result.due_ms) == 6 * 3600 + 1800
    assert local(result.due_ms[-1], "Australia/Perth") == datetime(2026, 6, 4, 9, 0)


def test_a_contact_in_chicago_and_denver_waits_for_denver():
    # Given a 09:00-17:00 window applied in both zones of a contact
    settings = campaign(
        timezone=NY, start_time="09:00", end_time="17:00", respect_contact_timezone=True
    )
    contact = PlanContact("c", ("America/Chicago", "America/Denver"))
    # When it is planned from early morning
    result = plan_checked(settings, utc(2026, 6, 3, 0, 0), [contact])
    # Then it is called at 09:00 Denver (10:00 Chicago)
    assert local(result.due_ms[0], "America/Chicago") == datetime(2026, 6, 3, 10, 0)


# --- rules 2-5 ---------------------------------------------------------------------------


def test_no_call_is_placed_before_the_start():
    # Given a campaign started mid-window at an odd millisecond
    settings = campaign()
    start = utc(2026, 6, 3, 10, 17, 23) + 456
    # When contacts are planned
    result = plan_checked(settings, start, people(3))
    # Then the first takes the first tick at or after the start (ticks every 100 ms)
    assert result.due_ms == [start + 44, start + 144, start + 244]


def test_max_calls_per_day_counts_days_of_the_campaign_timezone():
    # Given a whole-day New York campaign (guard off), three calls a day
    settings = campaign(
        timezone=NY, max_calls_per_day=3, legal_hours_guard=False, max_calls_per_second=1
    )
    # When seven contacts are planned from New York midnight (04:00 UTC)
    result = plan_checked(settings, at(NY, 2026, 6, 1, 0, 0), people(7, (NY,)))
    # Then New York days (not UTC days) hold three, three and one
    per_day = Counter(local(d, NY).date() for d in result.due_ms)
    assert per_day == {date(2026, 6, 1): 3, date(2026, 6, 2): 3, date(2026, 6, 3): 1}
    assert local(result.due_ms[3], NY) == datetime(2026, 6, 2, 0, 0)


def test_max_calls_per_second_gives_each_call_its_own_millisecond():
    # Given three calls a second
    settings = campaign(max_calls_per_second=3)
    # When seven contacts are planned from a whole second
    start = utc(2026, 6, 3, 12, 0)
    result = plan_checked(settings, start, people(7))
    # Then each second holds three, at distinct milliseconds
    assert [d - start for d in result.due_ms] == [0, 333, 666, 1000, 1333, 1666, 2000]


def test_days_fill_in_order():
    # Given two calls a day
    settings = campaign(start_time="09:00", end_time="17:00", max_calls_per_day=2)
    # When five contacts are planned
    result = plan_checked(settings, utc(2026, 6, 3, 0, 0), people(5))
    # Then a day is used only when the ones before it are full
    days = [local(d, "UTC").date() for d in result.due_ms]
    assert days == [date(2026, 6, 3)] * 2 + [date(2026, 6, 4)] * 2 + [date(2026, 6, 5)]


def test_a_later_day_is_used_by_a_contact_only_when_no_earlier_one_has_room_for_it():
    # Given a New York window applied in each contact's zone, two calls a day, and an
    # early start: Honolulu contacts can only be called after New York ones
    settings = campaign(
        timezone=NY,
        start_time="09:00",
        end_time="17:00",
        respect_contact_timezone=True,
        max_calls_per_day=2,
    )
    contacts = [PlanContact("hnl", ("Pacific/Honolulu",)), PlanContact("nyc", (NY,))]
    # When planned in that order
    result = plan_checked(settings, at(NY, 2026, 6, 3, 0, 0), contacts)
    # Then both are on the first day, New York first in time
    assert [local(d, NY).date() for d in result.due_ms] == [date(2026, 6, 3)] * 2
    assert result.due_ms[1] < result.due_ms[0]


# --- rule 6: unplaceable contacts ---------------------------------------------------------


def test_a_contact_whose_zones_never_share_a_window_is_reported_not_dropped():
    # Given a one-hour window in each zone of a contact in Honolulu and Sydney
    settings = campaign(start_time="09:00", end_time="10:00", respect_contact_timezone=True)
    contacts = [PlanContact("both", ("Pacific/Honolulu", "Australia/Sydney")), *people(1, (NY,))]
    # When planned
    result = plan_checked(settings, utc(2026, 6, 3, 0, 0), contacts)
    # Then it is unplaceable for want of an allowed window; the other is planned
    assert [(u.contact_id, u.reason) for u in result.unplaceable] == [("both", "no_allowed_window")]
    assert result.contact_ids == ["c0"]


def test_contacts_past_the_horizon_are_reported_beyond_horizon():
    # Given one call a day
    settings = campaign(start_time="09:00", end_time="17:00", max_calls_per_day=1)
    # When more contacts than the horizon has days are planned
    result = plan_checked(settings, utc(2026, 6, 3, 0, 0), people(HORIZON_DAYS + 5))
    # Then the horizon's days are used and the rest are reported
    assert len(result.due_ms) == HORIZON_DAYS
    assert {u.reason for u in result.unplaceable} == {"beyond_horizon"}
    assert len(result.unplaceable) == 5


# --- rule 7: pacing -------------------------------------------------------------------------


def test_spread_pacing_spaces_a_days_calls_evenly_over_its_window():
    # Given an 8-hour window, eight calls a day, spread pacing
    settings = campaign(start_time="09:00", end_time="17:00", max_calls_per_day=8, pacing="spread")
    # When sixteen contacts are planned
    result = plan_checked(settings, utc(2026, 6, 3, 0, 0), people(16))
    # Then each day's calls are an hour apart, centred in the window
    times = [local(d, "UTC") for d in result.due_ms]
    assert [t.hour for t in times[:8]] == [9, 10, 11, 12, 13, 14, 15, 16]
    assert all(t.minute == 30 and t.second == 0 for t in times)
    assert {t.date() for t in times[8:]} == {date(2026, 6, 4)}


def test_spread_pacing_without_a_cap_spreads_all_contacts_over_the_first_day():
    # Given no daily cap and spread pacing
    settings = campaign(start_time="09:00", end_time="17:00", pacing="spread")
    # When four contacts are planned
    result = plan_checked(settings, utc(2026, 6, 3, 0, 0), people(4))
    # Then they are two hours apart over the day's window
    assert [local(d, "UTC").hour for d in result.due_ms] == [10, 12, 14, 16]


def test_spread_pacing_spreads_each_timezone_group_over_its_own_window():
    # Given a window applied in each contact's own zone, spread, two contacts per zone
    settings = campaign(
        timezone=NY,
        start_time="09:00",
        end_time="17:00",
        respect_contact_timezone=True,
        pacing="spread",
    )
    contacts = [PlanContact(f"{z}{i}", (z,)) for i in range(2) for z in (NY, "America/Los_Angeles")]
    # When planned
    result = plan_checked(settings, at(NY, 2026, 6, 3, 0, 0), contacts)
    # Then call j of the day's four sits (j + 1/2) / 4 through its own zone's window
    hours = [
        local(d, c[:-1]).strftime("%H:%M")
        for c, d in zip(result.contact_ids, result.due_ms, strict=True)
    ]
    assert hours == ["10:00", "12:00", "14:00", "16:00"]


def test_max_concurrent_calls_does_not_change_the_plan():
    settings = campaign(start_time="09:00", end_time="17:00")
    one = plan_contacts(settings, utc(2026, 6, 3, 0, 0), people(50))
    other = plan_contacts(
        settings.model_copy(update={"max_concurrent_calls": 1}), utc(2026, 6, 3, 0, 0), people(50)
    )
    assert one.due_ms == other.due_ms


# --- caller id rotation -------------------------------------------------------------------


def test_round_robin_takes_the_next_number_in_plan_order_and_continues_across_chunks():
    settings = campaign(phone_numbers=NUMBERS, phone_rotation="round_robin")
    first = plan_contacts(settings, utc(2026, 6, 3, 12, 0), people(4))
    assert first.caller_ids == [NUMBERS[0], NUMBERS[1], NUMBERS[2], NUMBERS[0]]
    second = plan_contacts(settings, utc(2026, 6, 3, 12, 0), people(2, prefix="d"), first.state)
    assert second.caller_ids == [NUMBERS[1], NUMBERS[2]]
    # A re-plan or a retry continues from an offset given by the caller
    retry = plan_contacts(settings, utc(2026, 6, 4, 12, 0), people(1), rotation_offset=5)
    assert retry.caller_ids == [NUMBERS[2]]
    assert retry.state.rotation_offset == 6


def test_random_rotation_is_uniform_but_the_same_for_a_contact_every_time():
    settings = campaign(phone_numbers=NUMBERS, phone_rotation="random")
    contacts = people(3000)
    once = plan_contacts(settings, utc(2026, 6, 3, 12, 0), contacts)
    again = plan_contacts(settings, utc(2026, 7, 1, 12, 0), list(reversed(contacts)))
    assert dict(zip(once.contact_ids, once.caller_ids, strict=True)) == dict(
        zip(again.contact_ids, again.caller_ids, strict=True)
    )
    counts = Counter(once.caller_ids)
    assert set(counts) == set(NUMBERS)
    assert all(900 < n < 1100 for n in counts.values())


def test_sequential_rotation_uses_the_first_number_and_no_numbers_mean_no_caller_id():
    sequential = campaign(phone_numbers=NUMBERS, phone_rotation="sequential")
    assert (
        plan_contacts(sequential, utc(2026, 6, 3, 12, 0), people(3)).caller_ids == [NUMBERS[0]] * 3
    )
    assert plan_contacts(campaign(), utc(2026, 6, 3, 12, 0), people(2)).caller_ids == [None, None]


# --- occupancy, retries, chunks -------------------------------------------------------------


def test_existing_calls_take_their_places_in_their_second():
    # Given two calls a second and two existing calls in 12:00:00, one between ticks
    settings = campaign(max_calls_per_second=2)
    start = utc(2026, 6, 3, 12, 0)
    occupancy = Occupancy.from_calls(settings, [start, start + 50])
    # When a contact is planned from 12:00:00
    result = plan_checked(settings, start, people(2), occupancy=occupancy)
    # Then 12:00:00 is full and the new calls take 12:00:01
    assert result.due_ms == [start + 1000, start + 1500]


def test_new_calls_flow_around_existing_calls_later_in_the_window():
    # Given one call a second and existing calls at 09:00:03 and 09:00:04
    settings = campaign(start_time="09:00", end_time="17:00", max_calls_per_second=1)
    occupancy = Occupancy.from_calls(settings, [utc(2026, 6, 3, 9, 0, 3), utc(2026, 6, 3, 9, 0, 4)])
    # When six contacts are planned from 09:00
    result = plan_checked(settings, utc(2026, 6, 3, 9, 0), people(6), occupancy=occupancy)
    # Then they take the free seconds around them
    seconds = [(d - utc(2026, 6, 3, 9, 0)) // 1000 for d in result.due_ms]
    assert seconds == [0, 1, 2, 5, 6, 7]


def test_existing_calls_of_a_day_count_against_its_cap():
    # Given a cap of two a day and two calls already on the first day
    settings = campaign(start_time="09:00", end_time="17:00", max_calls_per_day=2)
    occupancy = Occupancy(day_counts={date(2026, 6, 3): 2})
    # When a contact is planned that day
    result = plan_checked(settings, utc(2026, 6, 3, 10, 0), people(1), occupancy=occupancy)
    # Then it goes to the next day
    assert local(result.due_ms[0], "UTC") == datetime(2026, 6, 4, 9, 0)


def test_a_retry_is_planned_at_the_earliest_allowed_free_time_after_its_delay():
    # Given a campaign with calls planned for 09:00:00-09:00:09 and an attempt that ended
    # at 09:00:03 with a 2-second busy delay
    settings = campaign(
        start_time="09:00", end_time="17:00", max_calls_per_second=1, pacing="spread"
    )
    existing = [utc(2026, 6, 3, 9, 0, s) for s in range(10)]
    occupancy = Occupancy.from_calls(settings, existing)
    # When the retry is planned alone with asap pacing
    retry_from = utc(2026, 6, 3, 9, 0, 5)
    result = plan_checked(settings, retry_from, people(1), occupancy=occupancy, pacing="asap")
    # Then it takes the first free second after the existing calls
    assert result.due_ms == [utc(2026, 6, 3, 9, 0, 10)]


def test_planning_in_chunks_continues_exactly_where_the_last_chunk_stopped():
    settings = campaign(
        start_time="09:00", end_time="17:00", max_calls_per_day=7, max_calls_per_second=2
    )
    contacts = [PlanContact(f"c{i}", (US_ZONES[i % 3],)) for i in range(40)]
    whole = plan_contacts(settings, utc(2026, 6, 3, 0, 0), contacts)
    state, due = None, []
    for chunk in (contacts[:9], contacts[9:10], contacts[10:]):
        part = plan_contacts(settings, utc(2026, 6, 3, 0, 0), chunk, state)
        state = PlannerState.from_json(part.state.to_json())
        due += part.due_ms
    assert due == whole.due_ms


def test_a_state_is_refused_by_a_plan_with_other_settings():
    settings = campaign()
    state = plan_contacts(settings, utc(2026, 6, 3, 0, 0), people(3)).state
    with pytest.raises(ValueError, match="another plan"):
        plan_contacts(
            settings.model_copy(update={"max_calls_per_day": 5}),
            utc(2026, 6, 3, 0, 0),
            people(1),
            state,
        )


def test_the_state_of_a_single_zone_campaign_is_small():
    settings = campaign(timezone=NY, start_time="09:00", end_time="17:00", max_calls_per_day=5000)
    result = plan_contacts(settings, at(NY, 2026, 6, 1, 0, 0), people(52_345, (NY,)))
    assert len(str(result.state.to_json())) < 1000


# --- DST -------------------------------------------------------------------------------------


def night(start_time: str, end_time: str, zone: str, weekday: int) -> CampaignSettings:
    return campaign(
        timezone=zone,
        start_time=start_time,
        end_time=end_time,
        working_days=[weekday],
        legal_hours_guard=False,
        max_calls_per_second=1,
    )


def test_new_york_spring_forward_skips_the_missing_hour():
    # Given a Sunday 01:30-03:30 New York window over the 2026-03-08 gap (02:00-03:00)
    settings = night("01:30", "03:30", NY, 7)
    # When planned from that midnight
    result = plan_checked(settings, at(NY, 2026, 3, 8, 0, 0), people(3601, (NY,)))
    # Then the window is one real hour: 01:30 EST to 03:30 EDT (06:30-07:30 UTC)
    assert result.due_ms[0] == utc(2026, 3, 8, 6, 30)
    assert first_run(result.due_ms) == 3600
    assert result.due_ms[3599] == utc(2026, 3, 8, 7, 29, 59)
    assert local(result.due_ms[3600], NY) == datetime(2026, 3, 15, 1, 30)


def test_a_window_starting_in_the_missing_hour_opens_at_the_jump():
    settings = night("02:30", "04:00", NY, 7)
    assert not is_allowed(settings, [NY], utc(2026, 3, 8, 6, 59, 59))
    assert is_allowed(settings, [NY], utc(2026, 3, 8, 7, 0))  # 03:00 EDT
    result = plan_checked(settings, at(NY, 2026, 3, 8, 0, 0), people(1, (NY,)))
    assert result.due_ms == [utc(2026, 3, 8, 7, 0)]


def test_new_york_fall_back_counts_the_repeated_hour_as_real_time():
    # Given a Sunday 00:30-02:30 New York window over 2026-11-01, when 01:00-02:00 repeats
    settings = night("00:30", "02:30", NY, 7)
    # When planned
    result = plan_checked(settings, at(NY, 2026, 11, 1, 0, 0), people(3 * 3600 + 1, (NY,)))
    # Then the window is three real hours: 00:30 EDT (04:30 UTC) to 02:30 EST (07:30 UTC)
    assert result.due_ms[0] == utc(2026, 11, 1, 4, 30)
    assert first_run(result.due_ms) == 3 * 3600
    assert result.due_ms[3 * 3600 - 1] == utc(2026, 11, 1, 7, 29, 59)


def test_a_window_starting_in_the_repeated_hour_starts_at_its_first_occurrence():
    # Given a Sunday 01:30-03:00 New York window; on 2026-11-01 01:30 happens twice
    settings = night("01:30", "03:00", NY, 7)
    # Then it opens at the first 01:30 (EDT, 05:30 UTC) and runs to 03:00 EST (08:00 UTC)
    assert not is_allowed(settings, [NY], utc(2026, 11, 1, 5, 29, 59))
    assert is_allowed(settings, [NY], utc(2026, 11, 1, 5, 30))
    result = plan_checked(settings, at(NY, 2026, 11, 1, 0, 0), people(9001, (NY,)))
    assert result.due_ms[0] == utc(2026, 11, 1, 5, 30)
    assert first_run(result.due_ms) == 9000  # two and a half real hours


def test_the_fall_back_day_holds_25_hours_for_the_daily_cap():
    # Given a whole-day New York window (guard off), one call a second
    settings = campaign(timezone=NY, legal_hours_guard=False, max_calls_per_second=1)
    # When 25 hours and one second of calls are planned from 2026-11-01 00:00
    result = plan_contacts(settings, at(NY, 2026, 11, 1, 0, 0), people(90_001, (NY,)))
    # Then New York's 2026-11-01 holds 25 hours of them, the last call is the next day
    per_day = summarise(settings, result).calls_per_day
    assert per_day == {date(2026, 11, 1): 25 * 3600, date(2026, 11, 2): 1}
    assert campaign_day(settings, result.due_ms[-1]) == date(2026, 11, 2)


def test_london_spring_forward_and_fall_back():
    london = "Europe/London"
    # 2026-03-29: 01:00 GMT -> 02:00 BST, so 00:30-02:30 is 00:30-01:30 UTC, one hour
    spring = night("00:30", "02:30", london, 7)
    result = plan_checked(spring, utc(2026, 3, 29, 0, 0), people(3601, (london,)))
    assert result.due_ms[0] == utc(2026, 3, 29, 0, 30)
    assert first_run(result.due_ms) == 3600
    # 2026-10-25: 02:00 BST -> 01:00 GMT, so 00:30-02:30 is 23:30-02:30 UTC, three hours
    autumn = night("00:30", "02:30", london, 7)
    result = plan_checked(autumn, utc(2026, 10, 24, 12, 0), people(3 * 3600 + 1, (london,)))
    assert result.due_ms[0] == utc(2026, 10, 24, 23, 30)
    assert first_run(result.due_ms) == 3 * 3600


def test_adelaide_half_hour_zone_over_its_fall_back_night():
    adelaide = "Australia/Adelaide"
    # 2026-04-05: 03:00 ACDT (+10:30) -> 02:00 ACST (+9:30); 01:30-03:30 is three hours
    settings = night("01:30", "03:30", adelaide, 7)
    result = plan_checked(settings, utc(2026, 4, 4, 12, 0), people(3 * 3600 + 1, (adelaide,)))
    assert result.due_ms[0] == utc(2026, 4, 4, 15, 0)
    assert first_run(result.due_ms) == 3 * 3600
    assert result.due_ms[3 * 3600 - 1] == utc(2026, 4, 4, 17, 59, 59)


def test_sydney_spring_forward_in_the_southern_hemisphere():
    sydney = "Australia/Sydney"
    # 2026-10-04: 02:00 AEST (+10) -> 03:00 AEDT (+11); 01:30-03:30 is one hour
    settings = night("01:30", "03:30", sydney, 7)
    result = plan_checked(settings, utc(2026, 10, 3, 12, 0), people(3601, (sydney,)))
    assert result.due_ms[0] == utc(2026, 10, 3, 15, 30)
    assert first_run(result.due_ms) == 3600
    assert is_allowed(settings, [sydney], utc(2026, 10, 3, 16, 0))  # 03:00 AEDT


def test_santiago_spring_forward_at_midnight_starts_the_day_at_01_00():
    santiago = "America/Santiago"
    # 2026-09-06: 00:00 (-04) -> 01:00 (-03); a whole-day Sunday window opens at 01:00
    settings = night("00:00", "24:00", santiago, 7)
    result = plan_checked(settings, utc(2026, 9, 5, 12, 0), people(1, (santiago,)))
    assert local(result.due_ms[0], santiago) == datetime(2026, 9, 6, 1, 0)


# --- preview ----------------------------------------------------------------------------------


def test_summary_gives_first_and_last_call_and_calls_per_day():
    settings = campaign(start_time="09:00", end_time="17:00", max_calls_per_day=2)
    result = plan_contacts(settings, utc(2026, 6, 3, 0, 0), people(3))
    summary = summarise(settings, result)
    assert summary.first_call_ms == utc(2026, 6, 3, 9, 0)
    assert summary.last_call_ms == utc(2026, 6, 4, 9, 0)
    assert summary.calls_per_day == {date(2026, 6, 3): 2, date(2026, 6, 4): 1}
    assert summary.unplaceable == []


def test_an_aware_datetime_start_is_the_same_as_epoch_ms():
    settings = campaign()
    start = datetime(2026, 6, 3, 12, 0, 0, 123000, tzinfo=UTC)
    by_datetime = plan_contacts(settings, start, people(2))
    by_ms = plan_contacts(settings, utc(2026, 6, 3, 12, 0) + 123, people(2))
    assert by_datetime.due_ms == by_ms.due_ms
    assert by_datetime.due_ms[0] == utc(2026, 6, 3, 12, 0) + 200
    assert timedelta(milliseconds=by_ms.due_ms[1] - by_ms.due_ms[0]) == timedelta(milliseconds=100)

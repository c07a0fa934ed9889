"""Why a planned contact is called later than the plan starts (`PlanResult.reasons`, the
contact's `reason`): the rule that held it back, one of `frequency_limit`, `legal_hours`,
`state_rule:<XX>`, `holiday:<calendar>`, `blackout_date`; none when only the campaign's own
hours (or its capacity) put it later. And the frequency limit's hold at planning: a reach
with `after:<ms>` is never planned before that instant."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from batchcalls.domain.planning import (
    PlanContact,
    contact_reach,
    delay_reason,
    is_allowed,
    plan_contacts,
)
from batchcalls.domain.planning_windows import not_before_of, split_reach
from batchcalls.models.campaign import CampaignSettings

NY, CHICAGO, LA = "America/New_York", "America/Chicago", "America/Los_Angeles"
MIAMI = "+13055550104"  # Florida: 08:00-20:00
HOUSTON = "+17135550104"  # Texas: Sunday from 12:00
MANHATTAN = "+12125550104"  # New York: no row


def at(zone: str, *parts: int) -> int:
    return int(datetime(*parts, tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def local(instant_ms: int, zone: str) -> datetime:
    return datetime.fromtimestamp(instant_ms / 1000, ZoneInfo(zone)).replace(tzinfo=None)


def settings_of(**fields: object) -> CampaignSettings:
    return CampaignSettings(**{"timezone": NY, "phone_numbers": ["+14155550100"], **fields})


def plan(
    settings: CampaignSettings,
    start_ms: int,
    numbers: list[str],
    not_before: dict[str, int] | None = None,
) -> tuple[dict[str, int], dict[str, str]]:
    """Due instants and reasons by number (contact id = number)."""
    contacts = [
        PlanContact(n, contact_reach(settings, [], n, None, (not_before or {}).get(n)))
        for n in numbers
    ]
    result = plan_contacts(settings, start_ms, contacts)
    return dict(zip(result.contact_ids, result.due_ms, strict=True)), result.reasons


def test_a_state_rule_that_delays_a_contact_is_its_reason() -> None:
    # Tuesday 20:30 in New York: Florida's hours are over, New York's are not
    due, reasons = plan(settings_of(), at(NY, 2026, 12, 1, 20, 30), [MIAMI, MANHATTAN])
    assert local(due[MIAMI], NY) == datetime(2026, 12, 2, 8, 0)
    assert reasons == {MIAMI: "state_rule:FL"}


def test_a_texas_sunday_is_the_reason_of_a_houston_contact() -> None:
    settings = settings_of(timezone=CHICAGO)
    due, reasons = plan(settings, at(CHICAGO, 2026, 12, 6, 10, 0), [HOUSTON])
    assert local(due[HOUSTON], CHICAGO) == datetime(2026, 12, 6, 12, 0)
    assert reasons == {HOUSTON: "state_rule:TX"}
    # On a Saturday nothing holds it back
    assert plan(settings, at(CHICAGO, 2026, 12, 5, 10, 0), [HOUSTON])[1] == {}


def test_a_holiday_calendar_is_the_reason_with_its_code() -> None:
    settings = settings_of(start_time="09:00", end_time="17:00", holiday_calendars=["US"])
    christmas = at(NY, 2026, 12, 25, 9, 0)
    due, reasons = plan(settings, christmas, [MANHATTAN])
    assert local(due[MANHATTAN], NY) == datetime(2026, 12, 26, 9, 0)
    assert reasons == {MANHATTAN: "holiday:US"}


def test_a_state_holiday_is_the_states_rule() -> None:
    # Louisiana bars its legal holidays: Martin Luther King Jr. Day, Monday 2027-01-18
    settings = settings_of(timezone=CHICAGO, start_time="09:00", end_time="17:00")
    new_orleans = "+15045550104"
    due, reasons = plan(settings, at(CHICAGO, 2027, 1, 18, 9, 0), [new_orleans, HOUSTON])
    assert local(due[new_orleans], CHICAGO) == datetime(2027, 1, 19, 9, 0)
    assert local(due[HOUSTON], CHICAGO) == datetime(2027, 1, 18, 9, 0)
    assert reasons == {new_orleans: "state_rule:LA"}


def test_a_blackout_date_is_the_reason() -> None:
    settings = settings_of(start_time="09:00", end_time="17:00", blackout_dates=["2026-12-01"])
    due, reasons = plan(settings, at(NY, 2026, 12, 1, 9, 0), [MANHATTAN])
    assert local(due[MANHATTAN], NY) == datetime(2026, 12, 2, 9, 0)
    assert reasons == {MANHATTAN: "blackout_date"}


def test_the_federal_guard_is_the_reason_legal_hours() -> None:
    # A 07:00-22:00 New York window: a Los Angeles contact waits for 08:00 in its zone
    settings = settings_of(start_time="07:00", end_time="22:00", respect_contact_timezone=False)
    seattle = "+12065550104"  # Washington: 08:00-20:00, but the guard binds first at 07:00
    contacts = [
        PlanContact("la", (LA,)),
        PlanContact("wa", contact_reach(settings, [], seattle, None)),
    ]
    result = plan_contacts(settings, at(NY, 2026, 12, 1, 7, 0), contacts)
    assert local(result.due_ms[0], LA) == datetime(2026, 12, 1, 8, 0)
    assert result.reasons == {"la": "legal_hours", "wa": "legal_hours"}


def test_the_campaigns_own_hours_and_capacity_are_no_reason() -> None:
    # Starting before the window opens, and a day cap that moves the second contact on
    settings = settings_of(start_time="09:00", end_time="17:00", max_calls_per_day=1)
    due, reasons = plan(settings, at(NY, 2026, 12, 1, 6, 0), [MANHATTAN, "+12125550105"])
    assert local(due["+12125550105"], NY) == datetime(2026, 12, 2, 9, 0)
    assert reasons == {}


def test_a_frequency_hold_plans_the_contact_from_its_instant_with_its_reason() -> None:
    settings = settings_of(start_time="09:00", end_time="17:00")
    start = at(NY, 2026, 12, 1, 9, 0)
    free_again = at(NY, 2026, 12, 1, 11, 30)
    due, reasons = plan(settings, start, [MANHATTAN, "+12125550105"], {MANHATTAN: free_again})
    assert due[MANHATTAN] == free_again
    assert due["+12125550105"] == start
    assert reasons == {MANHATTAN: "frequency_limit"}
    # past the window's end: the next day's window, still frequency_limit
    late = at(NY, 2026, 12, 1, 18, 0)
    due, reasons = plan(settings, start, [MANHATTAN], {MANHATTAN: late})
    assert local(due[MANHATTAN], NY) == datetime(2026, 12, 2, 9, 0)
    assert reasons == {MANHATTAN: "frequency_limit"}


def test_a_hold_that_ends_before_the_start_is_no_hold() -> None:
    settings = settings_of(start_time="09:00", end_time="17:00")
    start = at(NY, 2026, 12, 1, 9, 0)
    reach = contact_reach(settings, [], MANHATTAN, None, start - 1000)
    assert not_before_of(reach) == start - 1000
    result = plan_contacts(settings, start, [PlanContact("c", reach)])
    assert result.due_ms == [start]
    assert result.reasons == {}


def test_the_after_mark_keeps_zones_and_states_apart() -> None:
    settings = settings_of()
    reach = contact_reach(settings, [], MIAMI, None, 1_000)
    assert split_reach(reach) == ((NY,), ("FL",))
    assert not_before_of(reach) == 1_000
    assert not_before_of(contact_reach(settings, [], MIAMI, None)) is None
    held = contact_reach(settings, [], MIAMI, None, at(NY, 2026, 12, 1, 12, 0))
    assert not is_allowed(settings, held, at(NY, 2026, 12, 1, 10, 0))
    assert is_allowed(settings, held, at(NY, 2026, 12, 1, 12, 0))


def test_delay_reason_is_what_the_dial_records_on_a_re_plan() -> None:
    settings = settings_of()
    reach = contact_reach(settings, [], MIAMI, None)
    assert delay_reason(settings, at(NY, 2026, 12, 1, 20, 5), reach) == "state_rule:FL"
    assert delay_reason(settings, at(NY, 2026, 12, 1, 10, 0), reach) is None


def test_chunks_give_the_reasons_one_plan_gives() -> None:
    settings = settings_of(start_time="09:00", end_time="21:00", max_calls_per_day=3)
    start = at(NY, 2026, 12, 1, 20, 30)
    numbers = [MIAMI, MANHATTAN, "+13055550105", "+12125550105", "+13055550106"]
    contacts = [PlanContact(n, contact_reach(settings, [], n, None)) for n in numbers]
    whole = plan_contacts(settings, start, contacts)
    first = plan_contacts(settings, start, contacts[:2])
    second = plan_contacts(settings, start, contacts[2:], first.state)
    assert {**first.reasons, **second.reasons} == whole.reasons
    assert set(whole.reasons) == {MIAMI, "+13055550105", "+13055550106"}

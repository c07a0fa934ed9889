"""State calling-time rules applied by planning and at the dial (`state_rules`, default on):
a contact's allowed time is narrowed by the rules of its `state`, else its area code's."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from batchcalls.domain.planning import (
    PlanContact,
    allowed_until,
    contact_reach,
    is_allowed,
    plan_contacts,
)
from batchcalls.models.campaign import CampaignSettings

NY, CHICAGO = "America/New_York", "America/Chicago"
MIAMI = "+13055550104"  # area code 305: Florida, 08:00-20:00
HOUSTON = "+17135550104"  # area code 713: Texas, Sunday from 12:00
MANHATTAN = "+12125550104"  # New York: no row, federal hours only


def at(zone: str, *parts: int) -> int:
    return int(datetime(*parts, tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def local(instant_ms: int, zone: str) -> datetime:
    return datetime.fromtimestamp(instant_ms / 1000, ZoneInfo(zone)).replace(tzinfo=None)


def whole_day(**fields: object) -> CampaignSettings:
    return CampaignSettings(**{"timezone": NY, "phone_numbers": ["+14155550100"], **fields})


def first_call(
    settings: CampaignSettings, number: str, start_ms: int, state: str | None = None
) -> int:
    reach = contact_reach(settings, [], number, state)
    [due] = plan_contacts(settings, start_ms, [PlanContact("c", reach)]).due_ms
    return due


def test_a_florida_number_is_not_called_after_20_00_but_new_york_is() -> None:
    settings = whole_day()
    evening = at(NY, 2026, 12, 1, 20, 30)  # a Tuesday
    assert local(first_call(settings, MIAMI, evening), NY) == datetime(2026, 12, 2, 8, 0)
    assert local(first_call(settings, MANHATTAN, evening), NY) == datetime(2026, 12, 1, 20, 30)


def test_a_texas_number_waits_for_noon_on_sunday() -> None:
    settings = whole_day(timezone=CHICAGO)
    sunday_morning = at(CHICAGO, 2026, 12, 6, 10, 0)
    assert local(first_call(settings, HOUSTON, sunday_morning), CHICAGO) == datetime(
        2026, 12, 6, 12, 0
    )
    saturday_morning = at(CHICAGO, 2026, 12, 5, 10, 0)
    assert local(first_call(settings, HOUSTON, saturday_morning), CHICAGO) == datetime(
        2026, 12, 5, 10, 0
    )


def test_the_contacts_own_state_wins_over_its_area_code() -> None:
    settings = whole_day()
    evening = at(NY, 2026, 12, 1, 20, 30)
    # A Manhattan number whose owner lives in Florida, and a Miami number in New York
    assert local(first_call(settings, MANHATTAN, evening, "FL"), NY) == datetime(2026, 12, 2, 8, 0)
    assert local(first_call(settings, MIAMI, evening, "NY"), NY) == datetime(2026, 12, 1, 20, 30)


def test_state_rules_off_leaves_the_federal_hours_alone() -> None:
    settings = whole_day(state_rules=False)
    evening = at(NY, 2026, 12, 1, 20, 30)
    assert contact_reach(settings, [], MIAMI, None) == (NY,)
    assert local(first_call(settings, MIAMI, evening), NY) == datetime(2026, 12, 1, 20, 30)


def test_the_dial_checks_the_same_rules() -> None:
    settings = whole_day()
    reach = contact_reach(settings, [], MIAMI, None)
    assert is_allowed(settings, reach, at(NY, 2026, 12, 1, 19, 59))
    assert not is_allowed(settings, reach, at(NY, 2026, 12, 1, 20, 0))
    # a dial starting at 19:00 must end by 20:00
    assert allowed_until(settings, reach, at(NY, 2026, 12, 1, 19, 0)) == at(NY, 2026, 12, 1, 20, 0)

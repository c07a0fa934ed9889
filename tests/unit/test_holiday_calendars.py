"""`holiday_calendars`: no window starts on a calendar's public holidays, at planning and at
the dial, and only calendars the `holidays` package has are accepted."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from batchcalls.domain.holiday_calendars import check_calendar, holiday_dates
from batchcalls.domain.planning import PlanContact, is_allowed, plan_contacts
from batchcalls.models.campaign import CampaignSettings, CreateCampaignRequest
from pydantic import ValidationError

NY = "America/New_York"
NUMBERS = ["+14155550100"]


def at(zone: str, *parts: int) -> int:
    return int(datetime(*parts, tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def days_called(settings: CampaignSettings, start_ms: int, count: int) -> set[date]:
    result = plan_contacts(settings, start_ms, [PlanContact(f"c{i}", (NY,)) for i in range(count)])
    return {datetime.fromtimestamp(ms / 1000, ZoneInfo(NY)).date() for ms in result.due_ms}


def test_no_call_falls_on_a_federal_holiday_of_the_calendar() -> None:
    # Given a campaign of 10 calls a day from Thursday 2026-12-24, Christmas on the Friday
    base = {
        "timezone": NY,
        "start_time": "09:00",
        "end_time": "17:00",
        "max_calls_per_day": 10,
        "phone_numbers": NUMBERS,
    }
    start = at(NY, 2026, 12, 24, 9, 0)
    without = days_called(CampaignSettings(**base), start, 30)
    with_us = days_called(CampaignSettings(**base, holiday_calendars=["US"]), start, 30)
    # Then without a calendar Friday is called, with the US calendar it is skipped
    assert date(2026, 12, 25) in without
    assert date(2026, 12, 25) not in with_us
    assert sorted(with_us) == [date(2026, 12, 24), date(2026, 12, 26), date(2026, 12, 27)]


def test_a_state_holiday_comes_from_the_subdivision_calendar() -> None:
    # Texas Independence Day (2 March) is a Texas holiday, not a federal one
    texas = CampaignSettings(timezone=NY, holiday_calendars=["US-TX"], phone_numbers=NUMBERS)
    federal = CampaignSettings(timezone=NY, holiday_calendars=["US"], phone_numbers=NUMBERS)
    noon = at(NY, 2027, 3, 2, 12, 0)
    assert date(2027, 3, 2) in holiday_dates(["US-TX"], [2027])
    assert not is_allowed(texas, (NY,), noon)
    assert is_allowed(federal, (NY,), noon)


@pytest.mark.parametrize("code", ["us", "US-TX", "GB", "DE-BY"])
def test_calendars_the_package_has_are_accepted(code: str) -> None:
    assert check_calendar(code) == code.upper()


@pytest.mark.parametrize(
    ("code", "problem"),
    [("XX", "no holiday calendar"), ("US-ZZ", "no subdivision"), ("U S", "not a holiday")],
)
def test_an_unknown_calendar_is_refused_with_its_reason(code: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        CreateCampaignRequest.model_validate({"holiday_calendars": [code]})

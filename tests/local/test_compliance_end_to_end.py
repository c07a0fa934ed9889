"""End to end on the local stack: two campaigns over many US states and timezones, called
over several simulated days around Christmas (a federal holiday calendar, state
holidays, a Saturday and a Sunday), outcomes by the number's last digit with retries,
and the same numbers in both campaigns. Every call the provider received (`GET
/_local/provider/calls`) must lie inside its recipient's legal hours, judged here
independently from the rules table's CSV, the `holidays` package and the federal
08:00-21:00, and within its number's frequency limit in every rolling 24 hours.

To keep it quick, the minute schedules run five minutes in each hour and are skipped
the other fifty-five: calls that fell due meanwhile are dialled by the next tick, late,
which is when the dial's own checks must hold."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from batchcalls.domain.state_rules import RULES_CSV, states_with_rules

from local_stack import LocalStack

pytestmark = pytest.mark.slow

KEY = "key-compliance-e2e"
NY = "America/New_York"
START = datetime(2026, 12, 24, 13, 0, tzinfo=UTC)  # Thursday 08:00 in New York
HOURS = 80  # to Sunday 2026-12-27 17:00 in New York
TENANT_CAP = 4
DAY = timedelta(days=1)
# Area codes of 24 states in their timezones, Alaska and Hawaii too.
AREAS = [
    "305",
    "713",
    "504",
    "801",
    "206",
    "401",
    "405",
    "410",
    "205",
    "601",
    "605",
    "702",
    "402",
    "312",
    "502",
    "313",
    "212",
    "907",
    "808",
    "860",
    "617",
    "505",
    "612",
    "215",
]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(
        clock="simulated", clock_start=START, api_keys={KEY: "tenant_compliance_e2e"}
    )
    try:
        yield stack
    finally:
        stack.stop()


def api(stack: LocalStack, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
    answer = stack.request(method, path, body, api_key=KEY)
    assert answer.status == expect, f"{method} {path}: {answer.status} {answer.body[:400]!r}"
    return answer.json() if answer.body else None


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ----------------------------------------------------------------- the independent judge
def minute(hhmm: str) -> int | None:
    if hhmm in ("", "none"):
        return None
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@cache
def table() -> dict[str, dict[str, str]]:
    with RULES_CSV.open(encoding="utf-8") as rows:
        return {row["state"]: row for row in csv.DictReader(rows)}


@cache
def state_holidays(state: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("US", subdiv=state, years=year))


def state_allows(state: str, local: datetime) -> bool:
    """The row of the state allows a call starting at that local wall time."""
    row = table()[state]
    day = local.date()
    kind = {6: "sat", 7: "sun"}.get(day.isoweekday(), "mon_fri")
    if day in state_holidays(state, day.year):
        if row["barred_on_state_holidays"] == "true":
            return False
        if row["holidays_use_sunday_hours"] == "true":
            kind = "sun"
    start, end = minute(row[f"{kind}_start"]), minute(row[f"{kind}_end"])
    if start is None or end is None:
        return False
    return start <= local.hour * 60 + local.minute < end


def problems_of(call_at: datetime, zones: list[str], states: frozenset[str]) -> list[str]:
    found = []
    campaign_day = call_at.astimezone(ZoneInfo(NY)).date()
    if campaign_day in holidays.country_holidays("US", years=campaign_day.year):
        found.append(f"on {campaign_day}, a US holiday")
    for zone in zones:
        local = call_at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        if not 8 * 60 <= local.hour * 60 + local.minute < 21 * 60:
            found.append(f"{local:%a %H:%M} in {zone}: outside 08:00-21:00")
        for state in sorted(states):
            if not state_allows(state, local):
                found.append(f"{local:%a %Y-%m-%d %H:%M} in {zone}: barred in {state}")
    return found


def limit_of(states: frozenset[str]) -> int:
    caps = [int(table()[s]["max_calls_per_24h"]) for s in states if table()[s]["max_calls_per_24h"]]
    return min([TENANT_CAP, *caps])


# ----------------------------------------------------------------------------- the test
def test_a_campaign_over_many_states_and_zones_keeps_every_rule(stack: LocalStack) -> None:
    api(stack, "PATCH", "/settings", {"max_calls_per_number_per_24h": TENANT_CAP})
    # Per area: one that never answers (retried), one that answers (busy for every third
    # area); plus a Manhattan number whose owner lives in Florida and a Miami number used
    # in Los Angeles
    contacts: list[dict[str, Any]] = [
        {"phone_number": f"+1{area}555{n:03d}{digit}"}
        for n, area in enumerate(AREAS)
        for digit in (1, 2 if n % 3 == 0 else 4)
    ]
    contacts += [
        {"phone_number": "+12125559981", "state": "FL"},
        {"phone_number": "+13055559971", "timezone": "America/Los_Angeles"},
    ]
    settings = {
        "agent_id": "agent_1",
        "phone_numbers": ["+12025550100", "+12025550101"],
        "timezone": NY,
        "holiday_calendars": ["US"],
        "max_calls_per_second": 2,
        "retry_strategy": {"max_attempts": 5, "no_answer_delay": 1_800_000, "busy_delay": 900_000},
    }
    first = api(stack, "POST", "/batch-calls", {**settings, "contacts": contacts}, 201)
    # A second campaign with some of the numbers that never answer, an hour later
    again = [c for c in contacts if c["phone_number"].endswith("1")][::3]
    stack.advance(3600)
    second = api(stack, "POST", "/batch-calls", {**settings, "contacts": again}, 201)

    # When the days go by (Christmas Eve, Christmas, the weekend, Monday)
    for _ in range(HOURS):
        stack.faults.add(kind="skip_ticks", minutes=55)
        stack.advance(55 * 60)
        stack.faults.clear()
        stack.advance(5 * 60)

    # Then every call was placed inside its recipient's legal hours and limits
    calls = stack.request("GET", "/_local/provider/calls").json()["items"]
    recipients: dict[str, dict[str, Any]] = {}
    for campaign in (first, second):
        path = f"/batch-calls/{campaign['id']}/contacts?limit=1000"
        for contact in api(stack, "GET", path)["items"]:
            recipients[contact["phone_number"]] = contact
    given_state = {c["phone_number"]: c.get("state") for c in contacts}
    problems: list[str] = []
    times: dict[str, list[datetime]] = {}
    for call in calls:
        contact = recipients[call["to"]]
        states = states_with_rules(call["to"], given_state[call["to"]])
        at = instant(call["placed_at"])
        times.setdefault(call["to"], []).append(at)
        problems += [f"{call['to']}: {p}" for p in problems_of(at, contact["timezones"], states)]
    for number, placed in times.items():
        placed.sort()
        limit = limit_of(states_with_rules(number, given_state[number]))
        most = max(sum(1 for t in placed if start <= t < start + DAY) for start in placed)
        if most > limit:
            problems.append(f"{number}: {most} calls in 24 hours, limit {limit}")
    assert problems == []

    # and the rules were really in play: many calls, over several local days and zones,
    # none on Christmas, a Florida number that never answers called at its limit of 3 a
    # day by the two campaigns together, and contacts delayed by each kind of rule
    days = {instant(c["placed_at"]).astimezone(ZoneInfo(NY)).date() for c in calls}
    assert len(calls) > 150
    assert date(2026, 12, 25) not in days
    assert {date(2026, 12, 24), date(2026, 12, 26), date(2026, 12, 27)} <= days
    zones = {z for c in recipients.values() for z in c["timezones"]}
    assert len(zones) >= 6
    florida = times["+13055550001"]
    assert len(florida) == 9  # 3 on each calling day (the 25th is a holiday)
    assert max(sum(1 for t in florida if t.date() == d) for d in days) == 3
    reasons = set()
    for campaign in (first, second):
        listed = api(stack, "GET", f"/batch-calls/{campaign['id']}/contacts?limit=1000")["items"]
        reasons |= {c["reason"] for c in listed if c["reason"]}
        # Nothing silently lost: every contact ended, or waits for its next allowed time
        # with the rule that holds it back
        for contact in listed:
            if contact["status"] not in ("completed", "failed"):
                assert contact["status"] == "scheduled", contact
                assert contact["reason"] == "frequency_limit", contact
                assert instant(contact["scheduled_at"]) > stack.now(), contact
    assert {"frequency_limit", "legal_hours", "state_rule:TX", "state_rule:RI"} <= reasons
    texas = api(stack, "GET", f"/batch-calls/{first['id']}/contacts?reason=state_rule:TX")
    assert {c["phone_number"][2:5] for c in texas["items"]} == {"713"}

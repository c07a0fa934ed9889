"""Frequency limits at the dial: no number called more often than its limit in any rolling
24 hours (the tenant's `max_calls_per_number_per_24h` across its campaigns, and the
recipient's state limit such as Florida's 3), a call held back moved, never dropped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from local_stack import LocalStack
from tests.local.conftest import LOCAL_START

FLORIDA_KEY, CAPPED_KEY = "key-freq-fl", "key-freq-capped"
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(
        clock="simulated",
        clock_start=LOCAL_START,
        api_keys={FLORIDA_KEY: "tenant_freq_fl", CAPPED_KEY: "tenant_freq_capped"},
    )
    try:
        yield stack
    finally:
        stack.stop()


def api(
    stack: LocalStack, key: str, method: str, path: str, body: Any = None, expect: int = 200
) -> Any:
    answer = stack.request(method, path, body, api_key=key)
    assert answer.status == expect, f"{method} {path}: {answer.status} {answer.body[:400]!r}"
    return answer.json() if answer.body else None


def call_times(stack: LocalStack, number: str) -> list[datetime]:
    return sorted(
        datetime.fromisoformat(c["placed_at"].replace("Z", "+00:00"))
        for c in stack.provider.calls()
        if c["to"] == number
    )


def quietly(stack: LocalStack, hours: float) -> None:
    """Let hours go by without the minute schedules (nothing is due meanwhile): days of
    simulated time in seconds of real time. The first tick after catches up."""
    stack.faults.add(kind="skip_ticks", minutes=int(hours * 60))
    stack.advance(hours * 3600)
    stack.faults.clear()


def most_in_a_day(times: list[datetime]) -> int:
    return max(sum(1 for t in times if start <= t < start + DAY) for start in times)


def test_the_tenants_settings_are_read_and_changed(stack: LocalStack) -> None:
    assert api(stack, CAPPED_KEY, "GET", "/settings") == {"max_calls_per_number_per_24h": None}
    changed = api(stack, CAPPED_KEY, "PATCH", "/settings", {"max_calls_per_number_per_24h": 1})
    assert changed == {"max_calls_per_number_per_24h": 1}
    assert api(stack, CAPPED_KEY, "GET", "/settings") == changed
    assert api(stack, FLORIDA_KEY, "GET", "/settings") == {"max_calls_per_number_per_24h": None}
    api(stack, CAPPED_KEY, "PATCH", "/settings", {"max_calls_per_number_per_24h": 0}, 422)


def test_a_florida_number_is_called_at_most_3_times_in_24_hours_even_with_retries(
    stack: LocalStack,
) -> None:
    # Given a Miami number that never answers, 5 attempts a minute apart
    number = "+13055550111"
    campaign = api(
        stack,
        FLORIDA_KEY,
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "timezone": "America/New_York",
            "retry_strategy": {"max_attempts": 5, "no_answer_delay": 60_000, "busy_delay": 60_000},
            "contacts": [{"phone_number": number}],
        },
        201,
    )
    # When a day goes by
    stack.advance(3600)
    held = api(stack, FLORIDA_KEY, "GET", f"/batch-calls/{campaign['id']}/contacts")["items"][0]
    quietly(stack, 22)
    stack.advance(3 * 3600)
    # Then it was called 3 times on the first day, then held back until the first call was
    # a day old (the 4th is moved, not dropped), never more than 3 in any 24 hours
    times = call_times(stack, number)
    assert len(times) == 5
    assert most_in_a_day(times) == 3
    assert times[3] >= times[0] + DAY
    assert (held["status"], held["reason"], held["attempts"]) == ("scheduled", "frequency_limit", 3)


def test_the_tenants_cap_holds_across_its_campaigns(stack: LocalStack) -> None:
    # Given the tenant's cap of one call a day, and one New York number in two campaigns
    api(stack, CAPPED_KEY, "PATCH", "/settings", {"max_calls_per_number_per_24h": 1})
    number = "+12125550134"
    for _ in range(2):
        api(
            stack,
            CAPPED_KEY,
            "POST",
            "/batch-calls",
            {
                "agent_id": "agent_1",
                "phone_numbers": ["+12025550100"],
                "contacts": [{"phone_number": number}],
            },
            201,
        )
    # When a day goes by
    stack.advance(600)
    quietly(stack, 23.5)
    stack.advance(3600)
    # Then the number was called once a day: the second campaign's call a day later
    times = call_times(stack, number)
    assert len(times) == 2
    assert times[1] - times[0] >= DAY

"""A fresh deployment: calls planned before the dispatcher's very first tick are placed,
whether that tick comes at once or an hour late (its rule off, its first invocations
failing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from aws_lambda_powertools.utilities import parameters

from local_stack import LocalStack
from tests.local.conftest import LIVE_KEYS, LOCAL_START
from tests.local.test_delivery_guarantees import calls, campaign, contacts, create, iso, ms

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_stack() -> Iterator[LocalStack]:
    # Powertools caches the provider secret per process; this stack has its own (see
    # fresh_provider_secret in test_delivery_guarantees).
    parameters.clear_caches()
    stack = LocalStack.start(clock="simulated", clock_start=LOCAL_START, api_keys=LIVE_KEYS)
    try:
        yield stack
    finally:
        stack.stop()
        parameters.clear_caches()


def test_calls_planned_before_the_first_tick_ever_are_placed(fresh_stack):
    # Given a stack on which the dispatcher has never run, and an immediate campaign
    # created at once (its calls due before the first tick)
    stack = fresh_stack
    assert stack.functions["DispatcherFunction"].invocations == 0
    phones = ["+12025550234", "+12025550235"]
    campaign_id = create(stack, {"contacts": [{"phone_number": p} for p in phones]})
    planned = {p: ms(c["scheduled_at"]) for p, c in contacts(stack, campaign_id).items()}
    assert max(planned.values()) < ms("2026-11-30T14:01:00Z")

    # When the clock runs three minutes
    stack.advance(180)

    # Then every contact was called, none before its time
    placed = calls(stack, campaign_id)
    assert sorted(c["to"] for c in placed) == sorted(phones)
    assert all(ms(c["placed_at"]) >= planned[c["to"]] for c in placed)
    assert campaign(stack, campaign_id)["status"] == "completed"


def test_calls_planned_long_before_a_late_first_tick_are_placed(fresh_stack):
    # Given a stack whose dispatcher does not run for its first hour, and a campaign
    # created at once for ten minutes later (its calls left to the ticks: only calls due
    # before the next tick are sent by the planner itself)
    stack = fresh_stack
    stack.faults.add(kind="skip_ticks", minutes=60, function="DispatcherFunction")
    phones = ["+12025550236", "+12025550237"]
    campaign_id = create(
        stack,
        {
            "schedule_type": "scheduled",
            "scheduled_at": iso(stack.now() + timedelta(minutes=10)),
            "contacts": [{"phone_number": p} for p in phones],
        },
    )
    planned = {p: ms(c["scheduled_at"]) for p, c in contacts(stack, campaign_id).items()}
    stack.advance(50 * 60)
    assert stack.functions["DispatcherFunction"].invocations == 0
    assert calls(stack, campaign_id) == []

    # When the dispatcher runs at last, its first tick 50 minutes after the calls' time
    stack.advance(15 * 60)

    # Then every contact was called, late but once, and the campaign completed
    placed = calls(stack, campaign_id)
    assert sorted(c["to"] for c in placed) == sorted(phones)
    assert all(ms(c["placed_at"]) >= planned[c["to"]] + 45 * 60_000 for c in placed)
    assert campaign(stack, campaign_id)["status"] == "completed"

"""A fresh deployment: calls planned before the dispatcher's very first tick are placed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aws_lambda_powertools.utilities import parameters

from local_stack import LocalStack
from tests.local.conftest import LIVE_KEYS, LOCAL_START
from tests.local.test_delivery_guarantees import calls, campaign, contacts, create, ms

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
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

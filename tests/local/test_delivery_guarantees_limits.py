"""Delivery rules that need a stack of their own: the provider-wide call limit (a
deployment setting, the template's ProviderWideCallLimit, here 2) shared by campaigns of
different priority, and a call whose outcome never arrives (DeliverySettings'
call_timeout_seconds: 3600 s by default, which neither the template nor the local stack
changes; this stack sets CALL_TIMEOUT_SECONDS=600 so that the test runs ten simulated
minutes of ticks instead of sixty).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from local_stack import LocalStack
from local_stack.provider import sign
from tests.local.conftest import LIVE_KEYS, LOCAL_START
from tests.local.test_delivery_guarantees import (
    call_webhooks,
    calls,
    campaign,
    contacts,
    create,
    iso,
    minute_after_next,
    ms,
    peak_concurrency,
    webhooks_to,
)

pytestmark = pytest.mark.slow
PROVIDER_WIDE_CALL_LIMIT = 2
CALL_TIMEOUT_SECONDS = 600  # DeliverySettings.call_timeout_seconds (default 3600)


@pytest.fixture(scope="module")
def limited_stack() -> Iterator[LocalStack]:
    # Powertools caches the provider secret per process; this stack has its own (see
    # fresh_provider_secret in test_delivery_guarantees).
    parameters.clear_caches()
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("CALL_TIMEOUT_SECONDS", str(CALL_TIMEOUT_SECONDS))
        stack = LocalStack.start(
            clock="simulated",
            clock_start=LOCAL_START,
            api_keys=LIVE_KEYS,
            parameters={"ProviderWideCallLimit": str(PROVIDER_WIDE_CALL_LIMIT)},
        )
        try:
            yield stack
        finally:
            stack.stop()
            parameters.clear_caches()


@pytest.fixture
def provider(limited_stack):
    def configure(**settings: Any) -> None:
        answer = limited_stack.request("POST", "/_local/provider/settings", settings)
        assert answer.status == 200, answer.json()

    yield configure
    configure(call_seconds=60, reject_from=[], drop_callbacks=False)


def test_the_provider_wide_limit_serves_the_higher_priority_first(limited_stack, provider):
    # Given two campaigns sharing a provider-wide limit of two live calls (30 s each): a
    # low-priority one whose four calls are due first, then a high-priority one whose
    # four calls are due five seconds later
    stack = limited_stack
    provider(call_seconds=30)
    start = minute_after_next(stack)

    def scheduled(priority: int, offset: int, phones: list[str]) -> str:
        return create(
            stack,
            {
                "schedule_type": "scheduled",
                "scheduled_at": iso(start + timedelta(seconds=offset)),
                "priority": priority,
                "max_calls_per_second": 1,
                "contacts": [{"phone_number": p} for p in phones],
            },
        )

    low = scheduled(2, 0, [f"+1202555020{d}" for d in (4, 5, 6, 7)])
    high = scheduled(9, 5, [f"+1202555021{d}" for d in (4, 5, 6, 7)])
    due = {
        c["id"]: ms(c["scheduled_at"])
        for campaign_id in (low, high)
        for c in contacts(stack, campaign_id).values()
    }

    # When the clock runs until both are done
    stack.advance((start - stack.now()).total_seconds() + 5 * 60)

    # Then every call was placed, never more than two live at once (over every call of
    # the stack, these two campaigns' calls included)
    low_calls, high_calls = calls(stack, low), calls(stack, high)
    assert len(low_calls) == len(high_calls) == 4
    everything = stack.request("GET", "/_local/provider/calls").json()["items"]
    assert peak_concurrency(everything) <= PROVIDER_WIDE_CALL_LIMIT
    assert campaign(stack, low)["status"] == campaign(stack, high)["status"] == "completed"

    # and no low-priority call took a place while a high-priority call was waiting for one
    for call in low_calls:
        placed = ms(call["placed_at"])
        waiting = [h for h in high_calls if due[h["contact_id"]] <= placed < ms(h["placed_at"])]
        assert not waiting, (call, waiting)
    # and the high-priority calls, due later, were placed before the low ones still waiting
    first_two = sorted(low_calls + high_calls, key=lambda c: ms(c["placed_at"]))[:2]
    assert {c["batch_id"] for c in first_two} == {low}
    later_low = [c for c in low_calls if c not in first_two]
    assert max(ms(c["placed_at"]) for c in high_calls) <= min(ms(c["placed_at"]) for c in later_low)
    # and within a campaign the waiting calls went in scheduled_at order
    for placed in (low_calls, high_calls):
        order = sorted(placed, key=lambda c: ms(c["placed_at"]))
        assert [due[c["contact_id"]] for c in order] == sorted(due[c["contact_id"]] for c in order)


def test_a_call_whose_outcome_never_arrives_ends_unknown_and_frees_its_place(
    limited_stack, provider
):
    # Given a campaign of one live call at a time: a number that never answers (three
    # attempts allowed) and one that answers; the provider loses the first call's outcome
    stack = limited_stack
    provider(call_seconds=10, drop_callbacks=True)
    tag = "unknown"
    silent, answering = "+12025550221", "+12025550224"
    start = minute_after_next(stack)
    campaign_id = create(
        stack,
        {
            "schedule_type": "scheduled",
            "scheduled_at": iso(start),
            "max_concurrent_calls": 1,
            "max_calls_per_second": 1,
            "retry_strategy": {"max_attempts": 3, "no_answer_delay": 0, "busy_delay": 0},
            "webhooks": webhooks_to(stack, tag),
            "contacts": [{"phone_number": silent}, {"phone_number": answering}],
        },
    )
    stack.advance((start - stack.now()).total_seconds() + 15)
    [lost] = calls(stack, campaign_id)
    assert (lost["to"], lost["status"], lost["callback_status"]) == (silent, "no_answer", "dropped")
    provider(drop_callbacks=False)

    # When the clock runs past the call timeout
    stack.advance(CALL_TIMEOUT_SECONDS + 90)

    # Then the contact ended failed with the outcome unknown, and was not dialled again
    final = contacts(stack, campaign_id)
    assert (final[silent]["status"], final[silent]["last_outcome"]) == ("failed", "unknown")
    assert final[silent]["attempts"] == 1
    placed = calls(stack, campaign_id)
    assert [c["to"] for c in placed] == [silent, answering]
    # and its place went to the waiting call once the timeout passed (at the next tick)
    timed_out = ms(lost["placed_at"]) + CALL_TIMEOUT_SECONDS * 1000
    assert timed_out <= ms(placed[1]["placed_at"]) <= timed_out + 61_000
    assert final[answering]["status"] == "completed"
    # and call.completed told the unknown outcome
    hooks = call_webhooks(stack, tag)
    assert sorted((h["phoneNumber"], h["attempt"], h["status"]) for h in hooks) == [
        (silent, 1, "UNKNOWN"),
        (answering, 1, "COMPLETED"),
    ]
    assert campaign(stack, campaign_id)["status"] == "completed"

    # When the lost outcome arrives after all
    body = json.dumps({"call_id": lost["call_id"], "status": "no_answer"}).encode()
    answer = stack.request(
        "POST",
        "/provider/events",
        body,
        headers={"X-Signature": sign(stack.provider_secret, int(stack.now().timestamp()), body)},
    )
    assert answer.status == 200, answer.json()
    stack.advance(120)

    # Then nothing changes: no retry, no second webhook
    assert len(calls(stack, campaign_id)) == 2
    assert contacts(stack, campaign_id)[silent]["last_outcome"] == "unknown"
    assert len(call_webhooks(stack, tag)) == 2

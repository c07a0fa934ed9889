"""The do-not-call list on the local stack: the API, and that a suppressed number is never
dialled, whenever it was suppressed (before planning, after it, while its call was
queued, by an opt-out in another campaign), and that no call is placed when the check
cannot be made."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from local_stack import LocalStack
from tests.local.conftest import LOCAL_START

KEY, TENANT = "key-dnc", "tenant_dnc"
OTHER_KEY = "key-dnc-other"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(
        clock="simulated",
        clock_start=LOCAL_START,
        api_keys={KEY: TENANT, OTHER_KEY: "tenant_dnc_other"},
    )
    try:
        yield stack
    finally:
        stack.stop()


def api(
    stack: LocalStack, method: str, path: str, body: Any = None, expect: int = 200, key: str = KEY
) -> Any:
    answer = stack.request(method, path, body, api_key=key)
    assert answer.status == expect, f"{method} {path}: {answer.status} {answer.body[:400]!r}"
    return answer.json() if answer.body else None


def iso(instant: Any) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def campaign(stack: LocalStack, numbers: list[str], **fields: Any) -> str:
    body = {
        "agent_id": "agent_1",
        "phone_numbers": ["+12025550100"],
        "contacts": [{"phone_number": n} for n in numbers],
        **fields,
    }
    return str(api(stack, "POST", "/batch-calls", body, 201)["id"])


def dialled(stack: LocalStack, number: str) -> int:
    return sum(1 for call in stack.provider.calls() if call["to"] == number)


def contact_of(stack: LocalStack, campaign_id: str, number: str) -> dict[str, Any]:
    items = api(stack, "GET", f"/batch-calls/{campaign_id}/contacts")["items"]
    return next(c for c in items if c["phone_number"] == number)


def test_the_list_is_kept_per_tenant_through_the_api(stack: LocalStack) -> None:
    # Given numbers in any format, a bad one and a repeat
    answer = api(
        stack,
        "POST",
        "/suppressions",
        {"phone_numbers": ["+1 212 555 0701", "+12125550702", "12", "+12125550701"]},
    )
    assert answer == {
        "added": 2,
        "already_suppressed": 1,
        "invalid": [{"index": 2, "phone_number": "12", "problem": answer["invalid"][0]["problem"]}],
    }
    # Then they are listed in pages with their source and time, for this tenant only
    first = api(stack, "GET", "/suppressions?limit=1")
    second = api(stack, "GET", f"/suppressions?limit=1&cursor={first['next_cursor']}")
    listed = first["items"] + second["items"]
    assert [(s["phone_number"], s["source"]) for s in listed] == [
        ("+12125550701", "api"),
        ("+12125550702", "api"),
    ]
    assert listed[0]["created_at"] == iso(LOCAL_START)[:19] + ".000Z"
    assert api(stack, "GET", "/suppressions", key=OTHER_KEY)["items"] == []
    # and one is taken off (the path's + spelled either way); an unknown one is a 404
    api(stack, "DELETE", "/suppressions/%2B12125550702", expect=204)
    api(stack, "DELETE", "/suppressions/+12125550702", expect=404)
    api(stack, "DELETE", "/suppressions/+12125550701", expect=404, key=OTHER_KEY)
    assert [s["phone_number"] for s in api(stack, "GET", "/suppressions")["items"]] == [
        "+12125550701"
    ]
    assert api(stack, "POST", "/suppressions", {"phone_numbers": []}, 422)


def test_a_number_suppressed_before_planning_is_skipped_and_never_dialled(
    stack: LocalStack,
) -> None:
    api(stack, "POST", "/suppressions", {"phone_numbers": ["+12125550714"]})
    campaign_id = campaign(stack, ["+12125550714", "+12125550724"])
    stack.advance(600)
    skipped = contact_of(stack, campaign_id, "+12125550714")
    assert (skipped["status"], skipped["reason"]) == ("skipped", "suppressed")
    assert dialled(stack, "+12125550714") == 0
    assert dialled(stack, "+12125550724") == 1
    assert api(stack, "GET", f"/batch-calls/{campaign_id}")["status"] == "completed"
    # and the listing filters by the reason
    filtered = api(stack, "GET", f"/batch-calls/{campaign_id}/contacts?reason=suppressed")
    assert [c["phone_number"] for c in filtered["items"]] == ["+12125550714"]
    assert api(stack, "GET", f"/batch-calls/{campaign_id}/contacts?reason=holiday")["items"] == []


def test_a_number_suppressed_after_planning_or_while_queued_is_never_dialled(
    stack: LocalStack,
) -> None:
    # Given two contacts planned 5 minutes ahead (a tick queues them with a delay)
    start = stack.now() + timedelta(minutes=5)
    campaign_id = campaign(
        stack,
        ["+12125550734", "+12125550744"],
        schedule_type="scheduled",
        scheduled_at=iso(start),
        max_calls_per_second=1,
    )
    assert contact_of(stack, campaign_id, "+12125550734")["status"] == "scheduled"
    # When one is suppressed while planned, and the other once its call is queued
    api(stack, "POST", "/suppressions", {"phone_numbers": ["+12125550734"]})
    stack.advance(start.timestamp() - stack.now().timestamp() - 10)
    assert contact_of(stack, campaign_id, "+12125550744")["status"] == "queued"
    api(stack, "POST", "/suppressions", {"phone_numbers": ["+12125550744"]})
    stack.advance(600)
    # Then neither is dialled: both skipped as suppressed, and the campaign completes
    for number in ("+12125550734", "+12125550744"):
        found = contact_of(stack, campaign_id, number)
        assert (found["status"], found["reason"]) == ("skipped", "suppressed")
        assert dialled(stack, number) == 0
    assert api(stack, "GET", f"/batch-calls/{campaign_id}")["status"] == "completed"


def test_an_opt_out_in_one_campaign_stops_every_campaign_of_the_tenant(stack: LocalStack) -> None:
    # Given the same number (ending 99: the callee asks not to be called) in campaign A
    # now and in campaign B an hour later
    number = "+12125550799"
    later = campaign(
        stack,
        [number],
        schedule_type="scheduled",
        scheduled_at=iso(stack.now() + timedelta(hours=1)),
    )
    first = campaign(stack, [number])
    # When A's call ends with opt_out
    stack.advance(2 * 3600)
    # Then the number is suppressed (source opt_out) and B never dials it
    assert dialled(stack, number) == 1
    assert contact_of(stack, first, number)["reason"] == "opt_out"
    found = contact_of(stack, later, number)
    assert (found["status"], found["reason"]) == ("skipped", "suppressed")
    listed = {s["phone_number"]: s["source"] for s in api(stack, "GET", "/suppressions")["items"]}
    assert listed[number] == "opt_out"


def test_no_call_is_placed_while_the_suppression_check_cannot_be_made(
    stack: LocalStack, faults: Any
) -> None:
    # Given the transaction that checks the list and starts the call refused three times
    refused = faults.add(
        kind="aws_error",
        function="CallerFunction",
        operation="TransactWriteItems",
        service="dynamodb",
        error="internal",
        count=3,
    )
    number = "+12125550754"
    campaign_id = campaign(stack, [number])
    # When the caller runs into it
    stack.advance(30)
    # Then no call was placed while it failed, and the call is placed once it works
    assert refused.fired >= 1
    stack.advance(1800)
    assert dialled(stack, number) == 1
    assert contact_of(stack, campaign_id, number)["status"] == "completed"

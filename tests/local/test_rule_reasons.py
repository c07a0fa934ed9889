"""A call the dial moves records the rule that moved it, as planning does: a Miami call
due two seconds before Florida's 20:00 is too late to dial, and is planned again for the
next morning with `reason: state_rule:FL` (a New York call at the same instant is placed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local_stack import LocalStack

KEY = "key-rule-reasons"
NY = "America/New_York"
# Monday 2026-11-30 19:59:58 in New York: Florida's hours end in two seconds.
START = datetime(2026, 12, 1, 0, 59, 58, tzinfo=UTC)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(clock="simulated", clock_start=START, api_keys={KEY: "tenant_reasons"})
    try:
        yield stack
    finally:
        stack.stop()


def api(stack: LocalStack, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
    answer = stack.request(method, path, body, api_key=KEY)
    assert answer.status == expect, f"{method} {path}: {answer.status} {answer.body[:400]!r}"
    return answer.json() if answer.body else None


def test_a_call_the_dial_moves_for_a_state_rule_records_it(stack: LocalStack) -> None:
    miami, manhattan = "+13055550144", "+12125550144"
    campaign = api(
        stack,
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "timezone": NY,
            "contacts": [{"phone_number": miami}, {"phone_number": manhattan}],
        },
        201,
    )
    stack.advance(1)
    contacts = {
        c["phone_number"]: c
        for c in api(stack, "GET", f"/batch-calls/{campaign['id']}/contacts")["items"]
    }
    assert [c["to"] for c in stack.provider.calls()] == [manhattan], contacts
    moved = contacts[miami]
    assert (moved["status"], moved["reason"]) == ("scheduled", "state_rule:FL")
    assert moved["scheduled_at"] == "2026-12-01T13:00:00.000Z"  # Tuesday 08:00 in New York
    assert contacts[manhattan]["reason"] is None

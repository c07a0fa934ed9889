"""POST /batch-calls/{id}/preview: what planning now would do, written nowhere, and equal to
the plan scheduling makes right after it (same settings, same clock)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from local_stack import LocalStack
from tests.local.conftest import LOCAL_START

KEY = "key-preview"
FREQ_KEY = "key-preview-freq"  # a tenant with max_calls_per_number_per_24h
NY = "America/New_York"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(
        clock="simulated",
        clock_start=LOCAL_START,
        api_keys={KEY: "tenant_preview", FREQ_KEY: "tenant_preview_freq"},
    )
    try:
        yield stack
    finally:
        stack.stop()


def api(
    stack: LocalStack,
    method: str,
    path: str,
    body: Any = None,
    expect: int = 200,
    key: str = KEY,
) -> Any:
    answer = stack.request(method, path, body, api_key=key)
    assert answer.status == expect, f"{method} {path}: {answer.status} {answer.body[:400]!r}"
    return answer.json() if answer.body else None


def draft(stack: LocalStack, contacts: list[str]) -> str:
    body = {
        "status": "draft",
        "agent_id": "agent_1",
        "phone_numbers": ["+12025550100"],
        "timezone": NY,
        "start_time": "09:00",
        "end_time": "17:00",
        "max_calls_per_day": 12,
        "max_calls_per_second": 1,
        "holiday_calendars": ["US"],
        "contacts": [{"phone_number": n} for n in contacts],
    }
    return str(api(stack, "POST", "/batch-calls", body, 201)["id"])


def contacts_of(stack: LocalStack, campaign_id: str) -> list[dict[str, Any]]:
    return api(stack, "GET", f"/batch-calls/{campaign_id}/contacts?limit=1000")["items"]


def test_the_preview_is_the_plan_scheduling_then_makes(stack: LocalStack) -> None:
    # Given a draft of 30 contacts (New York, Florida and Texas numbers), 12 calls a day,
    # one of them on the do-not-call list
    numbers = [f"+1{area}555{n:04d}" for n in range(10) for area in ("212", "305", "713")]
    api(stack, "POST", "/suppressions", {"phone_numbers": [numbers[4]]})
    campaign_id = draft(stack, numbers)
    # When it is previewed, then scheduled at the same instant
    preview = api(stack, "POST", f"/batch-calls/{campaign_id}/preview")
    assert [c["status"] for c in contacts_of(stack, campaign_id)] == ["pending"] * 30
    api(stack, "POST", f"/batch-calls/{campaign_id}/schedule", expect=202)
    stack.run_due()
    # Then the plan is what the preview said, call for call
    contacts = contacts_of(stack, campaign_id)
    # (the first calls may be dialled already: their planned time stays on the contact)
    due = sorted(c["scheduled_at"] for c in contacts if c["status"] != "skipped")
    days = Counter(
        datetime.fromisoformat(d.replace("Z", "+00:00")).astimezone(ZoneInfo(NY)).date().isoformat()
        for d in due
    )
    skipped = [(c["id"], c["reason"]) for c in contacts if c["status"] == "skipped"]
    assert preview["first_call_at"] == due[0]
    assert preview["last_call_at"] == preview["finish_estimate"] == due[-1]
    assert preview["calls_per_day"] == dict(sorted(days.items()))
    assert sum(preview["calls_per_day"].values()) == 29
    assert preview["unplaceable_counts"] == {"suppressed": 1}
    assert [(u["contact_id"], u["reason"]) for u in preview["unplaceable"]] == skipped
    assert (preview["contacts_previewed"], preview["more_contacts"]) == (30, False)


def test_a_preview_with_other_settings_changes_nothing(stack: LocalStack) -> None:
    campaign_id = draft(stack, [f"+1212555{n:04d}" for n in range(100, 124)])
    before = api(stack, "GET", f"/batch-calls/{campaign_id}")
    # When previewed with twice the daily cap, and with a Friday holiday calendar
    own = api(stack, "POST", f"/batch-calls/{campaign_id}/preview", {})
    wider = api(stack, "POST", f"/batch-calls/{campaign_id}/preview", {"max_calls_per_day": 24})
    # Then the figures follow the settings given, and the campaign is as it was
    assert list(own["calls_per_day"].values()) == [12, 12]
    assert list(wider["calls_per_day"].values()) == [24]
    after = api(stack, "GET", f"/batch-calls/{campaign_id}")
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    assert {c["status"] for c in contacts_of(stack, campaign_id)} == {"pending"}


def test_a_preview_of_bad_settings_or_of_no_campaign_is_refused(stack: LocalStack) -> None:
    campaign_id = draft(stack, ["+12125550999"])
    bad = stack.request(
        "POST", f"/batch-calls/{campaign_id}/preview", {"start_time": "25:00"}, api_key=KEY
    )
    assert bad.status == 422
    assert bad.json()["error"]["details"][0]["field"].endswith("start_time")
    assert (
        stack.request(
            "POST", "/batch-calls/batch_00000000000000000000/preview", {}, api_key=KEY
        ).status
        == 404
    )


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_the_preview_holds_the_frequency_limits_as_the_plan_does(stack: LocalStack) -> None:
    # Given a tenant capped at 2 calls per number in 24 hours, whose campaign A called a
    # Miami and a Manhattan number twice each (they never answer; the third attempt waits)
    api(stack, "PATCH", "/settings", {"max_calls_per_number_per_24h": 2}, key=FREQ_KEY)
    miami, manhattan, fresh = "+13055550201", "+12125550201", "+12125550204"
    first = {
        "agent_id": "agent_1",
        "phone_numbers": ["+12025550100"],
        "timezone": NY,
        "retry_strategy": {"max_attempts": 3, "no_answer_delay": 60_000},
        "contacts": [{"phone_number": miami}, {"phone_number": manhattan}],
    }
    api(stack, "POST", "/batch-calls", first, 201, key=FREQ_KEY)
    stack.advance(600)
    called = {
        n: sorted(ms(c["placed_at"]) for c in stack.provider.calls() if c["to"] == n)
        for n in (miami, manhattan)
    }
    assert [len(times) for times in called.values()] == [2, 2]
    # When campaign B with both numbers and a fresh one is previewed, then scheduled
    second = {**first, "status": "draft", "retry_strategy": {"max_attempts": 1}}
    second["contacts"] = [{"phone_number": n} for n in (miami, manhattan, fresh)]
    campaign_id = api(stack, "POST", "/batch-calls", second, 201, key=FREQ_KEY)["id"]
    preview = api(stack, "POST", f"/batch-calls/{campaign_id}/preview", key=FREQ_KEY)
    api(stack, "POST", f"/batch-calls/{campaign_id}/schedule", expect=202, key=FREQ_KEY)
    stack.run_due()
    # Then planning held the numbers at their limit until their first call is a day old
    # (the log of calls placed, every campaign of the tenant), with the rule as reason,
    # and the preview said so beforehand
    path = f"/batch-calls/{campaign_id}/contacts?limit=100"
    contacts = {c["phone_number"]: c for c in api(stack, "GET", path, key=FREQ_KEY)["items"]}
    for number in (miami, manhattan):
        due = ms(contacts[number]["scheduled_at"])
        assert called[number][0] + DAY_MS <= due < called[number][0] + DAY_MS + 1000
        assert (contacts[number]["status"], contacts[number]["reason"]) == (
            "scheduled",
            "frequency_limit",
        )
    assert contacts[fresh]["reason"] is None
    due = sorted(c["scheduled_at"] for c in contacts.values())
    assert (preview["first_call_at"], preview["last_call_at"]) == (due[0], due[-1])
    assert list(preview["calls_per_day"].values()) == [1, 2]
    assert preview["delayed_counts"] == {"frequency_limit": 2}
    held = api(stack, "GET", f"{path}&reason=frequency_limit", key=FREQ_KEY)["items"]
    assert sorted(c["phone_number"] for c in held) == sorted([miami, manhattan])

"""A whole campaign on the local stack: its events on the bus (every kind a campaign emits,
with their bodies) and its analytics, checked against the simulated provider's log.

(import.completed and import.failed are checked in test_contact_files.py.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from local_stack import LocalStack
from tests.local.conftest import LOCAL_START
from tests.local.helpers import CALL_COMPLETED_FIELDS

pytestmark = pytest.mark.slow

KEY, TENANT = "key-events", "tenant_events"
ZONE = "America/New_York"
# By last digit: 4 and 5 completed, 1 no answer, 2 busy, 3 failed (API.md "Provider").
NUMBERS = ["+12125550104", "+12125550111", "+12125550122", "+12125550133", "+12125550145"]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(clock="simulated", clock_start=LOCAL_START, api_keys={KEY: TENANT})
    try:
        yield stack
    finally:
        stack.stop()


def api(stack: LocalStack, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
    answer = stack.request(method, path, body, api_key=KEY)
    assert answer.status == expect, f"{method} {path}: {answer.status} {answer.body[:400]!r}"
    return answer.json() if answer.body else None


def create(stack: LocalStack, **fields: Any) -> str:
    body = {
        "agent_id": "agent_1",
        "phone_numbers": ["+12125550100"],
        "timezone": ZONE,
        "contacts": [{"phone_number": n} for n in NUMBERS],
        **fields,
    }
    return api(stack, "POST", "/batch-calls", body, 201)["id"]


def run_until(stack: LocalStack, campaign_id: str, statuses: set[str], minutes: int) -> str:
    for _ in range(minutes):
        status = api(stack, "GET", f"/batch-calls/{campaign_id}")["status"]
        if status in statuses:
            return status
        stack.advance(60)
    return api(stack, "GET", f"/batch-calls/{campaign_id}")["status"]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_whole_campaign_has_analytics_equal_to_the_providers_log_and_its_events(stack, bus):
    # Given a campaign whose calls end by last digit, retried once on no answer and busy
    campaign = create(
        stack,
        max_calls_per_second=1,
        retry_strategy={"max_attempts": 2, "no_answer_delay": 120_000, "busy_delay": 60_000},
        webhooks={"on_call_complete": f"{stack.base_url}/_local/webhook-sink/analytics/call"},
    )
    # When it runs to its end
    assert run_until(stack, campaign, {"completed"}, 30) == "completed"
    stack.advance(60)  # the last webhook delivered
    figures = api(stack, "GET", f"/batch-calls/{campaign}/analytics")
    calls = [c for c in stack.provider.calls() if c["batch_id"] == campaign]

    # Then the analytics count what the provider did: attempts by outcome, per contact
    assert len(calls) == 7  # five first attempts, the no answer and the busy retried
    outcomes = Counter(c["status"] for c in calls)
    attempts = figures["attempts"]
    assert attempts["total"] == len(calls)
    assert attempts["by_outcome"] == {
        o: outcomes.get(o, 0) for o in ("completed", "no_answer", "busy", "failed", "unknown")
    }
    per_number = Counter(c["to"] for c in calls)
    assert attempts["per_contact"] == {
        "1": sum(1 for n in per_number.values() if n == 1),
        "2": sum(1 for n in per_number.values() if n == 2),
    }
    assert figures["answer_rate"] == round(outcomes["completed"] / len(calls), 4)
    # and the durations of the completed calls
    durations = [
        (instant(c["ended_at"]) - instant(c["placed_at"])).total_seconds()
        for c in calls
        if c["status"] == "completed"
    ]
    assert set(durations) == {60.0}
    assert figures["duration_seconds"] == {"mean": 60.0, "p50": 60.0, "p95": 60.0}
    # and calls per local day and hour
    zone = ZoneInfo(ZONE)
    placed_hours = Counter(
        instant(c["placed_at"]).astimezone(zone).replace(minute=0, second=0, microsecond=0)
        for c in calls
    )
    assert {h["hour"]: h["placed"] for h in figures["per_hour"]} == {
        hour.isoformat(): n for hour, n in placed_hours.items()
    }
    assert figures["per_day"] == [
        {
            "date": "2026-11-30",
            "planned": len(calls),
            "placed": len(calls),
            "completed": outcomes["completed"],
        }
    ]
    assert (figures["status"], figures["finish_estimate"]) == ("completed", None)
    # and the campaign's webhook deliveries (one call.completed per attempt, all answered)
    assert figures["webhooks"] == {"sent": 7, "succeeded": 7, "failed": 0, "pending": 0}
    contacts = figures["contacts"]
    assert (contacts["total"], contacts["completed"], contacts["failed"]) == (5, 2, 3)

    # And the bus carried one call.completed per attempt, with its body
    ended = bus.of_campaign(campaign, "call.completed")
    assert sorted((e["callId"], e["status"]) for e in ended) == sorted(
        (c["call_id"], c["status"].upper()) for c in calls
    )
    first = next(e for e in ended if e["phoneNumber"] == "+12125550104")
    assert set(first) == CALL_COMPLETED_FIELDS
    assert (first["attempt"], first["duration"], first["status"]) == (1, 60, "COMPLETED")
    # and one batch.completed whose statistics equal the analytics' contacts
    [done] = bus.of_campaign(campaign, "batch.completed")
    assert done["statistics"] == {
        "total": contacts["total"],
        "succeeded": contacts["completed"],
        "failed": contacts["failed"],
        "skipped": contacts["skipped"],
        "cancelled": contacts["cancelled"],
    }
    # and a campaign.status_changed for each of its transitions
    changes = bus.of_campaign(campaign, "campaign.status_changed")
    assert [(e["from"], e["to"]) for e in changes] == [("draft", "active"), ("active", "completed")]
    assert set(changes[0]) == {"event", "eventId", "occurredAt", "batchId", "from", "to"}
    assert not bus.of_campaign(campaign, "batch.failed")


def test_pause_resume_and_cancel_each_emit_their_status_change(stack, bus):
    # Given a campaign with calls planned
    campaign = create(stack, scheduled_at="2026-12-01T10:00:00", schedule_type="scheduled")
    # When it is paused, resumed and cancelled
    for action in ("pause", "resume", "cancel"):
        api(
            stack,
            "POST",
            f"/batch-calls/{campaign}/{action}",
            expect=202 if action == "resume" else 200,
        )
    stack.advance(1)
    # Then each transition is on the bus, in order
    changes = [(e["from"], e["to"]) for e in bus.of_campaign(campaign, "campaign.status_changed")]
    assert changes == [
        ("draft", "scheduled"),
        ("scheduled", "paused"),
        ("paused", "scheduled"),
        ("scheduled", "cancelled"),
    ]
    assert len({e["eventId"] for e in bus.of_campaign(campaign)}) == 4


def test_a_provider_refusing_the_agent_fails_the_campaign_with_batch_failed(stack, bus):
    # Given a provider that does not know the campaign's agent
    stack.request("POST", "/_local/provider/settings", {"unknown_agents": ["agent_gone"]})
    try:
        campaign = create(
            stack,
            agent_id="agent_gone",
            webhooks={"on_batch_failed": f"{stack.base_url}/_local/webhook-sink/events/failed"},
        )
        # When its first call is dialled
        status = run_until(stack, campaign, {"failed"}, 5)
        stack.advance(60)
    finally:
        stack.request("POST", "/_local/provider/settings", {"unknown_agents": []})
    # Then the campaign failed, with batch.failed on the bus saying why (and its view)
    assert status == "failed"
    [failed] = bus.of_campaign(campaign, "batch.failed")
    assert api(stack, "GET", f"/batch-calls/{campaign}")["error"] == failed["error"]
    assert set(failed) == {"event", "eventId", "occurredAt", "batchId", "error"}
    assert failed["error"].startswith("agent_not_found: the provider refused the campaign")
    changes = [(e["from"], e["to"]) for e in bus.of_campaign(campaign, "campaign.status_changed")]
    assert changes == [("draft", "active"), ("active", "failed")]
    # and no contact is lost: none was called, every one is cancelled
    figures = api(stack, "GET", f"/batch-calls/{campaign}/analytics")
    assert figures["contacts"]["cancelled"] == figures["contacts"]["total"] == len(NUMBERS)
    assert figures["attempts"]["total"] == 0 and figures["finish_estimate"] is None
    assert not [c for c in stack.provider.calls() if c["batch_id"] == campaign]
    assert not bus.of_campaign(campaign, "call.completed")

"""End to end on the local stack with the simulated clock: a campaign is planned,
dispatched, dialled through the simulated provider and completed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.local.conftest import LOCAL_START

pytestmark = pytest.mark.slow
KEY = "key-tenant-a"


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_a_campaign_runs_to_completion_within_its_limits(live_stack):
    # Given a campaign starting in three minutes: five contacts, two live calls at most,
    # one number that never answers (retried once after 2 minutes)
    start = live_stack.now() + timedelta(minutes=3)
    phones = ["+12025550104", "+12025550114", "+12025550124", "+12025550134", "+12025550111"]
    created = live_stack.request(
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "schedule_type": "scheduled",
            "scheduled_at": iso(start),
            "max_concurrent_calls": 2,
            "max_calls_per_second": 1,
            "retry_strategy": {"max_attempts": 2, "no_answer_delay": 120_000, "busy_delay": 0},
            "webhooks": {
                "on_batch_complete": f"{live_stack.base_url}/_local/webhook-sink/done",
                "on_call_complete": f"{live_stack.base_url}/_local/webhook-sink/call",
            },
            "contacts": [{"phone_number": p} for p in phones],
        },
        api_key=KEY,
    )
    assert created.status in (201, 202), created.json()
    campaign_id = created.json()["id"]
    planned = {
        c["id"]: ms(c["scheduled_at"])
        for c in live_stack.request(
            "GET", f"/batch-calls/{campaign_id}/contacts", api_key=KEY
        ).json()["items"]
    }

    # When the clock runs for twenty minutes
    live_stack.advance(20 * 60)

    # Then every contact was called, the first calls at (and within 1 s of) their time
    calls = [
        c
        for c in live_stack.request("GET", "/_local/provider/calls").json()["items"]
        if c["batch_id"] == campaign_id
    ]
    first_attempts = {}
    for call in calls:
        first_attempts.setdefault(call["contact_id"], call)
    assert set(first_attempts) == set(planned)
    on_time = 0
    for contact_id, call in first_attempts.items():
        placed = ms(call["placed_at"])
        assert placed >= planned[contact_id]
        on_time += placed - planned[contact_id] <= 1000
    assert on_time >= 2  # the first two; the others waited for a free place

    # and never more than two at once
    events = sorted(
        [(ms(c["placed_at"]), 1) for c in calls] + [(ms(c["ended_at"]), -1) for c in calls]
    )
    live, peak = 0, 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    assert peak <= 2

    # and a call that waited for a place got the first one freed, within a second
    ends = sorted(ms(c["ended_at"]) for c in calls)
    for contact_id, call in first_attempts.items():
        placed = ms(call["placed_at"])
        if placed - planned[contact_id] > 1000:
            freed = max(e for e in ends if e <= placed)
            assert placed - freed <= 1000

    # and the number that never answers was tried twice, 2 minutes after its first end
    no_answer = [c for c in calls if c["to"] == "+12025550111"]
    assert len(no_answer) == 2
    assert ms(no_answer[1]["placed_at"]) - ms(no_answer[0]["ended_at"]) >= 120_000

    campaign = live_stack.request("GET", f"/batch-calls/{campaign_id}", api_key=KEY).json()
    assert campaign["status"] == "completed"
    assert campaign["stats"]["completed"] == 4 and campaign["stats"]["failed"] == 1
    hooks = [h for h in live_stack.webhooks if h["url"].endswith("/done")]
    assert len(hooks) == 1
    assert hooks[0]["body"]["statistics"]["succeeded"] == 4
    assert start > LOCAL_START

"""The planner function: slots by minute and shard, contacts scheduled, chunked, versioned."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest
from batchcalls.adapters.bookings import BookingLedger
from batchcalls.adapters.slot_store import minute_of

from tests.support.outbox import flush_outbox
from tests.support.queues import drain

WINDOW = {
    "agent_id": "agent_1",
    "phone_numbers": ["+14155550100", "+14155550101"],
    "timezone": "America/New_York",
    "start_time": "09:00",
    "end_time": "17:00",
    "max_calls_per_second": 2,
}


@pytest.fixture
def planner(aws, monkeypatch):
    from functions.planner import app

    monkeypatch.setenv("CHUNK_SIZE", "100")
    app.service.cache_clear()

    def run() -> Any:
        flush_outbox(aws["PlanningQueue"])  # the plan requests the API committed
        return drain(aws["PlanningQueue"], app.lambda_handler)

    yield run
    app.service.cache_clear()


def contacts(n: int, first: int = 1000) -> list[dict[str, str]]:
    return [{"phone_number": f"+1212555{i:04d}"} for i in range(first, first + n)]


def all_contacts(api, campaign_id):
    items, cursor = [], None
    while True:
        query = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/batch-calls/{campaign_id}/contacts", query=query).body
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def slots(aws):
    """The slot items (not the per-minute marks written beside them)."""
    items = boto3.client("dynamodb").scan(TableName=aws["SlotsTable"])["Items"]
    return [i for i in items if not i["minute_shard"]["S"].endswith("#marks")]


def marks(aws):
    items = boto3.client("dynamodb").scan(TableName=aws["SlotsTable"])["Items"]
    return {
        i["minute_shard"]["S"].removesuffix("#marks") + "#" + i["slot_key"]["S"]
        for i in items
        if i["minute_shard"]["S"].endswith("#marks")
    }


def booked(campaign_id):
    """The campaign's bookings per minute, zero counts left out."""
    counts = BookingLedger().booked_minutes("tenant_a", campaign_id, "0", "9")
    return {minute: n for minute, n in counts.items() if n}


def slots_per_minute(aws, campaign_id):
    return dict(
        Counter(
            s["minute_shard"]["S"].split("#")[0]
            for s in slots(aws)
            if s["campaign_id"]["S"] == campaign_id
        )
    )


def test_a_scheduled_campaign_gets_one_slot_per_contact_in_order(api, aws, planner):
    # Given a campaign of 250 contacts starting Tuesday 09:00 New York, 2 calls a second
    body = {**WINDOW, "scheduled_at": "2026-12-01T09:00:00", "contacts": contacts(250)}
    campaign = api.post("/batch-calls", body).body
    # When the planner runs its chunks (100 contacts each)
    planner()
    # Then every contact is scheduled, in the order added, two per second from 09:00
    items = all_contacts(api, campaign["id"])
    assert [c["status"] for c in items] == ["scheduled"] * 250
    times = [c["scheduled_at"] for c in items]
    assert times[0] == "2026-12-01T14:00:00.000Z"
    assert times[1] == "2026-12-01T14:00:00.500Z"
    assert times[249] == "2026-12-01T14:02:04.500Z"
    assert times == sorted(times) and len(set(times)) == 250
    assert [c["caller_id"] for c in items[:3]] == ["+14155550100", "+14155550101", "+14155550100"]
    # And one slot per contact, keyed by its due minute and a shard
    stored = slots(aws)
    assert len(stored) == 250
    assert {s["minute_shard"]["S"].split("#")[0] for s in stored} == {
        "2026-12-01T14:00",
        "2026-12-01T14:01",
        "2026-12-01T14:02",
    }
    assert all(minute_of(int(s["due_ms"]["N"])) in s["minute_shard"]["S"] for s in stored)
    # each written partition marked, so the dispatcher finds it
    assert marks(aws) == {s["minute_shard"]["S"] for s in stored}
    # and each minute booked with its number of calls (what retries are planned with)
    assert booked(campaign["id"]) == {
        "2026-12-01T14:00": 120,
        "2026-12-01T14:01": 120,
        "2026-12-01T14:02": 10,
    }
    refreshed = api.get(f"/batch-calls/{campaign['id']}").body
    assert refreshed["planning"] == {"version": 1, "planned": 250, "total": 250, "done": True}
    assert refreshed["stats"]["scheduled"] == 250, refreshed["stats"]
    assert refreshed["stats"]["pending"] == 0


def test_a_patch_replans_in_place_of_the_old_slots(api, aws, planner):
    body = {**WINDOW, "scheduled_at": "2026-12-01T09:00:00", "contacts": contacts(120)}
    campaign = api.post("/batch-calls", body).body
    planner()
    # When the window moves to the afternoon
    api.patch(f"/batch-calls/{campaign['id']}", {"start_time": "13:00"})
    planner()
    # Then each contact has exactly one live slot, in the new window, of the new version
    items = all_contacts(api, campaign["id"])
    assert all(c["scheduled_at"].startswith("2026-12-01T18:") for c in items)
    stored = slots(aws)
    assert len(stored) == 120
    assert {s["plan_version"]["N"] for s in stored} == {"2"}
    # And the bookings moved with them: the morning minutes are released
    assert booked(campaign["id"]) == slots_per_minute(aws, campaign["id"])
    assert all(minute.startswith("2026-12-01T18:") for minute in booked(campaign["id"]))


def test_a_chunk_that_runs_twice_leaves_the_bookings_as_they_were(api, aws, planner):
    body = {**WINDOW, "scheduled_at": "2026-12-01T09:00:00", "contacts": contacts(150)}
    campaign = api.post("/batch-calls", body).body
    planner()
    before = booked(campaign["id"])
    # When the first chunk's message is delivered again
    message = {
        "kind": "plan_chunk",
        "tenant_id": "tenant_a",
        "campaign_id": campaign["id"],
        "plan_version": 1,
        "chunk": 0,
    }
    boto3.client("sqs").send_message(QueueUrl=aws["PlanningQueue"], MessageBody=json.dumps(message))
    planner()
    # Then no call is counted twice
    assert booked(campaign["id"]) == before == slots_per_minute(aws, campaign["id"])
    assert sum(before.values()) == 150


def test_contacts_added_later_are_planned_after_the_existing_ones(api, planner):
    body = {**WINDOW, "scheduled_at": "2026-12-01T09:00:00", "contacts": contacts(10)}
    campaign = api.post("/batch-calls", body).body
    planner()
    api.post(f"/batch-calls/{campaign['id']}/contacts", {"contacts": contacts(5, first=3000)})
    planner()
    items = all_contacts(api, campaign["id"])
    assert [c["status"] for c in items] == ["scheduled"] * 15
    assert max(c["scheduled_at"] for c in items[:10]) < min(c["scheduled_at"] for c in items[10:])


def test_a_contact_with_no_allowed_window_is_skipped_with_its_reason(api, planner):
    # Given a window that the legal-hours guard closes entirely in the contact's zone
    body = {
        **WINDOW,
        "start_time": "22:00",
        "end_time": "23:00",
        "scheduled_at": "2026-12-01T09:00:00",
        "contacts": contacts(2),
    }
    campaign = api.post("/batch-calls", body).body
    planner()
    items = all_contacts(api, campaign["id"])
    assert {(c["status"], c["reason"]) for c in items} == {("skipped", "no_allowed_window")}
    assert api.get(f"/batch-calls/{campaign['id']}").body["stats"]["skipped"] == 2


def test_a_superseded_plan_version_writes_nothing(api, aws, planner):
    body = {**WINDOW, "scheduled_at": "2026-12-01T09:00:00", "contacts": contacts(3)}
    campaign = api.post("/batch-calls", body).body
    api.post(f"/batch-calls/{campaign['id']}/pause")
    planner()  # version 1 arrives after the pause: the campaign no longer delivers
    assert slots(aws) == []
    assert {c["status"] for c in all_contacts(api, campaign["id"])} == {"pending"}


def test_cancel_marks_every_contact_not_yet_dialled_cancelled(api, planner):
    body = {**WINDOW, "scheduled_at": "2026-12-01T09:00:00", "contacts": contacts(130)}
    campaign = api.post("/batch-calls", body).body
    planner()
    api.post(f"/batch-calls/{campaign['id']}/cancel")
    planner()
    items = all_contacts(api, campaign["id"])
    assert {c["status"] for c in items} == {"cancelled"}
    stats = api.get(f"/batch-calls/{campaign['id']}").body["stats"]
    assert (stats["cancelled"], stats["scheduled"]) == (130, 0)

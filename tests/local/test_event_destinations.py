"""Event destinations on the local stack: a tenant's endpoint registered through the API
becomes a connection, an API destination and a rule on the bus, and receives exactly the
matching events' detail over real HTTP, with its auth header (simulated clock)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tests.local.conftest import LIVE_KEYS
from tests.local.helpers import CALL_COMPLETED_FIELDS

pytestmark = pytest.mark.slow
KEY_A, KEY_B = "key-tenant-a", "key-tenant-b"
assert {KEY_A, KEY_B} <= LIVE_KEYS.keys()


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def campaign(stack, key: str, *phones: str) -> str:
    """A campaign whose calls start in two minutes (time to register a destination)."""
    created = stack.request(
        "POST",
        "/batch-calls",
        {
            "agent_id": "agent_1",
            "phone_numbers": ["+12025550100"],
            "schedule_type": "scheduled",
            "scheduled_at": iso(stack.now() + timedelta(minutes=2)),
            "contacts": [{"phone_number": p} for p in phones],
        },
        api_key=key,
    )
    assert created.status == 201, created.json()
    return str(created.json()["id"])


def received(stack, path: str) -> list[dict]:
    return [w for w in stack.webhooks if w["url"].endswith(f"/{path}")]


def test_a_destination_receives_exactly_its_tenants_matching_events_with_its_header(live_stack):
    # Given campaigns of tenants A and B, and a destination of tenant A for the
    # call.completed events of one of A's campaigns, with its own header
    watched = campaign(live_stack, KEY_A, "+12025550104", "+12025550114")
    campaign(live_stack, KEY_A, "+12025550124", "+12025550134")
    campaign(live_stack, KEY_B, "+12025550144", "+12025550154")
    sink = f"{live_stack.base_url}/_local/webhook-sink/dest-filtered"
    created = live_stack.request(
        "POST",
        "/event-destinations",
        {
            "url": sink,
            "auth_header_name": "x-receiver-key",
            "auth_header_value": "receiver-secret-1",
            "events": ["call.completed"],
            "batch_ids": [watched],
        },
        api_key=KEY_A,
    )
    assert created.status == 201, created.json()
    assert created.json()["status"] == "active"
    assert "auth_header_value" not in created.json()

    # When every campaign calls its contacts and completes
    live_stack.advance(5 * 60)

    # Then the sink got the watched campaign's two call.completed details, no other event
    hooks = received(live_stack, "dest-filtered")
    bodies = [json.loads(h["raw_body"]) for h in hooks]
    assert sorted(b["phoneNumber"] for b in bodies) == ["+12025550104", "+12025550114"]
    assert {b["event"] for b in bodies} == {"call.completed"}
    assert {b["batchId"] for b in bodies} == {watched}
    assert all(h["headers"]["x-receiver-key"] == "receiver-secret-1" for h in hooks)
    # the body is the event's detail exactly, as the campaign's webhooks get it
    assert set(bodies[0]) == CALL_COMPLETED_FIELDS


def test_create_makes_the_connection_destination_and_rule_and_delete_removes_them(live_stack):
    # Given
    sink = f"{live_stack.base_url}/_local/webhook-sink/dest-made"
    created = live_stack.request(
        "POST", "/event-destinations", {"url": sink, "events": ["batch.completed"]}, api_key=KEY_A
    ).json()
    name = f"batch-calls-local-{created['id']}"
    events = live_stack.client("events")
    bus = live_stack.resource("EventBus")
    # Then
    rule = events.describe_rule(Name=name, EventBusName=bus)
    assert json.loads(rule["EventPattern"]) == {
        "source": ["batch-calls"],
        "resources": ["tenant/tenant_a"],
        "detail-type": ["batch.completed"],
    }
    [target] = events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
    assert target["InputPath"] == "$.detail"
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert target["DeadLetterConfig"]["Arn"].endswith(
        live_stack.resource("EventDestinationsDeadLetterQueue").rsplit("/", 1)[-1]
    )
    assert target["RoleArn"].split("/")[-1] == live_stack.resource("EventDestinationsRole")
    destination = events.describe_api_destination(Name=name)
    assert destination["InvocationEndpoint"] == sink
    connection = events.describe_connection(Name=name)
    assert connection["AuthorizationType"] == "API_KEY"
    listed = live_stack.request("GET", "/event-destinations", api_key=KEY_A).json()["items"]
    assert created["id"] in [d["id"] for d in listed]
    assert created["auth_header_name"] == "x-batch-calls-destination"

    # When
    deleted = live_stack.request("DELETE", f"/event-destinations/{created['id']}", api_key=KEY_A)

    # Then
    assert deleted.status == 204
    assert name not in [r["Name"] for r in events.list_rules(EventBusName=bus)["Rules"]]
    assert name not in [d["Name"] for d in events.list_api_destinations()["ApiDestinations"]]
    assert name not in [c["Name"] for c in events.list_connections()["Connections"]]
    listed = live_stack.request("GET", "/event-destinations", api_key=KEY_A).json()["items"]
    assert created["id"] not in [d["id"] for d in listed]


def test_another_tenants_destination_is_not_found(live_stack):
    sink = f"{live_stack.base_url}/_local/webhook-sink/dest-private"
    created = live_stack.request("POST", "/event-destinations", {"url": sink}, api_key=KEY_A).json()
    # When tenant B lists or deletes it
    listed = live_stack.request("GET", "/event-destinations", api_key=KEY_B).json()["items"]
    deleted = live_stack.request("DELETE", f"/event-destinations/{created['id']}", api_key=KEY_B)
    # Then
    assert created["id"] not in [d["id"] for d in listed]
    assert deleted.status == 404
    assert deleted.json()["error"]["code"] == "not_found"
    mine = live_stack.request("GET", "/event-destinations", api_key=KEY_A).json()["items"]
    assert created["id"] in [d["id"] for d in mine]
    live_stack.request("DELETE", f"/event-destinations/{created['id']}", api_key=KEY_A)


def test_a_failing_destination_is_retried_on_the_injected_clock(live_stack):
    # Given a destination that answers 503, for one campaign's call.completed
    watched = campaign(live_stack, KEY_A, "+12025550164")
    sink = f"{live_stack.base_url}/_local/webhook-sink/status/503/dest-down"
    answer = live_stack.request(
        "POST",
        "/event-destinations",
        {"url": sink, "events": ["call.completed"], "batch_ids": [watched]},
        api_key=KEY_A,
    )
    assert answer.status == 201
    # When the call ends and some seconds pass
    live_stack.advance(5 * 60)
    tried = received(live_stack, "dest-down")
    # Then the same event was sent again and again (EventBridge's backoff)
    assert len(tried) >= 3
    assert len({json.loads(t["raw_body"])["eventId"] for t in tried}) == 1


def test_a_create_that_dies_midway_leaves_nothing_once_the_sweeper_ran(live_stack):
    # Given the API function dies right after creating the rule (fault injection)
    events = live_stack.client("events")
    before = {
        r["Name"] for r in events.list_rules(EventBusName=live_stack.resource("EventBus"))["Rules"]
    }
    live_stack.faults.add(kind="crash", function="ApiFunction", after="events.PutRule")
    sink = f"{live_stack.base_url}/_local/webhook-sink/dest-dying"
    answer = live_stack.request("POST", "/event-destinations", {"url": sink}, api_key=KEY_B)
    assert answer.status >= 500
    [left] = live_stack.request("GET", "/event-destinations", api_key=KEY_B).json()["items"]
    assert left["status"] == "creating"

    # When the sweeper has run after five minutes
    live_stack.advance(11 * 60)

    # Then neither the record nor any EventBridge resource of it is left
    name = f"batch-calls-local-{left['id']}"
    assert live_stack.request("GET", "/event-destinations", api_key=KEY_B).json()["items"] == []
    rules = {
        r["Name"] for r in events.list_rules(EventBusName=live_stack.resource("EventBus"))["Rules"]
    }
    assert rules == before
    assert name not in [d["Name"] for d in events.list_api_destinations()["ApiDestinations"]]
    assert name not in [c["Name"] for c in events.list_connections()["Connections"]]

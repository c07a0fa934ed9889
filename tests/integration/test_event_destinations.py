"""POST/GET/DELETE /event-destinations under moto: what is refused stores nothing, what is
created exists in EventBridge with the right pattern, what is deleted is gone, and a
crash between the steps leaves nothing that the sweeper does not remove."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from batchcalls.adapters.event_destinations import (
    DestinationStore,
    EventBridgeDestinations,
    TargetSetting,
    TenantCampaigns,
)
from batchcalls.adapters.events_bus import EventBus
from batchcalls.domain.event_destinations import event_pattern
from batchcalls.services.event_destinations import EventDestinationService

PREFIX = "batch-calls-test-"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:EventDestinationsDeadLetterQueue"
ROLE_ARN = "arn:aws:iam::123456789012:role/EventDestinationsRole"
PUBLIC = "https://93.184.215.14/hooks"  # a public address: no name to resolve
OTHER = "key-tenant-b"


class Crash(BaseException):
    """The function dies (not an exception the code could catch)."""


class DyingEvents:
    """The events client, until it dies right after (or, with `refuse`, instead of) one
    operation."""

    def __init__(self, client: Any, after: str | None = None, refuse: str | None = None):
        self.client, self.after, self.refuse = client, after, refuse

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**kwargs: Any) -> Any:
            if name == self.refuse:
                raise RuntimeError(f"{name} failed")
            answer = method(**kwargs)
            if name == self.after:
                raise Crash(name)
            return answer

        return call


def service_with(clock, client: Any) -> EventDestinationService:
    bridge = EventBridgeDestinations(
        TargetSetting("EventBus", ROLE_ARN, DLQ_ARN, 10), client=client
    )
    return EventDestinationService(
        clock, DestinationStore(), bridge, PREFIX, TenantCampaigns(), lambda host: []
    )


@pytest.fixture
def events(aws) -> Any:
    return boto3.client("events", region_name="us-east-1")


@pytest.fixture
def destinations(api, clock, events) -> Iterator[Any]:
    from functions.api import app

    app.use_destination_service(service_with(clock, events))
    yield api
    app.use_destination_service(None)


def made(events: Any) -> dict[str, list[str]]:
    """Every event-destination resource in EventBridge."""
    return {
        "rules": [
            r["Name"]
            for r in events.list_rules(EventBusName="EventBus", NamePrefix=PREFIX)["Rules"]
        ],
        "api_destinations": [
            d["Name"] for d in events.list_api_destinations(NamePrefix=PREFIX)["ApiDestinations"]
        ],
        "connections": [
            c["Name"] for c in events.list_connections(NamePrefix=PREFIX)["Connections"]
        ],
    }


NOTHING: dict[str, list[str]] = {"rules": [], "api_destinations": [], "connections": []}


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"url": "http://hooks.example.com/x"}, "url", "https"),
        ({"url": "https://10.1.2.3/x"}, "url", "not a public address"),
        ({"url": "https://127.0.0.1:8443/x"}, "url", "loopback"),
        ({"url": "https://169.254.169.254/latest"}, "url", "metadata"),
        ({"url": "https://[::1]/x"}, "url", "loopback"),
        ({"url": "https://user:pw@93.184.215.14/x"}, "url", "credentials"),
        ({"url": "http://127.0.0.1:3000/_local/webhook-sink/x"}, "url", "https"),
        ({"url": PUBLIC, "events": ["call.started"]}, "events.0", ""),
        ({"url": PUBLIC, "batch_ids": ["batch_000000000000000000"]}, "batch_ids.0", "campaign"),
        ({"url": PUBLIC, "auth_header_name": "x-key"}, "auth_header_value", "required"),
        ({"url": PUBLIC, "auth_header_name": "Host", "auth_header_value": "v"}, "", "set by"),
        ({"url": PUBLIC, "surprise": 1}, "surprise", ""),
    ],
)
def test_a_bad_destination_is_refused_with_422_and_nothing_is_made(
    destinations, events, body, field, problem
):
    # When
    answer = destinations.post("/event-destinations", body)
    # Then
    assert answer.status == 422, answer.body
    assert answer.body["error"]["code"] == "validation_error"
    details = answer.body["error"]["details"]
    assert any(d["field"].startswith(field) and problem in d["problem"] for d in details), details
    assert destinations.get("/event-destinations").body == {"items": [], "next_cursor": None}
    assert made(events) == NOTHING


def test_the_local_sink_is_allowed_only_where_the_local_stack_says_so(api, clock, events):
    from functions.api import app

    sink = "http://127.0.0.1:3000/_local/webhook-sink/"
    local = service_with(clock, events)
    local.local_sink_url = sink
    app.use_destination_service(local)
    try:
        answer = api.post("/event-destinations", {"url": sink + "mine"})
    finally:
        app.use_destination_service(None)
    assert answer.status == 201, answer.body


def test_a_destination_is_a_connection_an_api_destination_and_a_rule_on_the_bus(
    destinations, events
):
    campaign_id = destinations.post("/batch-calls", {"status": "draft"}).body["id"]
    # When
    answer = destinations.post(
        "/event-destinations",
        {
            "url": PUBLIC,
            "authHeaderName": "x-receiver-key",
            "authHeaderValue": "receiver-secret",
            "events": ["call.completed", "batch.completed"],
            "batch_ids": [campaign_id],
        },
    )
    # Then
    assert answer.status == 201, answer.body
    created = answer.body
    assert created["status"] == "active"
    assert created["auth_header_name"] == "x-receiver-key"
    assert "receiver-secret" not in json.dumps(created)
    name = PREFIX + created["id"]
    assert made(events) == {"rules": [name], "api_destinations": [name], "connections": [name]}
    rule = events.describe_rule(Name=name, EventBusName="EventBus")
    assert json.loads(rule["EventPattern"]) == {
        "source": ["batch-calls"],
        "resources": ["tenant/tenant_a"],
        "detail-type": ["batch.completed", "call.completed"],
        "detail": {"batchId": [campaign_id]},
    }
    [target] = events.list_targets_by_rule(Rule=name, EventBusName="EventBus")["Targets"]
    assert target["Arn"] == events.describe_api_destination(Name=name)["ApiDestinationArn"]
    assert (target["RoleArn"], target["DeadLetterConfig"]["Arn"]) == (ROLE_ARN, DLQ_ARN)
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 185
    assert events.describe_api_destination(Name=name)["InvocationEndpoint"] == PUBLIC
    listed = destinations.get("/event-destinations").body["items"]
    assert listed == [created]


def test_the_rule_matches_the_bus_entries_of_its_tenant_types_and_campaigns_only(events):
    # Given the pattern of a destination of tenant_a for call.completed of batch_1, on a
    # rule that sends to a queue
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    pattern = event_pattern("tenant_a", ["call.completed"], ["batch_1"])
    events.put_rule(Name="matching", EventBusName="EventBus", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="matching",
        EventBusName="EventBus",
        Targets=[{"Id": "q", "Arn": queue_arn["Attributes"]["QueueArn"]}],
    )
    # When the publisher's adapter puts events of both tenants, types and campaigns
    sent = [
        ("tenant_a", "call.completed", "batch_1"),
        ("tenant_b", "call.completed", "batch_1"),
        ("tenant_a", "batch.completed", "batch_1"),
        ("tenant_a", "call.completed", "batch_2"),
        (None, "call.completed", "batch_1"),
    ]
    taken = EventBus("EventBus").put_many(
        [
            {"event": kind, "eventId": f"evt_{n}", "batchId": batch}
            for n, (_, kind, batch) in enumerate(sent)
        ],
        [tenant for tenant, _, _ in sent],
    )
    # Then only tenant_a's call.completed of batch_1 matched, its detail unchanged
    assert taken == [True] * 5
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    [matched] = [json.loads(m["Body"]) for m in messages]
    assert matched["detail"] == {
        "event": "call.completed",
        "eventId": "evt_0",
        "batchId": "batch_1",
    }
    assert matched["resources"] == ["tenant/tenant_a"]


def test_delete_removes_target_rule_api_destination_and_connection(destinations, events):
    created = destinations.post("/event-destinations", {"url": PUBLIC}).body
    # When
    answer = destinations.delete(f"/event-destinations/{created['id']}")
    # Then
    assert answer.status == 204
    assert made(events) == NOTHING
    assert destinations.get("/event-destinations").body["items"] == []
    again = destinations.delete(f"/event-destinations/{created['id']}")
    assert (again.status, again.body["error"]["code"]) == (404, "not_found")


def test_another_tenants_destination_answers_404_like_an_unknown_one(destinations, events):
    created = destinations.post("/event-destinations", {"url": PUBLIC}).body
    # When
    deleted = destinations.delete(f"/event-destinations/{created['id']}", key=OTHER)
    listed = destinations.get("/event-destinations", key=OTHER)
    unknown = destinations.delete("/event-destinations/dest_nothing")
    # Then
    assert deleted.status == 404 and deleted.body["error"]["code"] == "not_found"
    assert listed.body["items"] == []
    assert unknown.status == 404
    assert destinations.get("/event-destinations").body["items"][0]["id"] == created["id"]
    assert len(made(events)["rules"]) == 1


def test_a_campaign_of_another_tenant_cannot_be_watched(destinations, events):
    theirs = destinations.post("/batch-calls", {"status": "draft"}, key=OTHER).body["id"]
    answer = destinations.post("/event-destinations", {"url": PUBLIC, "batch_ids": [theirs]})
    assert answer.status == 422
    assert answer.body["error"]["details"] == [
        {"field": "batch_ids.0", "problem": "no such campaign"}
    ]
    assert made(events) == NOTHING


def test_an_eleventh_destination_is_a_409_and_nothing_is_made(destinations, events):
    for n in range(10):
        assert destinations.post("/event-destinations", {"url": f"{PUBLIC}/{n}"}).status == 201
    # When
    answer = destinations.post("/event-destinations", {"url": f"{PUBLIC}/10"})
    # Then
    assert answer.status == 409
    assert answer.body["error"]["code"] == "conflict"
    assert "at most 10" in answer.body["error"]["message"]
    assert len(destinations.get("/event-destinations").body["items"]) == 10
    assert len(made(events)["rules"]) == 10
    # and a deleted one makes room again
    first = destinations.get("/event-destinations").body["items"][0]["id"]
    destinations.delete(f"/event-destinations/{first}")
    assert destinations.post("/event-destinations", {"url": f"{PUBLIC}/11"}).status == 201


def test_the_account_quota_is_a_409_and_what_was_made_is_taken_back(destinations, events, clock):
    from botocore.exceptions import ClientError

    from functions.api import app

    class QuotaReached:
        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            if name == "create_api_destination":

                def refuse(**_: Any) -> Any:
                    error = {"Error": {"Code": "LimitExceededException", "Message": "quota"}}
                    raise ClientError(error, name)

                return refuse
            return getattr(self.client, name)

    app.use_destination_service(service_with(clock, QuotaReached(events)))
    answer = destinations.post("/event-destinations", {"url": PUBLIC})
    assert answer.status == 409
    assert "quota" in answer.body["error"]["message"]
    assert made(events) == NOTHING
    assert destinations.get("/event-destinations").body["items"] == []


@pytest.mark.parametrize(
    "dies_after",
    ["create_connection", "create_api_destination", "put_rule", "put_targets"],
)
def test_a_crash_between_the_steps_leaves_nothing_after_the_sweep(
    destinations, events, clock, dies_after
):
    from functions.api import app

    # Given a create that dies right after one of its EventBridge requests
    app.use_destination_service(service_with(clock, DyingEvents(events, after=dies_after)))
    with pytest.raises(Crash):
        destinations.post("/event-destinations", {"url": PUBLIC})
    assert destinations.get("/event-destinations").body["items"][0]["status"] == "creating"
    sweeper = service_with(clock, events)
    assert sweeper.sweep() == 0  # the request might still be at work: left alone

    # When the sweeper runs five minutes later
    clock.advance(timedelta(minutes=5, seconds=1).total_seconds())
    removed = sweeper.sweep()

    # Then nothing of it is left, and its place in the tenant's count is free again
    assert removed == 1
    assert made(events) == NOTHING
    assert destinations.get("/event-destinations").body["items"] == []
    assert sweeper.sweep() == 0
    assert DestinationStore().unsettled(2**62) == []


def test_a_failing_step_takes_back_what_was_made(destinations, events, clock):
    from functions.api import app

    app.use_destination_service(service_with(clock, DyingEvents(events, refuse="put_targets")))
    answer = destinations.post("/event-destinations", {"url": PUBLIC})
    assert answer.status == 500
    assert answer.body["error"]["code"] == "internal_error"
    assert made(events) == NOTHING
    assert destinations.get("/event-destinations").body["items"] == []


def test_a_delete_cut_short_is_finished_by_the_sweeper(destinations, events, clock):
    from functions.api import app

    created = destinations.post("/event-destinations", {"url": PUBLIC}).body
    app.use_destination_service(service_with(clock, DyingEvents(events, after="delete_rule")))
    with pytest.raises(Crash):
        destinations.delete(f"/event-destinations/{created['id']}")
    assert destinations.get("/event-destinations").body["items"][0]["status"] == "deleting"
    # When
    clock.advance(6 * 60)
    assert service_with(clock, events).sweep() == 1
    # Then
    assert made(events) == NOTHING
    assert destinations.get("/event-destinations").body["items"] == []


def test_a_create_retried_with_its_idempotency_key_makes_one_destination(destinations, events):
    body = {"url": PUBLIC, "events": ["batch.completed"]}
    key = {"Idempotency-Key": "register-1"}
    # When
    first = destinations.post("/event-destinations", body, headers=key)
    again = destinations.post("/event-destinations", body, headers=key)
    other = destinations.post("/event-destinations", {"url": PUBLIC}, headers=key)
    # Then
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert other.status == 422
    assert len(made(events)["rules"]) == 1
    # and the same key names nothing of a campaign create
    campaign = destinations.post("/batch-calls", {"status": "draft"}, headers=key)
    assert campaign.status == 201

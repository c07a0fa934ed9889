"""Schedules, the custom bus and S3 notifications reach their targets (mini template)."""

import json
from datetime import timedelta
from urllib.parse import unquote_plus

import pytest

from tests.local.conftest import LOCAL_START, MINI_TEMPLATE
from tests.local.helpers import calls_of, put_event, sqs_records

pytestmark = pytest.mark.slow


def scheduled_events(stack, rule_part: str) -> list[dict]:
    return [
        c["event"]
        for c in calls_of(stack, "TickerFunction")
        if c["event"].get("detail-type") == "Scheduled Event"
        and rule_part in c["event"]["resources"][0]
    ]


def test_a_schedule_rule_fires_exactly_once_per_simulated_minute(mini_stack):
    # When
    mini_stack.advance(5 * 60)
    # Then
    ticks = scheduled_events(mini_stack, "EveryMinute")
    assert [t["time"] for t in ticks] == [
        (LOCAL_START + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ") for m in range(1, 6)
    ]
    assert all(t["source"] == "aws.events" and t["detail"] == {} for t in ticks)
    rule_arn = ticks[0]["resources"][0]
    assert rule_arn.startswith("arn:aws:events:us-east-1:123456789012:rule/")


def test_a_cron_rule_fires_at_its_time_with_its_input(start_local_stack):
    # Given a clock 90 s before noon; the Noon rule is cron(0 12 * * ? *) with an Input
    stack = start_local_stack(template=MINI_TEMPLATE, clock_start="2026-11-30T11:58:30Z")
    # When
    stack.advance(89)
    noon_inputs = [c for c in calls_of(stack, "TickerFunction") if c["event"] == {"noon": True}]
    assert noon_inputs == []
    stack.advance(1)
    # Then
    assert [c["event"] for c in calls_of(stack, "TickerFunction") if "noon" in c["event"]] == [
        {"noon": True}
    ]


def test_an_event_on_the_bus_reaches_the_api_destination_with_its_detail_and_auth(
    start_local_stack,
):
    # Given
    stack = start_local_stack(
        template=MINI_TEMPLATE, parameters={"EventsWebhookAuthValue": "token-123"}
    )
    # When
    put_event(stack, "mini-bus", "mini", "thing.happened", {"thing": 1, "nested": {"a": [1, 2]}})
    put_event(stack, "mini-bus", "mini", "other.thing", {"thing": 2})
    stack.run_due()
    # Then only the matching event reached the sink, as its detail, with the header
    [delivered] = stack.webhooks
    assert delivered["url"] == f"{stack.base_url}/_local/webhook-sink/events"
    assert delivered["method"] == "POST"
    assert delivered["body"] == {"thing": 1, "nested": {"a": [1, 2]}}
    assert delivered["headers"]["x-mini-token"] == "token-123"
    assert delivered["headers"]["content-type"].startswith("application/json")


def test_a_failing_destination_is_retried_with_backoff_on_the_injected_clock(start_local_stack):
    # Given a destination that answers 503
    stack = start_local_stack(
        template=MINI_TEMPLATE,
        parameters={"EventsWebhookUrl": "http://127.0.0.1:1/unused"},
    )
    sink = f"{stack.base_url}/_local/webhook-sink/status/503/events"
    events = stack.client("events")
    name = next(d["Name"] for d in events.list_api_destinations()["ApiDestinations"])
    connection = events.describe_api_destination(Name=name)["ConnectionArn"]
    events.update_api_destination(
        Name=name, ConnectionArn=connection, InvocationEndpoint=sink, HttpMethod="POST"
    )
    # When
    put_event(stack, "mini-bus", "mini", "thing.happened", {"n": 1})
    stack.run_due()
    stack.advance(3)
    # Then: at 0 s, then 1 s and 2 s later (backoff doubles)
    assert [w["received_at"] for w in stack.webhooks] == [
        "2026-11-30T14:00:00.000Z",
        "2026-11-30T14:00:01.000Z",
        "2026-11-30T14:00:03.000Z",
    ]
    assert [d.attempt for d in stack.event_targets.deliveries] == [1, 2, 3]


def test_a_rule_with_a_lambda_target_invokes_the_function_with_the_event(mini_stack):
    # When
    mini_stack.advance(7)
    put_event(mini_stack, "mini-bus", "mini", "other.thing", {"n": 7})
    mini_stack.run_due()
    # Then
    [event] = [c["event"] for c in calls_of(mini_stack, "ListenerFunction")]
    assert event["source"] == "mini"
    assert event["detail-type"] == "other.thing"
    assert event["detail"] == {"n": 7}
    assert event["time"] == "2026-11-30T14:00:07Z"  # the injected clock, not the wall


def test_s3_notifications_reach_their_queue_and_function(mini_stack):
    # Given the bucket notifies UploadsQueue (*.csv) and ListenerFunction (incoming/*)
    s3 = mini_stack.client("s3")
    bucket = mini_stack.resource("Uploads")
    # When
    s3.put_object(Bucket=bucket, Key="incoming/list.csv", Body=b"phone_number\n+15550100\n")
    s3.put_object(Bucket=bucket, Key="elsewhere/readme.txt", Body=b"x")
    mini_stack.run_due()
    # Then (after the s3:TestEvent that S3 sends when a queue is configured, as on AWS)
    [[test_event], [record]] = sqs_records(mini_stack, "UploadsFunction")
    assert json.loads(test_event["body"])["Event"] == "s3:TestEvent"
    # Keys come URL-encoded, as on AWS (moto also encodes "/": decode with unquote_plus).
    key = json.loads(record["body"])["Records"][0]["s3"]["object"]["key"]
    assert unquote_plus(key) == "incoming/list.csv"
    [call] = calls_of(mini_stack, "ListenerFunction")
    assert call["event"]["Records"][0]["s3"]["bucket"]["name"] == bucket
    assert call["event"]["Records"][0]["eventName"].startswith("ObjectCreated")

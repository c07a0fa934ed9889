"""An API-destination target whose retries give up sends the event to its dead-letter
queue, as EventBridge does (mini template, simulated clock)."""

from __future__ import annotations

import json

import pytest

from tests.local.conftest import MINI_TEMPLATE
from tests.local.helpers import put_event

pytestmark = pytest.mark.slow


def received(stack, path: str) -> list[dict]:
    return [w for w in stack.webhooks if w["url"].endswith(f"/{path}")]


def test_what_the_retries_do_not_deliver_goes_to_the_targets_dead_letter_queue(
    start_local_stack,
):
    # Given the mini template's API-destination rule, its target retried twice with a
    # dead-letter queue, and its endpoint answering 503
    stack = start_local_stack(template=MINI_TEMPLATE)
    events, sqs = stack.client("events"), stack.client("sqs")
    queue = sqs.create_queue(QueueName="undelivered")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    rule = next(
        r["Name"]
        for r in events.list_rules(EventBusName="mini-bus")["Rules"]
        if "SinkRule" in r["Name"]
    )
    [target] = events.list_targets_by_rule(Rule=rule, EventBusName="mini-bus")["Targets"]
    target["RetryPolicy"] = {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
    target["DeadLetterConfig"] = {"Arn": queue_arn["Attributes"]["QueueArn"]}
    events.put_targets(Rule=rule, EventBusName="mini-bus", Targets=[target])
    name = target["Arn"].split(":api-destination/", 1)[1].split("/")[0]
    destination = events.describe_api_destination(Name=name)
    events.update_api_destination(
        Name=name,
        ConnectionArn=destination["ConnectionArn"],
        InvocationEndpoint=f"{stack.base_url}/_local/webhook-sink/status/503/undelivered",
        HttpMethod="POST",
    )
    # When an event matches and a minute passes
    put_event(stack, "mini-bus", "mini", "thing.happened", {"n": 1})
    stack.run_due()
    stack.advance(60)
    # Then it was tried three times (the first and two retries), then kept in the queue
    assert len(received(stack, "undelivered")) == 3
    [kept] = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert json.loads(kept["Body"])["detail"] == {"n": 1}
    attributes = {k: v["StringValue"] for k, v in kept["MessageAttributes"].items()}
    assert attributes["RULE_ARN"].endswith(rule)
    assert attributes["TARGET_ARN"] == target["Arn"]
    assert attributes["ERROR_CODE"] == "ERROR_FROM_TARGET"

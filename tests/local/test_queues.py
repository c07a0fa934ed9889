"""SQS event source mappings run on the injected clock (test-only mini template)."""

import json
from datetime import timedelta

import pytest

from tests.local.conftest import LOCAL_START
from tests.local.helpers import bodies, sqs_records

pytestmark = pytest.mark.slow


def send(stack, queue: str, body: str, **options) -> str:
    return stack.client("sqs").send_message(
        QueueUrl=stack.resource(queue), MessageBody=body, **options
    )["MessageId"]


def test_a_delayed_message_is_delivered_when_its_delay_has_passed_not_before(mini_stack):
    # Given
    send(mini_stack, "WorkQueue", '{"n": 1}', DelaySeconds=30)
    mini_stack.run_due()
    # When / Then
    mini_stack.advance(29)
    assert sqs_records(mini_stack, "WorkerFunction") == []
    mini_stack.advance(1)
    assert bodies(sqs_records(mini_stack, "WorkerFunction")) == [['{"n": 1}']]


def test_a_delivered_record_is_a_lambda_sqs_record(mini_stack):
    # Given
    message_id = send(
        mini_stack,
        "WorkQueue",
        "hello",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "greeting"}},
    )
    # When
    mini_stack.run_due()
    # Then
    [[record]] = sqs_records(mini_stack, "WorkerFunction")
    queue_arn = mini_stack.client("sqs").get_queue_attributes(
        QueueUrl=mini_stack.resource("WorkQueue"), AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert record["messageId"] == message_id
    assert record["receiptHandle"]
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SentTimestamp"] == str(int(LOCAL_START.timestamp() * 1000))
    assert record["messageAttributes"]["kind"]["stringValue"] == "greeting"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"


def test_the_queue_delay_applies_to_a_message_sent_without_one(mini_stack):
    # Given SlowQueue has DelaySeconds: 20
    send(mini_stack, "SlowQueue", "slow")
    # When / Then
    mini_stack.advance(19)
    assert sqs_records(mini_stack, "WorkerFunction") == []
    mini_stack.advance(1)
    assert bodies(sqs_records(mini_stack, "WorkerFunction")) == [["slow"]]


def test_only_the_failed_record_comes_back_after_the_visibility_timeout(mini_stack):
    # Given two messages in one batch (BatchSize 2), the first failing once
    send(mini_stack, "WorkQueue", json.dumps({"fail_times": 1}))
    send(mini_stack, "WorkQueue", json.dumps({"ok": True}))
    mini_stack.run_due()
    assert bodies(sqs_records(mini_stack, "WorkerFunction")) == [
        ['{"fail_times": 1}', '{"ok": true}']
    ]
    # When the queue's visibility timeout (30 s) has not passed, then has
    mini_stack.advance(29)
    assert len(sqs_records(mini_stack, "WorkerFunction")) == 1
    mini_stack.advance(1)
    # Then only the failed record came back, received a second time
    batches = sqs_records(mini_stack, "WorkerFunction")
    assert bodies(batches[1:]) == [['{"fail_times": 1}']]
    assert batches[1][0]["attributes"]["ApproximateReceiveCount"] == "2"
    mini_stack.advance(600)
    assert len(sqs_records(mini_stack, "WorkerFunction")) == 2


def test_a_record_failing_max_receive_count_times_lands_in_the_dead_letter_queue(mini_stack):
    # Given a message that always fails; maxReceiveCount is 3
    send(mini_stack, "WorkQueue", json.dumps({"fail_times": 99}))
    # When
    mini_stack.advance(30 * 3)
    # Then it was received exactly 3 times, at 0, 30 and 60 s, and then moved
    batches = sqs_records(mini_stack, "WorkerFunction")
    assert [b[0]["attributes"]["ApproximateReceiveCount"] for b in batches] == ["1", "2", "3"]
    sqs = mini_stack.client("sqs")
    dead = sqs.receive_message(QueueUrl=mini_stack.resource("WorkDeadLetterQueue"))["Messages"]
    assert [m["Body"] for m in dead] == ['{"fail_times": 99}']
    left = sqs.get_queue_attributes(
        QueueUrl=mini_stack.resource("WorkQueue"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert left == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def test_an_exception_fails_the_whole_batch(mini_stack):
    send(mini_stack, "WorkQueue", "raise")
    send(mini_stack, "WorkQueue", "fine")
    mini_stack.run_due()
    mini_stack.advance(30)
    assert bodies(sqs_records(mini_stack, "WorkerFunction")) == [
        ["raise", "fine"],
        ["raise", "fine"],
    ]


def test_messages_are_delivered_in_batches_of_the_batch_size(mini_stack):
    for n in range(5):
        send(mini_stack, "WorkQueue", f"m{n}")
    mini_stack.run_due()
    assert sorted(len(b) for b in sqs_records(mini_stack, "WorkerFunction")) == [1, 2, 2]


def test_a_message_sent_from_a_handler_with_a_delay_waits_on_the_injected_clock(mini_stack):
    # Given a batch of sends from inside the stack, with per-message delays
    sqs = mini_stack.client("sqs")
    sqs.send_message_batch(
        QueueUrl=mini_stack.resource("WorkQueue"),
        Entries=[
            {"Id": "a", "MessageBody": "at-10", "DelaySeconds": 10},
            {"Id": "b", "MessageBody": "at-0"},
            {"Id": "c", "MessageBody": "at-900", "DelaySeconds": 900},
        ],
    )
    # When / Then each arrives at its own time
    mini_stack.run_due()
    assert bodies(sqs_records(mini_stack, "WorkerFunction")) == [["at-0"]]
    mini_stack.advance(10)
    assert bodies(sqs_records(mini_stack, "WorkerFunction"))[-1] == ["at-10"]
    mini_stack.advance(889)
    assert len(sqs_records(mini_stack, "WorkerFunction")) == 2
    mini_stack.advance(1)
    assert bodies(sqs_records(mini_stack, "WorkerFunction"))[-1] == ["at-900"]
    assert mini_stack.now() == LOCAL_START + timedelta(seconds=900)

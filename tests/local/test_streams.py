"""DynamoDB stream event sources, run on the injected clock (mini template).

StreamFunction reads OutboxTable's stream (NEW_IMAGE): BatchSize 3, only INSERTs,
ReportBatchItemFailures, BisectBatchOnFunctionError, MaximumRetryAttempts 2, failed
batches described on StreamFailureQueue. Its stub fails as an item's `mode` says."""

import json

import pytest

from tests.local.helpers import act, item

pytestmark = pytest.mark.slow


def put(stack, *items: str | tuple[str, str], mode: str = "ok") -> None:
    """Write these outbox items in one invocation: "key" (with `mode`) or (key, mode)."""
    pairs = [(i, mode) if isinstance(i, str) else i for i in items]
    act(stack, *({"put": k, "table": "outbox", "mode": m} for k, m in pairs))


def batches(stack) -> list[list[str]]:
    module = stack.functions["StreamFunction"].module
    calls = list(module.CALLS) if module is not None else []
    return [[r["dynamodb"]["Keys"]["pk"]["S"] for r in batch] for batch in calls]


def failures(stack) -> list[dict]:
    sqs = stack.client("sqs")
    answer = sqs.receive_message(
        QueueUrl=stack.resource("StreamFailureQueue"), MaxNumberOfMessages=10
    )
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_a_new_item_reaches_the_function_as_a_dynamodb_stream_record(mini_stack):
    # When
    put(mini_stack, "e1")
    mini_stack.run_due()
    # Then
    module = mini_stack.functions["StreamFunction"].module
    [[record]] = module.CALLS
    table = mini_stack.resource("OutboxTable")
    assert record["eventName"] == "INSERT"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventVersion"] == "1.1"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventID"]
    assert record["eventSourceARN"].startswith(
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/"
    )
    dynamodb = record["dynamodb"]
    assert dynamodb["Keys"] == {"pk": {"S": "e1"}}
    assert dynamodb["NewImage"] == {"pk": {"S": "e1"}, "mode": {"S": "ok"}}
    assert dynamodb["StreamViewType"] == "NEW_IMAGE"
    assert dynamodb["SequenceNumber"].isdigit()
    assert dynamodb["ApproximateCreationDateTime"] == int(mini_stack.now().timestamp())
    assert "OldImage" not in dynamodb


def test_only_inserts_pass_the_filter_in_batches_of_the_batch_size(mini_stack):
    # Given five new items, one updated and one deleted
    put(mini_stack, "a", "b", "c", "d", "e")
    act(
        mini_stack,
        {"update": "a", "table": "outbox", "value": "x"},
        {"delete": "b", "table": "outbox"},
    )
    # When
    mini_stack.run_due()
    # Then each insert came once, in order, three at a time
    assert batches(mini_stack) == [["a", "b", "c"], ["d", "e"]]


def test_records_are_read_soon_after_each_write(mini_stack):
    put(mini_stack, "a")
    mini_stack.run_due()
    put(mini_stack, "b")
    mini_stack.run_due()
    assert batches(mini_stack) == [["a"], ["b"]]


def test_a_reported_failure_retries_from_the_first_failed_record(mini_stack):
    # Given b fails once (a batch item failure)
    put(mini_stack, "a", ("b", "fail:1"), "c")
    # When
    mini_stack.run_due()
    mini_stack.advance(1)
    # Then a was done; the retry started at b
    assert batches(mini_stack) == [["a", "b", "c"], ["b", "c"]]


def test_a_function_error_bisects_the_batch_until_the_failing_record_is_alone(mini_stack):
    # Given c makes the whole batch raise, twice
    put(mini_stack, "a", "b", ("c", "raise:2"))
    # When
    mini_stack.advance(10)
    # Then halves, retried, then c alone until it passes; a and b are not redelivered once done
    assert batches(mini_stack) == [["a", "b", "c"], ["a", "b"], ["c"], ["c"]]
    assert failures(mini_stack) == []


def test_after_the_retries_the_batch_is_described_on_the_failure_queue_and_skipped(mini_stack):
    # Given a record that always fails (MaximumRetryAttempts 2)
    put(mini_stack, "bad", mode="fail")
    # When
    mini_stack.advance(60)
    put(mini_stack, "next")
    mini_stack.run_due()
    # Then one try and two retries, then the next record
    assert batches(mini_stack) == [["bad"], ["bad"], ["bad"], ["next"]]
    [failure] = failures(mini_stack)
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"].endswith(
        mini_stack.functions["StreamFunction"].deployed.name
    )
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["streamArn"].split("/stream/")[0].endswith(mini_stack.resource("OutboxTable"))


def test_a_crash_retries_the_stream_batch(mini_stack, faults):
    # Given the stream function dies after its first write
    faults.add(kind="crash", function="StreamFunction", after="dynamodb.PutItem")
    put(mini_stack, "a", "b", mode="write")
    # When
    mini_stack.run_due()
    mini_stack.advance(1)
    # Then the batch failed as on a function error (so it was bisected) and went through
    assert [r.outcome for r in faults.recorder("StreamFunction")] == ["crashed", "ok", "ok"]
    assert batches(mini_stack) == [["a", "b"], ["a"], ["b"]]
    assert item(mini_stack, "stream", "a") is not None
    assert item(mini_stack, "stream", "b") is not None


def test_a_duplicated_delivery_brings_a_stream_batch_twice(mini_stack, faults):
    faults.add(kind="duplicate_deliveries", function="StreamFunction")
    put(mini_stack, "a", "b")
    mini_stack.run_due()
    assert batches(mini_stack) == [["a", "b"], ["a", "b"]]


def test_a_cancelled_transaction_leaves_no_record_and_an_update_creating_an_item_one(mini_stack):
    # Given a transaction cancelled by an existing item (its other write left no record),
    # and an update that creates an item (one INSERT, not moto's two)
    put(mini_stack, "taken")
    mini_stack.run_due()
    results = act(
        mini_stack,
        {
            "transact": [
                {"put": "x", "table": "outbox"},
                {"put": "taken", "table": "outbox", "if_absent": True},
            ]
        },
    )
    assert results == [
        {"error": "TransactionCanceledException", "reasons": ["None", "ConditionalCheckFailed"]}
    ]
    act(mini_stack, {"update": "fresh", "table": "outbox", "value": "v"})
    mini_stack.run_due()
    assert batches(mini_stack) == [["taken"], ["fresh"]]

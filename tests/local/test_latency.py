"""The latency model: each AWS request a function makes takes its configured time, as
modelled time (local_stack/latency.py); nothing sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from batchcalls.concurrency import parallel_map
from moto import mock_aws

from local_stack import LocalStack, aws_requests
from local_stack.latency import (
    DEFAULTS_FILE,
    LatencyModel,
    LatencyTable,
    latency_from_env,
    read_figures,
)
from tests.local.conftest import MINI_TEMPLATE

MS = 1e-3


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any real sleep in these tests is a failure."""

    def refuse(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s")

    monkeypatch.setattr(time, "sleep", refuse)


@pytest.fixture
def aws() -> Iterator[tuple[Any, str, Any]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield sqs, url, dynamodb


def known_sequence(sqs: Any, url: str, dynamodb: Any) -> None:
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}})
    dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    dynamodb.query(
        TableName="t",
        KeyConditionExpression="pk = :a",
        ExpressionAttributeValues={":a": {"S": "a"}},
    )
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.get_queue_attributes(QueueUrl=url)  # no figure of its own: sqs.*


def test_every_default_states_its_source():
    figures = read_figures(DEFAULTS_FILE)
    assert "*" in figures and "dynamodb.GetItem" in figures
    assert all(f.source for f in figures.values())
    table = LatencyTable.aws()
    # DynamoDB single items single-digit ms, a transaction twice a write, SQS tens of ms,
    # S3 first byte 100-200 ms
    assert table.seconds("dynamodb.GetItem") < 0.010
    assert table.seconds("dynamodb.TransactWriteItems") == 2 * table.seconds("dynamodb.PutItem")
    assert table.seconds("sqs.SendMessage") >= 0.010
    assert 0.100 <= table.seconds("s3.GetObject") <= 0.200
    # names without a figure: the service's, else the catch-all
    assert table.seconds("sqs.GetQueueAttributes") == table.seconds("sqs.*")
    assert table.seconds("kms.Decrypt") == table.seconds("*") > 0


def test_the_modelled_time_of_a_known_sequence_is_the_sum_of_its_figures(aws):
    sqs, url, dynamodb = aws
    table = LatencyTable.aws()
    with LatencyModel(table) as model, aws_requests.invocation("PlannerFunction") as invocation:
        known_sequence(sqs, url, dynamodb)
    expected = (
        table.seconds("dynamodb.PutItem")
        + table.seconds("dynamodb.GetItem")
        + table.seconds("dynamodb.Query")
        + table.seconds("sqs.SendMessage")
        + table.seconds("sqs.*")
    )
    assert expected == pytest.approx((5 + 5 + 8 + 20 + 20) * MS)
    assert model.seconds == pytest.approx(expected)
    assert model.serial_seconds == pytest.approx(expected)
    assert model.invocation_seconds(invocation) == pytest.approx(expected)
    report = model.report()
    assert report["requests"] == 5 and report["invocations"] == 1
    assert report["by_operation"]["dynamodb.Query"] == {"requests": 1, "seconds": 8 * MS}
    assert report["by_function"]["PlannerFunction"]["seconds"] == pytest.approx(expected)
    assert report["slept_seconds"] == 0


def test_invocations_add_up_and_requests_outside_functions_are_not_counted(aws):
    sqs, url, _ = aws
    with LatencyModel() as model:
        sqs.send_message(QueueUrl=url, MessageBody="the runtime's own")
        for function in ("CallerFunction", "CallerFunction", "DispatcherFunction"):
            with aws_requests.invocation(function):
                sqs.send_message(QueueUrl=url, MessageBody="x")
    assert model.requests == 3
    assert model.seconds == pytest.approx(3 * 20 * MS)
    functions = model.report()["by_function"]
    assert functions["CallerFunction"]["invocations"] == 2
    assert functions["DispatcherFunction"]["max_invocation_seconds"] == pytest.approx(20 * MS)


def test_overrides_replace_the_defaults_by_name_by_service_or_from_a_file(aws, tmp_path):
    sqs, url, dynamodb = aws
    model = LatencyModel.from_setting("aws", {"dynamodb.Query": 12, "sqs.*": 30})
    assert model is not None
    with model, aws_requests.invocation("F"):
        known_sequence(sqs, url, dynamodb)
    # a service's override replaces all its figures (SendMessage's own 20 ms included)
    assert model.seconds == pytest.approx((5 + 5 + 12 + 30 + 30) * MS)

    file = tmp_path / "latency.toml"
    file.write_text('["dynamodb.*"]\nms = 1\n["sqs.SendMessage"]\nms = 2\nsource = "test"\n')
    from_file = LatencyModel.from_setting(str(file), "dynamodb.Query=3ms")
    assert from_file is not None
    table = from_file.table
    assert table.seconds("dynamodb.Scan") == pytest.approx(1 * MS)
    assert table.seconds("dynamodb.GetItem") == pytest.approx(1 * MS)
    assert table.seconds("dynamodb.Query") == pytest.approx(3 * MS)
    assert table.seconds("sqs.SendMessage") == pytest.approx(2 * MS)
    assert table.seconds("s3.GetObject") == pytest.approx(150 * MS)

    with pytest.raises(ValueError):
        LatencyModel.from_setting("no-such-file.toml")


def test_off_means_no_model_and_an_off_table_zero(aws):
    sqs, url, dynamodb = aws
    assert LatencyModel.from_setting("off") is None
    assert latency_from_env(environ={}) is None  # off unless LOCAL_LATENCY says otherwise
    on = latency_from_env(environ={"LOCAL_LATENCY": "aws", "LOCAL_LATENCY_OVERRIDES": "*=1"})
    assert on is not None and on.table.seconds("kms.Decrypt") == pytest.approx(1 * MS)
    with LatencyModel(LatencyTable.off()) as model, aws_requests.invocation("F"):
        known_sequence(sqs, url, dynamodb)
    assert model.requests == 5 and model.seconds == 0


def test_parallel_worker_threads_overlap_on_the_critical_path(aws):
    sqs, url, dynamodb = aws
    together = threading.Barrier(4, timeout=10)  # four distinct worker threads at once

    def send(n: int) -> None:
        together.wait()
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
        sqs.send_message(QueueUrl=url, MessageBody=str(n))

    with LatencyModel() as model, aws_requests.invocation("PlannerFunction") as invocation:
        dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
        parallel_map(send, range(4), 4)
        dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    # 5 ms, then four threads of two sends each side by side (40 ms), then 5 ms
    assert model.invocation_seconds(invocation) == pytest.approx((5 + 40 + 5) * MS)
    assert model.serial_seconds == pytest.approx((5 + 8 * 20 + 5) * MS)


def test_sleep_mode_sleeps_each_request_only_when_asked(aws):
    sqs, url, dynamodb = aws
    slept: list[float] = []
    with LatencyModel(sleep=True, sleeper=slept.append) as model, aws_requests.invocation("F"):
        sqs.send_message(QueueUrl=url, MessageBody="x")
        dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    assert slept == [pytest.approx(20 * MS), pytest.approx(5 * MS)]
    assert model.report()["slept_seconds"] == pytest.approx(25 * MS)


@pytest.mark.slow
def test_a_local_stack_with_latency_models_its_functions_requests(start_local_stack):
    stack = start_local_stack(template=MINI_TEMPLATE, latency="aws")
    assert isinstance(stack.latency, LatencyModel)
    assert stack.latency.requests == 0
    with aws_requests.invocation("AnyFunction"):
        boto3.client("sqs", region_name="us-east-1").list_queues()
    report = stack.latency.report()
    assert report["by_operation"] == {"sqs.ListQueues": {"requests": 1, "seconds": 20 * MS}}
    assert LocalStack(template=MINI_TEMPLATE).latency is None  # off by default

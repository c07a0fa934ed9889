"""The runtime sees every AWS request a function makes, and may refuse or fail it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from batchcalls.concurrency import parallel_map
from botocore.exceptions import ClientError
from moto import mock_aws

from local_stack import aws_requests
from local_stack.aws_requests import AwsRequest


class Recorder:
    def __init__(self, refuse: str | None = None, fail_after: str | None = None) -> None:
        self.seen: list[tuple[str, str]] = []
        self.refuse = refuse
        self.fail_after = fail_after

    def before(self, request: AwsRequest) -> None:
        self.seen.append((request.function, request.name))
        if request.name == self.refuse:
            raise aws_requests.client_error(request, "ThrottlingException", "refused", 400)

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        if request.name == self.fail_after:
            raise aws_requests.client_error(request, "InternalServerError", "lost answer", 500)


@pytest.fixture
def sqs():
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        url = client.create_queue(QueueName="q")["QueueUrl"]
        yield client, url


def test_requests_outside_a_function_are_not_shown(sqs):
    # Given a listener
    client, url = sqs
    with aws_requests.listening(Recorder()) as recorder:
        # When the runtime itself sends a message
        client.send_message(QueueUrl=url, MessageBody="x")
    # Then the listener saw nothing
    assert recorder.seen == []


def test_requests_of_a_function_are_named_with_it_even_from_worker_threads(sqs):
    client, url = sqs
    with aws_requests.listening(Recorder()) as recorder, aws_requests.invocation("CallerFunction"):
        parallel_map(lambda n: client.send_message(QueueUrl=url, MessageBody=str(n)), range(4), 4)
    assert recorder.seen == [("CallerFunction", "sqs.SendMessage")] * 4


def test_a_refused_request_raises_its_error_and_changes_nothing(sqs):
    client, url = sqs
    with (
        aws_requests.listening(Recorder(refuse="sqs.SendMessage")),
        aws_requests.invocation("CallerFunction"),
        pytest.raises(ClientError) as raised,
    ):
        client.send_message(QueueUrl=url, MessageBody="x")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert "Messages" not in client.receive_message(QueueUrl=url)


def test_a_request_failed_after_it_was_performed_took_effect(sqs):
    client, url = sqs
    with (
        aws_requests.listening(Recorder(fail_after="sqs.SendMessage")),
        aws_requests.invocation("CallerFunction"),
        pytest.raises(ClientError),
    ):
        client.send_message(QueueUrl=url, MessageBody="x")
    assert [m["Body"] for m in client.receive_message(QueueUrl=url)["Messages"]] == ["x"]

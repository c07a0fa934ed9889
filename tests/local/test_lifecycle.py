"""A local stack starts, runs on either clock, and gives the process back as it found it."""

import os
import time
import urllib.error
import urllib.request

import boto3
import pytest
from batchcalls.clock import current_clock

from local_stack import LocalStack
from tests.local.conftest import MINI_TEMPLATE
from tests.local.helpers import bodies, sqs_records

pytestmark = pytest.mark.slow


def test_stopping_gives_back_the_environment_the_clock_and_moto():
    # Given
    environment, clock = dict(os.environ), current_clock()
    stack = LocalStack.start(template=MINI_TEMPLATE, clock="simulated")
    try:
        assert current_clock() is stack.clock
        # the functions' AWS calls (in process) and the moto server see the same resources
        in_process = boto3.client("sqs", region_name="us-east-1").list_queues()["QueueUrls"]
        served = boto3.client(
            "sqs", region_name="us-east-1", endpoint_url=stack.moto_url
        ).list_queues()["QueueUrls"]
        assert (
            [u.rsplit("/", 1)[1] for u in in_process] == [u.rsplit("/", 1)[1] for u in served] != []
        )
    finally:
        # When
        stack.stop()
    # Then
    assert dict(os.environ) == environment
    assert current_clock() is clock
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(stack.moto_url, timeout=5)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(stack.base_url + "/_local/clock", timeout=5)


def test_one_stack_runs_per_process_at_a_time(start_local_stack):
    first = start_local_stack(template=MINI_TEMPLATE)
    with pytest.raises(RuntimeError):
        LocalStack.start(template=MINI_TEMPLATE)
    first.stop()
    second = start_local_stack(template=MINI_TEMPLATE)
    assert second.request("GET", "/_local/clock").status == 200


def test_with_the_real_clock_work_runs_as_it_falls_due_and_advance_is_refused(start_local_stack):
    # Given
    stack = start_local_stack(template=MINI_TEMPLATE, clock="real")
    assert stack.request("GET", "/_local/clock").json()["mode"] == "real"
    answer = stack.request("POST", "/_local/clock/advance", {"seconds": 5})
    assert (answer.status, answer.json()["error"]["code"]) == (400, "clock_not_simulated")
    # When a message is sent with no delay
    stack.client("sqs").send_message(QueueUrl=stack.resource("WorkQueue"), MessageBody="now")
    # Then the background loop delivers it (polling, not timing: no clock is advanced)
    deadline = time.monotonic() + 15
    while not sqs_records(stack, "WorkerFunction") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bodies(sqs_records(stack, "WorkerFunction")) == [["now"]]

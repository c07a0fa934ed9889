"""A crash: the invocation dies right after a request, and its trigger does what AWS does."""

import json
from datetime import timedelta

import pytest

from local_stack.aws_requests import InvocationCrashed
from tests.local.conftest import LOCAL_START
from tests.local.helpers import (
    act,
    actor_results,
    calls_of,
    item,
    place_call,
    put_event,
    send_act,
)

pytestmark = pytest.mark.slow


def test_a_crash_is_caught_neither_by_except_exception_nor_by_the_powertools_batch_processor(
    mini_stack, faults
):
    # Given a crash after the actor's first write; its steps run under `except Exception`
    # and its SQS records through Powertools' BatchProcessor
    fault = faults.add(kind="crash", function="ActorFunction", after="dynamodb.PutItem")
    # When a message asks for two writes
    send_act(mini_stack, {"put": "first"}, {"put": "second"})
    mini_stack.run_due()
    # Then the first write happened, the invocation ended there
    assert item(mini_stack, "first") is not None
    assert item(mini_stack, "second") is None
    assert actor_results(mini_stack) == []
    [recorded] = faults.recorder("ActorFunction")
    assert (recorded.requests, recorded.outcome) == (("dynamodb.PutItem",), "crashed")
    assert [(f.function, f.request, f.index) for f in fault.firings] == [
        ("ActorFunction", "dynamodb.PutItem", 0)
    ]


def test_a_direct_invocation_raises_the_crash(mini_stack, faults):
    faults.add(kind="crash", function="ActorFunction", after="dynamodb.GetItem", nth=2)
    with pytest.raises(InvocationCrashed):
        act(mini_stack, {"get": "a"}, {"get": "b"}, {"put": "never"})
    assert item(mini_stack, "never") is None


def test_a_crashed_sqs_batch_comes_back_after_the_visibility_timeout_then_goes_to_the_dlq(
    mini_stack, faults
):
    # Given every delivery crashes; ActorQueue: visibility 30 s, maxReceiveCount 2
    faults.add(kind="crash", function="ActorFunction", after="dynamodb.PutItem", count=5)
    send_act(mini_stack, {"put": "a"})
    # When
    mini_stack.run_due()
    mini_stack.advance(29)
    assert len(faults.recorder("ActorFunction")) == 1
    mini_stack.advance(1)
    assert len(faults.recorder("ActorFunction")) == 2
    mini_stack.advance(30)
    # Then two receives, then the dead-letter queue
    assert [r.outcome for r in faults.recorder("ActorFunction")] == ["crashed", "crashed"]
    dead = mini_stack.client("sqs").receive_message(
        QueueUrl=mini_stack.resource("ActorDeadLetterQueue")
    )
    assert [json.loads(m["Body"])["steps"] for m in dead["Messages"]] == [[{"put": "a"}]]


def test_a_crashed_sqs_batch_redelivered_once_succeeds(mini_stack, faults):
    faults.add(kind="crash", function="ActorFunction", after="dynamodb.PutItem")
    send_act(mini_stack, {"put": "a", "value": "1"}, {"put": "b"})
    mini_stack.advance(30)
    assert actor_results(mini_stack) == [["ok", "ok"]]
    assert [r.outcome for r in faults.recorder("ActorFunction")] == ["crashed", "ok"]


def test_a_crashed_tick_is_retried_as_lambda_retries_an_async_invocation(mini_stack, faults):
    # Given the ticker's first invocation dies after its write
    faults.add(kind="crash", function="TickerFunction", after="dynamodb.PutItem")
    # When two minutes pass
    mini_stack.advance(120)
    # Then the 14:01 tick crashed; Lambda retried it a minute later, beside the 14:02 tick
    ticks = [c["event"] for c in calls_of(mini_stack, "TickerFunction")]
    assert [t["time"] for t in ticks] == [
        (LOCAL_START + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ") for m in (1, 1, 2)
    ]
    rule = ticks[0]["resources"][0].rsplit("/", 1)[-1]
    assert [(r.trigger, r.outcome) for r in faults.recorder("TickerFunction")] == [
        (f"schedule {rule}", "crashed"),
        (f"schedule {rule} (retry 1)", "ok"),
        (f"schedule {rule}", "ok"),
    ]


def test_a_crashed_async_invocation_is_not_retried_when_its_invoke_config_says_so(
    mini_stack, faults
):
    # Given ListenerFunction's EventInvokeConfig: MaximumRetryAttempts 0
    faults.add(kind="crash", function="ListenerFunction", after="dynamodb.PutItem")
    # When an event reaches it through its rule, and three minutes pass
    put_event(mini_stack, "mini-bus", "mini", "thing.happened", {"n": 1})
    mini_stack.advance(180)
    # Then it ran once, and died
    assert [r.outcome for r in faults.recorder("ListenerFunction")] == ["crashed"]


def test_a_crashed_http_invocation_answers_502_as_api_gateway_does(mini_stack, faults):
    faults.add(kind="crash", function="ActorFunction", after="dynamodb.PutItem")
    response = mini_stack.request("POST", "/act", {"steps": [{"put": "a"}]})
    assert (response.status, response.json()) == (502, {"message": "Internal Server Error"})
    assert item(mini_stack, "a") is not None


def test_a_callback_answered_502_is_posted_again_by_the_provider(mini_stack, faults):
    # Given the callback handler (the actor, on POST /act) dies once after its write
    faults.add(kind="crash", function="ActorFunction", after="dynamodb.PutItem")
    status, _ = place_call(mini_stack, callback_url=f"{mini_stack.base_url}/act")
    assert status == 200
    # When the call ends (60 s), and 30 s later
    mini_stack.advance(60)
    [call] = mini_stack.provider.calls()
    assert [a["status"] for a in call["callback_attempts"]] == [502]
    mini_stack.advance(30)
    # Then the second attempt got through
    [call] = mini_stack.provider.calls()
    assert [a["status"] for a in call["callback_attempts"]] == [502, 200]
    assert item(mini_stack, "callback", "call_1")["value"] == {"S": "completed"}

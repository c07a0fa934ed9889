"""Interleaving: other work runs to its end right after a request, then the first goes on."""

import pytest

from tests.local.helpers import act, actor_results, actor_runs, calls_of, send_act

pytestmark = pytest.mark.slow

READ_BOTH = {"steps": [{"get": "a", "consistent": True}, {"get": "b", "consistent": True}]}


def test_another_invocation_runs_between_two_requests_and_sees_the_first_write_only(
    mini_stack, faults
):
    # Given: after the actor's first write, the actor again (reading both items)
    fault = faults.add(
        kind="interleave",
        function="ActorFunction",
        at="dynamodb.PutItem",
        nth=1,
        run="invoke:ActorFunction",
        event=READ_BOTH,
    )
    # When the actor writes a, then b
    results = act(mini_stack, {"put": "a", "value": "1"}, {"put": "b", "value": "2"})
    # Then the interleaved run came in between (recorded first: it ended first)
    assert results == ["ok", "ok"]
    assert actor_results(mini_stack) == [["1", None], ["ok", "ok"]]
    assert fault.fired == 1 and "ActorFunction: ok" in fault.firings[0].detail


def test_at_an_index_the_interleaved_work_runs_after_that_request(mini_stack, faults):
    faults.add(
        kind="interleave",
        function="ActorFunction",
        at=1,
        run="invoke:ActorFunction",
        event=READ_BOTH,
        count=1,
    )
    act(mini_stack, {"put": "a", "value": "1"}, {"put": "b", "value": "2"}, {"put": "c"})
    assert actor_results(mini_stack)[0] == ["1", "2"]


def test_a_tick_fires_the_rate_schedules_now_in_the_middle_of_an_invocation(mini_stack, faults):
    # Given
    faults.add(kind="interleave", function="ActorFunction", at="dynamodb.PutItem", run="tick")
    # When
    act(mini_stack, {"put": "a"}, {"put": "b"})
    # Then the every-minute rule's target ran, at the current instant, inside the actor's run
    ticks = [c["event"] for c in calls_of(mini_stack, "TickerFunction")]
    assert [(t["detail-type"], t["time"]) for t in ticks] == [
        ("Scheduled Event", mini_stack.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
    ]
    assert [r.function for r in faults.recorder()][-2:] == ["ActorFunction", "TickerFunction"]


def test_redeliver_delivers_the_same_message_again_at_once_to_the_same_function(mini_stack, faults):
    # Given: after the actor's first write, the message it is processing comes again
    faults.add(
        kind="interleave",
        function="ActorFunction",
        at="dynamodb.PutItem",
        nth=1,
        run="redeliver",
    )
    message_id = send_act(mini_stack, {"put": "a"}, {"put": "b"})
    # When
    mini_stack.run_due()
    # Then the copy (one more receive) ran to its end inside the first run
    assert [run["source"] for run in actor_runs(mini_stack)] == [
        f"sqs {message_id} receive 2",
        f"sqs {message_id} receive 1",
    ]
    recorded = faults.recorder("ActorFunction")
    assert [r.requests for r in recorded] == [
        ("dynamodb.PutItem", "dynamodb.PutItem"),
        ("dynamodb.PutItem", "dynamodb.PutItem"),
    ]
    assert recorded[1].trigger.endswith("(delivered again)")
    # And the message is gone: the first delivery succeeded
    mini_stack.advance(60)
    assert len(faults.recorder("ActorFunction")) == 2


def test_a_callable_runs_outside_the_invocation_its_requests_are_not_counted(mini_stack, faults):
    seen = []

    def peek(request):
        seen.append((request.name, request.index))
        sqs = mini_stack.client("sqs")
        sqs.send_message(QueueUrl=mini_stack.resource("WorkQueue"), MessageBody="from outside")

    faults.add(kind="interleave", function="ActorFunction", at=0, run=peek)
    act(mini_stack, {"put": "a"}, {"get": "a"})
    assert seen == [("dynamodb.PutItem", 0)]
    [recorded] = faults.recorder("ActorFunction")
    assert recorded.requests == ("dynamodb.PutItem", "dynamodb.GetItem")

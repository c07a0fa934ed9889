"""Faults at AWS requests: errors as botocore raises them, addressing, counts, the recorder.

The mini template's ActorFunction makes the requests its event lists and records, step by
step, what each gave (its error code when one is raised)."""

import threading

import pytest
from batchcalls.concurrency import parallel_map
from botocore.exceptions import ReadTimeoutError

from local_stack import aws_requests
from local_stack.faults import FaultError, Faults
from tests.local.conftest import LOCAL_START, MINI_TEMPLATE
from tests.local.helpers import act, item

pytestmark = pytest.mark.slow


def test_a_throttled_dynamodb_write_raises_provisioned_throughput_exceeded_and_writes_nothing(
    mini_stack, faults
):
    # Given
    faults.add(kind="aws_error", service="dynamodb", operation="PutItem", error="throttle")
    # When
    results = act(mini_stack, {"put": "a", "value": "1"})
    # Then
    assert results == [{"error": "ProvisionedThroughputExceededException"}]
    assert item(mini_stack, "a") is None


def test_a_throttled_sqs_request_raises_the_sqs_throttling_code(mini_stack, faults):
    faults.add(kind="aws_error", service="sqs", operation="SendMessage", error="throttle")
    assert act(mini_stack, {"send": "x"}) == [{"error": "RequestThrottled"}]


def test_a_conflict_cancels_a_transaction_with_one_transaction_conflict_reason(mini_stack, faults):
    # Given
    faults.add(
        kind="aws_error",
        service="dynamodb",
        operation="TransactWriteItems",
        error="conflict",
        item=1,
    )
    # When
    results = act(mini_stack, {"transact": [{"put": "a"}, {"put": "b"}, {"put": "c"}]})
    # Then
    assert results == [
        {
            "error": "TransactionCanceledException",
            "reasons": ["None", "TransactionConflict", "None"],
        }
    ]
    assert [item(mini_stack, k) for k in "abc"] == [None, None, None]


def test_a_throttled_transaction_is_cancelled_with_a_throttling_reason(mini_stack, faults):
    faults.add(
        kind="aws_error",
        service="dynamodb",
        operation="TransactWriteItems",
        error="transaction_throttled",
    )
    results = act(mini_stack, {"transact": [{"put": "a"}, {"put": "b"}]})
    assert results == [
        {"error": "TransactionCanceledException", "reasons": ["ThrottlingError", "None"]}
    ]


def test_a_conflict_on_a_single_item_write_is_a_transaction_conflict_exception(mini_stack, faults):
    faults.add(kind="aws_error", service="dynamodb", operation="UpdateItem", error="conflict")
    assert act(mini_stack, {"update": "a", "value": "1"}) == [
        {"error": "TransactionConflictException"}
    ]


def test_a_conflict_never_hits_a_read_and_waits_for_a_write(mini_stack, faults):
    # Given a conflict on whatever request comes first (index 0 of any invocation)
    fault = faults.add(kind="aws_error", index=0, error="conflict")
    # When a read comes first, then a write
    assert act(mini_stack, {"get": "a"}) == [None]
    assert fault.fired == 0
    assert act(mini_stack, {"put": "a"}) == [{"error": "TransactionConflictException"}]
    # Then it fired once, on the write
    assert [f.request for f in fault.firings] == ["dynamodb.PutItem"]


def test_internal_is_a_500_internal_server_error(mini_stack, faults):
    faults.add(kind="aws_error", service="dynamodb", operation="GetItem", error="internal")
    assert act(mini_stack, {"get": "a"}) == [{"error": "InternalServerError"}]


def test_a_timeout_is_not_performed_and_a_timeout_after_commit_is(mini_stack, faults):
    # Given
    faults.add(kind="aws_error", service="dynamodb", operation="PutItem", error="timeout")
    faults.add(
        kind="aws_error",
        service="dynamodb",
        operation="PutItem",
        error="timeout_after_commit",
    )
    # When
    results = act(mini_stack, {"put": "lost"}, {"put": "kept"})
    # Then both raised botocore's read timeout; only the second was performed
    assert results == [{"error": ReadTimeoutError.__name__}] * 2
    assert item(mini_stack, "lost") is None
    assert item(mini_stack, "kept") is not None


def test_a_fault_fires_only_as_many_times_as_told(mini_stack, faults):
    # Given
    fault = faults.add(
        kind="aws_error", service="dynamodb", operation="PutItem", error="throttle", count=2
    )
    # When
    results = act(mini_stack, {"put": "a"}, {"put": "a"}, {"put": "a"}, {"put": "b"})
    # Then
    assert results == [{"error": "ProvisionedThroughputExceededException"}] * 2 + ["ok", "ok"]
    assert fault.fired == 2 and not fault.active(mini_stack.now())


def test_a_fault_limited_to_a_function_leaves_the_others_alone(mini_stack, faults):
    # Given a throttle for the ticker's writes only
    fault = faults.add(
        kind="aws_error", function="TickerFunction", operation="PutItem", error="throttle"
    )
    # When the actor writes, then the ticker ticks
    assert act(mini_stack, {"put": "a"}) == ["ok"]
    assert fault.fired == 0
    mini_stack.advance(60)
    # Then only the ticker's write was refused
    assert [(f.function, f.request) for f in fault.firings] == [
        ("TickerFunction", "dynamodb.PutItem")
    ]


def test_index_is_the_ith_request_of_an_invocation_and_nth_the_ith_of_its_name(mini_stack, faults):
    # Given
    faults.add(kind="aws_error", function="ActorFunction", index=2, error="internal")
    faults.add(kind="aws_error", operation="GetItem", nth=2, error="throttle")
    # When
    results = act(mini_stack, {"put": "a"}, {"get": "a"}, {"put": "b"}, {"get": "a"}, {"get": "b"})
    # Then request 2 (the second put) and the second GetItem failed
    assert results == [
        "ok",
        None,
        {"error": "InternalServerError"},
        {"error": "ProvisionedThroughputExceededException"},
        None,
    ]
    # And every invocation counts from 0 again
    assert act(mini_stack, {"put": "c"}, {"put": "d"}, {"put": "e"}) == ["ok", "ok", "ok"]


def test_invocation_addresses_the_functions_ith_invocation(mini_stack, faults):
    faults.add(kind="aws_error", function="ActorFunction", invocation=1, index=0, error="throttle")
    assert act(mini_stack, {"put": "a"}) == ["ok"]
    assert act(mini_stack, {"put": "b"}) == [{"error": "ProvisionedThroughputExceededException"}]
    assert act(mini_stack, {"put": "c"}) == ["ok"]


def test_the_recorder_lists_each_invocations_requests_in_order_parallel_ones_in_item_order(
    mini_stack, faults
):
    # Given serial mode (the `faults` fixture); a clean record
    faults.clear_recorder()
    # When
    act(
        mini_stack,
        {"put": "a"},
        {"parallel": [{"get": "a"}, {"send": "x"}, {"update": "a", "value": "2"}, {"scan": True}]},
        {"delete": "a"},
    )
    act(mini_stack, {"get": "z"})
    # Then
    recorded = faults.recorder("ActorFunction")
    assert [r.requests for r in recorded] == [
        (
            "dynamodb.PutItem",
            "dynamodb.GetItem",
            "sqs.SendMessage",
            "dynamodb.UpdateItem",
            "dynamodb.Scan",
            "dynamodb.DeleteItem",
        ),
        ("dynamodb.GetItem",),
    ]
    assert [r.ordinal for r in recorded] == [0, 1]
    assert [r.outcome for r in recorded] == ["ok", "ok"]


def test_serial_mode_runs_parallel_map_in_the_callers_thread_in_order(mini_stack, faults):
    # Given serial mode; When / Then
    with aws_requests.invocation("ActorFunction"):
        assert parallel_map(lambda n: (n, threading.get_ident()), range(4), 4) == [
            (n, threading.get_ident()) for n in range(4)
        ]
    # And without it, real threads again
    faults.serial = False
    idents = parallel_map(lambda n: threading.get_ident(), range(4), 4)
    assert threading.get_ident() not in idents


def test_serial_mode_holds_for_a_thread_pool_made_before_the_stack(start_local_stack):
    # Given parallel work before any stack runs (a shared pool may be made then)
    parallel_map(lambda n: n, range(4), 4)
    stack = start_local_stack(template=MINI_TEMPLATE)
    # When
    stack.faults.serial = True
    with aws_requests.invocation("ActorFunction"):
        idents = parallel_map(lambda n: threading.get_ident(), range(4), 4)
    # Then
    assert idents == [threading.get_ident()] * 4


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "earthquake"}, "kind"),
        ({"kind": "aws_error", "service": "dynamodb", "operation": "PutItem"}, "error"),
        ({"kind": "aws_error", "operation": "PutItem", "error": "boom"}, "error"),
        ({"kind": "aws_error", "error": "throttle"}, "operation"),
        ({"kind": "aws_error", "index": -1, "error": "throttle"}, "index"),
        ({"kind": "aws_error", "index": True, "error": "throttle"}, "index"),
        ({"kind": "crash", "after": "dynamodb.PutItem"}, "function"),
        ({"kind": "crash", "function": "ActorFunction", "after": "PutItem"}, "after"),
        ({"kind": "crash", "function": "NoSuchFunction", "index": 1}, "function"),
        ({"kind": "crash", "function": "ActorFunction"}, "after"),
        ({"kind": "interleave", "at": 1, "run": "dance"}, "run"),
        ({"kind": "interleave", "at": 1, "run": "redeliver"}, "function"),
        ({"kind": "interleave", "at": 1, "run": "invoke:ActorFunction"}, "event"),
        ({"kind": "skip_ticks"}, "minutes"),
        ({"kind": "stale_reads", "seconds": 0}, "seconds"),
        ({"kind": "provider_5xx", "seconds": 10, "color": "red"}, "color"),
        ({"kind": "duplicate_deliveries", "count": 0}, "count"),
    ],
)
def test_a_fault_that_makes_no_sense_is_refused_naming_its_field(spec, field):
    # Given faults of a stack whose one function is ActorFunction
    faults = Faults(lambda: LOCAL_START, actions=OnlyActor())
    # When / Then
    with pytest.raises(FaultError) as refused:
        faults.add_spec(spec)
    assert field in [d["field"] for d in refused.value.details]
    assert faults.all() == []


class OnlyActor:
    def function_ids(self):
        return {"ActorFunction"}

    def tick(self, name):
        raise AssertionError("not run")

    def invoke(self, function, event, trigger):
        raise AssertionError("not run")

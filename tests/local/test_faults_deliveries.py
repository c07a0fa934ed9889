"""Duplicate deliveries and skipped ticks, as faults of the local runtime."""

from datetime import timedelta

import pytest

from tests.local.conftest import LOCAL_START
from tests.local.helpers import actor_runs, calls_of, send_act

pytestmark = pytest.mark.slow


def minute(m: int) -> str:
    return (LOCAL_START + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ticks(stack) -> list[str]:
    return [
        c["event"]["time"]
        for c in calls_of(stack, "TickerFunction")
        if c["event"].get("detail-type") == "Scheduled Event"
    ]


def test_a_duplicated_sqs_delivery_comes_twice_then_later_ones_once(mini_stack, faults):
    # Given
    fault = faults.add(kind="duplicate_deliveries", function="ActorFunction")
    # When two messages come a minute apart
    first = send_act(mini_stack, {"put": "a"})
    mini_stack.run_due()
    mini_stack.advance(60)
    second = send_act(mini_stack, {"put": "b"})
    mini_stack.run_due()
    # Then the first was delivered twice in a row (one more receive), the second once
    assert [run["source"] for run in actor_runs(mini_stack)] == [
        f"sqs {first} receive 1",
        f"sqs {first} receive 2",
        f"sqs {second} receive 1",
    ]
    assert fault.fired == 1
    # And the message is not delivered again later
    mini_stack.advance(120)
    assert len(actor_runs(mini_stack)) == 3


def test_a_duplicated_tick_comes_twice_as_two_invocations(mini_stack, faults):
    # Given
    faults.add(kind="duplicate_deliveries", function="TickerFunction", count=2)
    # When
    mini_stack.advance(180)
    # Then
    assert ticks(mini_stack) == [minute(1), minute(1), minute(2), minute(2), minute(3)]
    assert len(faults.recorder("TickerFunction")) == 5


def test_skipped_ticks_do_not_fire_for_that_many_minutes(mini_stack, faults):
    # Given at 14:00
    fault = faults.add(kind="skip_ticks", minutes=3)
    # When
    mini_stack.advance(5 * 60)
    # Then the ticks of 14:01 and 14:02 were skipped, the next came as usual
    assert ticks(mini_stack) == [minute(3), minute(4), minute(5)]
    assert [f.detail.split()[0:2] for f in fault.firings] == [["tick", "of"]] * 2
    assert [f.at for f in fault.firings] == [LOCAL_START + timedelta(minutes=m) for m in (1, 2)]

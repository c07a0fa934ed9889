"""The event loop runs due work in time order, on the injected clock only."""

from datetime import UTC, datetime, timedelta

import pytest
from batchcalls.clock import SimulatedClock, SystemClock

from local_stack.loop import EventLoop

START = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def simulated() -> EventLoop:
    return EventLoop(SimulatedClock(START), simulated=True)


def test_an_advance_runs_work_in_time_order_each_at_its_own_instant():
    # Given
    loop = simulated()
    ran: list[tuple[str, datetime]] = []
    loop.call_later(30, "b", lambda now: ran.append(("b", now)))
    loop.call_later(10, "a", lambda now: ran.append(("a", now)))
    loop.call_later(90, "late", lambda now: ran.append(("late", now)))
    # When
    loop.advance(60)
    # Then
    assert ran == [("a", START + timedelta(seconds=10)), ("b", START + timedelta(seconds=30))]
    assert loop.now() == START + timedelta(seconds=60)


def test_work_scheduled_on_the_way_runs_in_the_same_advance():
    # Given a task that schedules another one 5 seconds later, and one "now"
    loop = simulated()
    ran: list[datetime] = []

    def first(now: datetime) -> None:
        ran.append(now)
        loop.call_soon("now", ran.append)
        loop.call_later(5, "later", ran.append)

    loop.call_later(10, "first", first)
    # When
    loop.advance(20)
    # Then
    at10 = START + timedelta(seconds=10)
    assert ran == [at10, at10, at10 + timedelta(seconds=5)]


def test_nothing_runs_before_its_time():
    loop = simulated()
    ran: list[datetime] = []
    loop.call_later(30, "x", ran.append)
    loop.advance(29.999)
    assert ran == []
    loop.advance(0.001)
    assert len(ran) == 1


def test_a_failing_task_does_not_stop_the_others():
    loop = simulated()
    ran: list[datetime] = []

    def boom(now: datetime) -> None:
        raise RuntimeError("boom")

    loop.call_soon("boom", boom)
    loop.call_soon("fine", ran.append)
    loop.run_due()
    assert len(ran) == 1 and "boom" in loop.errors[0]


def test_only_a_simulated_clock_advances():
    with pytest.raises(ValueError):
        EventLoop(SystemClock(), simulated=False).advance(1)
    with pytest.raises(ValueError):
        simulated().advance(-1)

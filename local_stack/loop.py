"""The event loop: every piece of scheduled work, run in time order on the injected clock.

Work is a task with a due instant: a queue delivery (delays, retries after the
visibility timeout), a schedule rule's tick, a simulated call's outcome, an event
delivery, a retried async invocation. `run_due(now)` runs everything due at or before
`now`, including work those tasks schedule for `now`. `advance(seconds)` moves a
simulated clock from one due instant to the next, running each in turn, and returns
only when nothing is left due at the new time. With the real clock a background thread
runs what falls due as wall time passes. The loop knows nothing of HTTP or AWS.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

log = logging.getLogger("local_stack")

Action = Callable[[datetime], None]

# A task that keeps scheduling itself "now" would never let an advance finish.
MAX_TASKS_PER_INSTANT = 200_000


class Clock(Protocol):
    def now(self) -> datetime: ...


class SettableClock(Clock, Protocol):
    def set(self, instant: datetime) -> datetime: ...


@dataclass(order=True)
class _Task:
    due: datetime
    seq: int
    label: str = field(compare=False)
    action: Action = field(compare=False)


class EventLoop:
    def __init__(self, clock: Clock, *, simulated: bool) -> None:
        self.clock = clock
        self.simulated = simulated
        self._heap: list[_Task] = []
        self._seq = itertools.count()
        self._heap_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._advance_lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._kicked = False
        self._thread: threading.Thread | None = None
        self.tasks_run = 0
        self.errors: list[str] = []

    # ------------------------------------------------------------------ scheduling
    def now(self) -> datetime:
        return self.clock.now()

    def call_at(self, due: datetime, label: str, action: Action) -> None:
        with self._heap_lock:
            heapq.heappush(self._heap, _Task(due, next(self._seq), label, action))
        with self._wake:
            self._kicked = True
            self._wake.notify_all()

    def call_soon(self, label: str, action: Action) -> None:
        self.call_at(self.now(), label, action)

    def call_later(self, seconds: float, label: str, action: Action) -> None:
        self.call_at(self.now() + timedelta(seconds=seconds), label, action)

    def next_due(self) -> datetime | None:
        with self._heap_lock:
            return self._heap[0].due if self._heap else None

    def pending(self) -> list[tuple[datetime, str]]:
        with self._heap_lock:
            return sorted((t.due, t.label) for t in self._heap)

    def _pop_due(self, now: datetime) -> _Task | None:
        with self._heap_lock:
            if self._heap and self._heap[0].due <= now:
                return heapq.heappop(self._heap)
            return None

    # ------------------------------------------------------------------ running
    def _run_locked(self, now: datetime | None) -> int:
        ran = 0
        while True:
            at = self.now() if now is None else now
            task = self._pop_due(at)
            if task is None:
                return ran
            ran += 1
            if ran > MAX_TASKS_PER_INSTANT:
                raise RuntimeError(f"work keeps falling due at {at} (last: {task.label})")
            try:
                task.action(at)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as error:  # also a crash fault no trigger handled
                log.exception("local task %s failed", task.label)
                self.errors.append(f"{task.label}: {error!r}")
            self.tasks_run += 1

    def run_due(self, now: datetime | None = None) -> int:
        """Run everything due at or before `now` (default: the clock's now, read as it goes)."""
        with self._drain_lock:
            return self._run_locked(now)

    def drain_soon(self) -> None:
        """After a request or an invocation: run what is due now, unless someone already is.

        A request can arrive while the loop is running a task that waits for it (the
        simulated provider posting an outcome to the API): it must not wait for the loop.
        Whoever holds the loop re-checks for due work before letting go, so nothing is lost.
        """
        if not self.simulated:
            with self._wake:
                self._kicked = True
                self._wake.notify_all()
            return
        while self._drain_lock.acquire(blocking=False):
            try:
                self._run_locked(self.now())
            finally:
                self._drain_lock.release()
            due = self.next_due()
            if due is None or due > self.now():
                return

    def advance(self, seconds: float) -> datetime:
        """Move a simulated clock forward, running everything due on the way, in order."""
        if not self.simulated:
            raise ValueError("the clock is real; only a simulated clock can be advanced")
        if seconds < 0:
            raise ValueError("the clock never moves backwards")
        clock: Any = self.clock
        with self._advance_lock:
            target = self.now() + timedelta(seconds=seconds)
            self.run_due(self.now())
            while True:
                due = self.next_due()
                if due is None or due > target:
                    break
                if due > self.now():
                    clock.set(due)
                self.run_due(self.now())
            if target > self.now():
                clock.set(target)
            self.run_due(self.now())
            return self.now()

    # ------------------------------------------------------------------ real clock
    def start(self) -> None:
        """With the real clock, run due work in the background as wall time passes."""
        if self.simulated or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._background, name="local-loop", daemon=True)
        self._thread.start()

    def _background(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                self._kicked = False
            try:
                self.run_due()
            except Exception:
                log.exception("local event loop")
            due = self.next_due()
            wait = 1.0 if due is None else (due - self.now()).total_seconds()
            with self._wake:
                if self._stopping.is_set():
                    return
                if wait > 0 and not self._kicked:
                    self._wake.wait(min(wait, 1.0))

    def stop(self) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

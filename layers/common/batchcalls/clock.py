"""The one injected clock: every component asks it for "now", never the system directly."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait (a handler pacing its own requests)."""
        ...


class SystemClock:
    """The wall clock: what runs on AWS, and locally by default."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class SimulatedClock:
    """A clock that moves only when told; the local stack and tests advance it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware start instant")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        return self.set(self.now() + timedelta(seconds=seconds))

    def sleep(self, seconds: float) -> None:
        """Nothing: simulated time moves only between invocations, when the runtime moves
        it, so a handler's own wait takes none of it."""

    def set(self, instant: datetime) -> datetime:
        with self._lock:
            if instant < self._now:
                raise ValueError("the clock never moves backwards")
            self._now = instant.astimezone(UTC)
            return self._now


_current: Clock = SystemClock()


def current_clock() -> Clock:
    return _current


def use_clock(clock: Clock) -> None:
    """Install the process-wide clock (the local runtime does this for CLOCK=simulated)."""
    global _current
    _current = clock


def utc_now() -> datetime:
    return _current.now()


def to_iso(instant: datetime) -> str:
    """UTC ISO 8601 with `Z`, to the millisecond."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_epoch_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)

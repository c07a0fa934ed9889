"""A plain-text progress bar: `[#####.....] 1234/3000 contacts done, day 1 Mon 14:05 New York`.

On a terminal the line is redrawn in place; otherwise (a log, CI) a line is written when
another tenth of the contacts is done, on each new local day, and at most every 30 s.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

WIDTH = 30
QUIET_INTERVAL = 30.0


class Progress:
    def __init__(
        self,
        total: int,
        zone: ZoneInfo,
        city: str,
        first_day: date,
        stream: TextIO,
        enabled: bool = True,
    ) -> None:
        self.total = total
        self.zone = zone
        self.city = city
        self.first_day = first_day
        self.stream = stream
        self.enabled = enabled
        self.live = enabled and hasattr(stream, "isatty") and stream.isatty()
        self._last_line = ""
        self._last_tenth = -1
        self._last_day = -1
        self._last_write = 0.0

    def line(self, done: int, now: datetime, status: str) -> str:
        filled = WIDTH * done // self.total if self.total else WIDTH
        local = now.astimezone(self.zone)
        day = (local.date() - self.first_day).days + 1
        return (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{self.total} contacts done, "
            f"day {day} {local:%a %H:%M} {self.city} ({status})"
        )

    def show(self, done: int, now: datetime, status: str) -> None:
        if not self.enabled:
            return
        line = self.line(done, now, status)
        if self.live:
            padding = " " * max(0, len(self._last_line) - len(line))
            self.stream.write(f"\r{line}{padding}")
            self.stream.flush()
            self._last_line = line
            return
        tenth = 10 * done // self.total if self.total else 10
        day = (now.astimezone(self.zone).date() - self.first_day).days
        wall = time.monotonic()
        if (
            tenth != self._last_tenth
            or day != self._last_day
            or wall - self._last_write >= QUIET_INTERVAL
        ):
            self.stream.write(line + "\n")
            self.stream.flush()
            self._last_tenth, self._last_day, self._last_write = tenth, day, wall

    def finish(self) -> None:
        if self.enabled and self.live and self._last_line:
            self.stream.write("\n")
            self.stream.flush()

"""The planner's resumable state: what chunk k of a plan hands to chunk k+1, as compact JSON."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

STATE_VERSION = 1


def encode_uints(values: Iterable[int]) -> str:
    """Non-negative integers as LEB128 varints, base64: a sorted tick list, delta-coded,
    costs one to three bytes per entry instead of thirteen digits of JSON."""
    out = bytearray()
    for value in values:
        if value < 0:
            raise ValueError("only non-negative integers can be encoded")
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
    return base64.b64encode(bytes(out)).decode("ascii")


def decode_uints(text: str) -> list[int]:
    values: list[int] = []
    value = shift = 0
    for byte in base64.b64decode(text.encode("ascii"), validate=True):
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
        else:
            values.append(value)
            value = shift = 0
    if shift:
        raise ValueError("truncated varint")
    return values


@dataclass(frozen=True, slots=True)
class PlannerState:
    """Where a plan stands after some contacts, enough for the next chunk to go on exactly.

    - `key`: fingerprint of the inputs the timing depends on (window settings, caps, rate,
      pacing, start, horizon); a state is only accepted by a plan with the same key.
    - `rotation_offset`: how many calls round-robin has handed out so far.
    - `day_counts`: calls per campaign-local day, index 0 = the start's local day.
    - `used_runs`: flat (start, end) pairs of used tick ranges, sorted and merged; ranges in
      days that can take no more calls are dropped, since nothing can be placed there.
    - spread pacing only: `remaining` contacts still to plan, `quotas` (day index, calls
      the day is spread for, calls placed) of days being filled, `closed_days` reached
      their quota.
    """

    key: str
    rotation_offset: int = 0
    day_counts: tuple[int, ...] = ()
    used_runs: tuple[int, ...] = ()
    remaining: int = 0
    quotas: tuple[tuple[int, int, int], ...] = ()
    closed_days: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        counts = list(self.day_counts)
        while counts and counts[-1] == 0:
            counts.pop()
        deltas: list[int] = []
        previous = 0
        for value in self.used_runs:
            deltas.append(value - previous)
            previous = value
        data: dict[str, Any] = {
            "v": STATE_VERSION,
            "key": self.key,
            "rotation_offset": self.rotation_offset,
            "day_counts": counts,
            "used_runs": encode_uints(deltas),
        }
        if self.remaining or self.quotas or self.closed_days:
            data["remaining"] = self.remaining
            data["quotas"] = [list(q) for q in self.quotas]
            data["closed_days"] = list(self.closed_days)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlannerState:
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"unknown planner state version {data.get('v')!r}")
        runs: list[int] = []
        total = 0
        for delta in decode_uints(data["used_runs"]):
            total += delta
            runs.append(total)
        if len(runs) % 2:
            raise ValueError("planner state: used_runs must hold (start, end) pairs")
        return cls(
            key=str(data["key"]),
            rotation_offset=int(data["rotation_offset"]),
            day_counts=tuple(int(c) for c in data["day_counts"]),
            used_runs=tuple(runs),
            remaining=int(data.get("remaining", 0)),
            quotas=tuple((int(d), int(n), int(p)) for d, n, p in data.get("quotas", [])),
            closed_days=tuple(int(d) for d in data.get("closed_days", [])),
        )

"""DynamoDB item images as they were before recent writes: what a stale read sees.

While a `stale_reads` fault is on, moto's write paths (`moto_hooks`) note each item's
image before the write, with the injected time of the write. A read at `now` with a
window of `seconds` sees each item as it was before its first write after
`now - seconds`: absent if it was created since, present if it was deleted since.
Entries older than the widest window in use are dropped as writes come in.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


def canonical_key(key: dict[str, Any]) -> str:
    """One text per item key (DynamoDB JSON), whoever spells it."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Image:
    """An item before a write: its key and attributes (None: it did not exist)."""

    key: dict[str, Any]
    attributes: dict[str, Any] | None


class WriteLog:
    def __init__(self) -> None:
        self._tables: dict[str, dict[str, list[tuple[datetime, Image]]]] = {}
        self._lock = threading.Lock()

    def record(
        self,
        table: str,
        key: dict[str, Any],
        before: dict[str, Any] | None,
        at: datetime,
        keep_seconds: float,
    ) -> None:
        image = Image(copy.deepcopy(key), copy.deepcopy(before))
        horizon = at - timedelta(seconds=keep_seconds)
        with self._lock:
            items = self._tables.setdefault(table, {})
            items.setdefault(canonical_key(key), []).append((at, image))
            for text in [k for k, entries in items.items() if entries[-1][0] <= horizon]:
                del items[text]

    def images(self, table: str, since: datetime) -> dict[str, Image]:
        """By key: the image before the first write after `since`, for items written since."""
        found = {}
        with self._lock:
            for text, entries in self._tables.get(table, {}).items():
                for at, image in entries:
                    if at > since:
                        found[text] = image
                        break
        return found

    def written_since(self, table: str, key: dict[str, Any], since: datetime) -> bool:
        with self._lock:
            entries = self._tables.get(table, {}).get(canonical_key(key), [])
            return any(at > since for at, _ in entries)

    def tables_written_since(self, since: datetime) -> set[str]:
        with self._lock:
            return {
                table
                for table, items in self._tables.items()
                if any(entries[-1][0] > since for entries in items.values())
            }

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()

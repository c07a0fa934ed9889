"""The outbox: an event is written in the same transaction as the state change it reports,
and leaves for the bus only from here (ARCHITECTURE.md "Events leave only through the bus,
and only for what was committed").

The Outbox table's stream hands each new item to the publisher function at once; an item
the publisher could not hand over stays, and the sweeper publishes it after
`UNPUBLISHED_AFTER_MS`. An item is deleted once the bus took it, so whatever the table
holds is not yet published. An event's item is keyed by its `eventId`.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from batchcalls.adapters.tables import OutboxRecord
from batchcalls.adapters.transactions import Transaction, conditional

OUTBOX_SHARDS = 10
UNPUBLISHED_AFTER_MS = 5 * 60_000
KEEP_SECONDS = 14 * 86_400  # an item nobody could publish for two weeks is dropped


def _shard(event_id: str) -> int:
    return int(hashlib.blake2s(event_id.encode(), digest_size=4).hexdigest(), 16) % OUTBOX_SHARDS


def outbox_item(detail: dict[str, Any], webhook_url: str | None, now_ms: int) -> OutboxRecord:
    event_id = str(detail["eventId"])
    return OutboxRecord(
        pk=f"outbox#{_shard(event_id)}",
        sk=event_id,
        event_id=event_id,
        detail=detail,
        webhook_url=webhook_url,
        created_ms=now_ms,
        # Wall time orders events written in the same instant of a simulated clock.
        written_ns=time.time_ns(),
        ttl=now_ms // 1000 + KEEP_SECONDS,
    )


def add_event(
    tx: Transaction, detail: dict[str, Any], webhook_url: str | None, now_ms: int
) -> None:
    """The event goes out if and only if `tx` commits (the same `eventId` written again
    overwrites its item: one event)."""
    tx.put(outbox_item(detail, webhook_url, now_ms), label="outbox")


class OutboxStore:
    def unpublished(self, created_before_ms: int) -> list[OutboxRecord]:
        """Events written before the instant and not yet published, oldest first."""
        found = [
            item
            for shard in range(OUTBOX_SHARDS)
            for item in OutboxRecord.query(
                f"outbox#{shard}",
                filter_condition=OutboxRecord.created_ms < created_before_ms,
                consistent_read=True,
            )
        ]
        return sorted(found, key=lambda item: (int(item.created_ms), int(item.written_ns or 0)))

    def published(self, item: OutboxRecord) -> None:
        conditional(lambda: OutboxRecord(item.pk, item.sk).delete(), "outbox delete")

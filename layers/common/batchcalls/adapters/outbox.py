"""The outbox: an event is written in the same transaction as the state change it reports,
and leaves for the bus only from here (ARCHITECTURE.md "Events leave only through the bus,
and only for what was committed"). Requests to the planner (plan a new version, cancel
the contacts) travel the same way, so a campaign's transition and the work it starts
commit together: a crash cannot leave a campaign active with no plan under way.

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


def outbox_item(
    detail: dict[str, Any],
    webhook_url: str | None,
    now_ms: int,
    kind: str = "event",
    tenant_id: str | None = None,
) -> OutboxRecord:
    event_id = str(detail["eventId"])
    return OutboxRecord(
        pk=f"outbox#{_shard(event_id)}",
        sk=event_id,
        event_id=event_id,
        kind=kind,
        tenant_id=tenant_id,
        detail=detail,
        webhook_url=webhook_url,
        created_ms=now_ms,
        # Wall time orders events written in the same instant of a simulated clock.
        written_ns=time.time_ns(),
        ttl=now_ms // 1000 + KEEP_SECONDS,
    )


def add_event(
    tx: Transaction,
    detail: dict[str, Any],
    webhook_url: str | None,
    now_ms: int,
    *,
    tenant_id: str,
) -> None:
    """The event of `tenant_id` goes out if and only if `tx` commits (the same `eventId`
    written again overwrites its item: one event). The tenant travels beside the body,
    not in it (the body is what webhooks receive): on the bus it is the entry's
    `resources` (adapters/events_bus.py), which event destinations' rules match."""
    tx.put(outbox_item(detail, webhook_url, now_ms, tenant_id=tenant_id), label="outbox")


def add_command(tx: Transaction, command: dict[str, Any], now_ms: int) -> None:
    """A message for the planning queue, sent if and only if `tx` commits."""
    key = "|".join(
        str(command.get(k, "")) for k in ("kind", "tenant_id", "campaign_id", "plan_version")
    )
    command_id = "cmd_" + hashlib.sha256(key.encode()).hexdigest()[:24]
    tx.put(
        outbox_item({**command, "eventId": command_id}, None, now_ms, "command"), label="command"
    )


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

"""Slots: one item per planned call, keyed by its due minute and a shard.

A minute can hold the calls of many campaigns; one partition per minute would cap it at
1,000 writes/s. `SLOT_SHARDS` partitions per minute allow 10,000 slot writes/s into one
minute (e.g. 80 campaigns at 30 calls/s planned in parallel, plus retries), and the
dispatcher reads a minute's shards in parallel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from batchcalls.adapters.tables import SlotRecord

SLOT_SHARDS = 10
MINUTE_MS = 60_000


@dataclass(frozen=True)
class SlotKey:
    minute_shard: str
    slot_key: str


def minute_of(due_ms: int) -> str:
    return datetime.fromtimestamp(due_ms // MINUTE_MS * 60, tz=UTC).strftime("%Y-%m-%dT%H:%M")


def slot_shard(contact_id: str) -> int:
    return int(hashlib.blake2s(contact_id.encode(), digest_size=4).hexdigest(), 16) % SLOT_SHARDS


def key_for(
    tenant_id: str, campaign_id: str, contact_id: str, attempt: int, plan_version: int, due_ms: int
) -> SlotKey:
    """The tenant leads the sort key so a slot never reads as another tenant's."""
    return SlotKey(
        f"{minute_of(due_ms)}#{slot_shard(contact_id):02d}",
        f"{tenant_id}#{campaign_id}#{contact_id}#{attempt}#{plan_version}",
    )


def new_slot(
    tenant_id: str,
    campaign_id: str,
    contact_id: str,
    attempt: int,
    plan_version: int,
    due_ms: int,
    priority: int,
    caller_id: str | None,
) -> SlotRecord:
    key = key_for(tenant_id, campaign_id, contact_id, attempt, plan_version, due_ms)
    return SlotRecord(
        minute_shard=key.minute_shard,
        slot_key=key.slot_key,
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        contact_id=contact_id,
        attempt=attempt,
        plan_version=plan_version,
        due_ms=due_ms,
        priority=priority,
        caller_id=caller_id,
        status="planned",
    )


class SlotStore:
    def put_many(self, slots: Iterable[SlotRecord]) -> None:
        """Full BatchWriteItem batches; pynamodb retries unprocessed items with backoff."""
        with SlotRecord.batch_write() as batch:
            for slot in slots:
                batch.save(slot)

    def delete_many(self, keys: Iterable[SlotKey]) -> None:
        with SlotRecord.batch_write() as batch:
            for key in keys:
                batch.delete(SlotRecord(key.minute_shard, key.slot_key))

    def in_minute(self, minute: str) -> Iterator[SlotRecord]:
        for shard in range(SLOT_SHARDS):
            yield from SlotRecord.query(f"{minute}#{shard:02d}", consistent_read=True)

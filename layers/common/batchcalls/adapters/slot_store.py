"""Slots: one item per planned call, keyed by its due minute and a shard.

A minute can hold the calls of many campaigns; one partition per minute would cap it at
1,000 writes/s. `SLOT_SHARDS` partitions per minute allow 10,000 slot writes/s into one
minute (e.g. 80 campaigns at 30 calls/s planned in parallel, plus retries).

Before a slot is written, a mark for its (minute, shard) is (`SlotMarkRecord`): the
dispatcher reads the marks of the minutes it looks at in one BatchGetItem and queries
only the marked shards, so the quiet minutes of a night cost one read, not ten per
minute. Marks are never removed (a mark whose slots are gone costs one empty query);
they are a few bytes, at most `SLOT_SHARDS` per minute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from batchcalls.adapters.tables import RecheckItem, SlotMarkRecord, SlotRecord, WatermarkItem
from batchcalls.adapters.transactions import conditional, with_retries
from batchcalls.concurrency import parallel_map
from batchcalls.domain.bookings import minute_of

__all__ = ["SLOT_SHARDS", "SlotKey", "SlotStore", "key_for", "minute_of", "new_slot"]

SLOT_SHARDS = 10
BATCH_GET_KEYS = 100  # BatchGetItem's limit


@dataclass(frozen=True)
class SlotKey:
    minute_shard: str
    slot_key: str


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


def mark_key(minute_shard: str) -> tuple[str, str]:
    """The mark of a slot partition "<minute>#<shard>": ("<minute>#marks", "<shard>")."""
    minute, shard = minute_shard.rsplit("#", 1)
    return f"{minute}#marks", shard


WRITE_LANES = 16  # BatchWriteItem requests in flight at once (the shared pool's size)
BATCH_ITEMS = 25  # BatchWriteItem's limit


def _write_in_parallel(
    model: type[SlotRecord] | type[SlotMarkRecord],
    records: list[Any],
    delete: bool = False,
) -> None:
    """Full BatchWriteItem batches, up to WRITE_LANES requests at a time (a planner chunk
    writes thousands of slots: one batch after another would be most of its time,
    docs/benchmarks.md). Returns once every item is written."""
    if not records:
        return
    batches = -(-len(records) // BATCH_ITEMS)
    per_lane = BATCH_ITEMS * -(-batches // WRITE_LANES)
    lanes = [records[i : i + per_lane] for i in range(0, len(records), per_lane)]

    def write(lane: list[Any]) -> None:
        with model.batch_write() as batch:
            for record in lane:
                if delete:
                    batch.delete(record)
                else:
                    batch.save(record)

    parallel_map(write, lanes, WRITE_LANES)


class SlotStore:
    def put_many(self, slots: Iterable[SlotRecord]) -> None:
        """Marks first, then the slots, in full BatchWriteItem batches (pynamodb retries
        unprocessed items with backoff). A reader that sees no mark sees no slot."""
        slots = list(slots)
        self._mark({slot.minute_shard for slot in slots})
        _write_in_parallel(SlotRecord, slots)

    def _mark(self, partitions: set[str]) -> None:
        _write_in_parallel(
            SlotMarkRecord, [SlotMarkRecord(*mark_key(p)) for p in sorted(partitions)]
        )

    def delete_many(self, keys: Iterable[SlotKey]) -> None:
        _write_in_parallel(
            SlotRecord, [SlotRecord(key.minute_shard, key.slot_key) for key in keys], delete=True
        )

    def mark_items(self, partitions: set[str]) -> list[SlotMarkRecord]:
        """The marks of these slot partitions (for a transaction that writes slots)."""
        return [SlotMarkRecord(*mark_key(partition)) for partition in sorted(partitions)]

    def delete(self, key: SlotKey) -> None:
        conditional(lambda: SlotRecord(key.minute_shard, key.slot_key).delete(), "slot delete")

    # ------------------------------------------------------------------ the dispatcher's place
    def watermark(self) -> int | None:
        """The first minute (epoch ms) the next tick reads; None before the first tick."""
        try:
            return int(
                with_retries(
                    lambda: WatermarkItem.get("dispatcher", "watermark", consistent_read=True),
                    "watermark read",
                ).value
            )
        except WatermarkItem.DoesNotExist:
            return None

    def set_watermark(self, minute_ms: int) -> None:
        with_retries(
            lambda: WatermarkItem(pk="dispatcher", sk="watermark", value=minute_ms).save(),
            "watermark",
        )

    def ensure_watermark(self, minute_ms: int) -> None:
        """Set the watermark to `minute_ms` if there is none yet (one write, whatever is
        there: an existing watermark is left as it is)."""
        with_retries(
            lambda: WatermarkItem(pk="dispatcher", sk="watermark").update(
                actions=[WatermarkItem.value.set(WatermarkItem.value | minute_ms)]
            ),
            "watermark",
        )

    def recheck_later(self, partitions: Iterable[str]) -> None:
        """Slot partitions to read again: a planner was writing their contacts."""
        with RecheckItem.batch_write() as batch:
            for partition in sorted(set(partitions)):
                batch.save(RecheckItem(pk="recheck", sk=partition))

    def to_recheck(self) -> list[str]:
        return [item.sk for item in RecheckItem.query("recheck", consistent_read=True)]

    def rechecked(self, partition: str) -> None:
        conditional(lambda: RecheckItem(pk="recheck", sk=partition).delete(), "recheck done")

    def in_partitions(self, partitions: Iterable[str], workers: int = 1) -> Iterator[SlotRecord]:
        """Every slot of these partitions, `workers` partitions read at a time."""

        def read(partition: str) -> list[SlotRecord]:
            return list(SlotRecord.query(partition, consistent_read=True))

        for slots in parallel_map(read, list(partitions), workers):
            yield from slots

    def marked_partitions(self, minutes: Iterable[str], workers: int = 1) -> list[str]:
        """The "<minute>#<shard>" partitions of these minutes that were ever written to
        (`workers` BatchGetItem requests at a time)."""
        keys = [
            (f"{minute}#marks", f"{shard:02d}")
            for minute in minutes
            for shard in range(SLOT_SHARDS)
        ]

        def read(part: list[tuple[str, str]]) -> list[str]:
            return [
                f"{mark.minute_shard.removesuffix('#marks')}#{mark.slot_key}"
                for mark in SlotMarkRecord.batch_get(part, consistent_read=True)
            ]

        parts = [
            keys[start : start + BATCH_GET_KEYS] for start in range(0, len(keys), BATCH_GET_KEYS)
        ]
        return sorted(p for found in parallel_map(read, parts, workers) for p in found)

    def in_minutes(self, minutes: Iterable[str], workers: int = 1) -> Iterator[SlotRecord]:
        """Every slot due in these minutes (queries only the marked shards, `workers` at a
        time)."""
        yield from self.in_partitions(self.marked_partitions(minutes, workers), workers)

    def campaign_slots_in_minute(
        self, tenant_id: str, campaign_id: str, minute: str
    ) -> Iterator[SlotRecord]:
        """One campaign's slots in one minute (its slot keys start with tenant#campaign#)."""
        prefix = f"{tenant_id}#{campaign_id}#"
        for partition in self.marked_partitions([minute]):
            yield from SlotRecord.query(
                partition, SlotRecord.slot_key.startswith(prefix), consistent_read=True
            )

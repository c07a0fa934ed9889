"""Every change of a contact's status, written in one transaction with the counters it moves.

A campaign's `stats` (contacts per status) are counters in the Coordination table, one item
per contact shard (`ContactCountsItem`): a transition and its counter change commit
together or not at all, so a crash anywhere leaves them equal to what the contacts say, and
completion (which reads them) cannot miss. Sharding the counters as the contacts are
sharded keeps concurrent transactions from conflicting on one hot item.

Use: `moves = ContactMoves(tx)`; `moves.move(contact, "queued", now, ...)` for each contact;
`moves.commit()` (adds one counter update per shard touched, then commits `tx`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.expressions.condition import Condition

from batchcalls.adapters.tables import (
    ContactCountsItem,
    ContactRecord,
    partition_key,
    status_seq,
)
from batchcalls.adapters.transactions import ConditionFailed, Transaction, transaction
from batchcalls.clock import to_iso
from batchcalls.concurrency import parallel_map
from batchcalls.domain.campaigns import CONTACT_STATUSES
from batchcalls.ids import CONTACT_SHARDS, contact_shard

OPEN_STATUSES = ("pending", "scheduled", "queued", "in_progress")


def counts_pk(tenant_id: str, campaign_id: str) -> str:
    return f"counts#{tenant_id}#{campaign_id}"


def contact_key(tenant_id: str, campaign_id: str, contact_id: str) -> tuple[str, str]:
    return partition_key(tenant_id, campaign_id, contact_shard(contact_id)), contact_id


def status_actions(contact: ContactRecord, status: str, now: datetime) -> list[Any]:
    """What every status change sets: the status, its listing key and the update time."""
    return [
        ContactRecord.status.set(status),
        ContactRecord.status_seq.set(status_seq(status, int(contact.seq))),
        ContactRecord.updated_at.set(to_iso(now)),
    ]


class ContactMoves:
    """The contact moves of one transaction and the counter deltas they make."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self._deltas: dict[tuple[str, str, int], Counter[str]] = defaultdict(Counter)

    def move(
        self,
        contact: ContactRecord,
        status: str,
        now: datetime,
        actions: Iterable[Any] = (),
        condition: Condition | None = None,
        label: str = "contact",
        from_status: str | None = None,
    ) -> None:
        """`contact` (as read, in `from_status`, default its status) becomes `status`;
        the write is conditional on `condition` (default: still in `from_status`)."""
        before = from_status or contact.status
        if condition is None:
            condition = ContactRecord.status == before
        self.tx.update(
            contact, [*status_actions(contact, status, now), *actions], condition, label=label
        )
        self.count(contact.pk, contact.contact_id, before, status)

    def add_new(self, contact: ContactRecord, label: str = "new contact") -> None:
        """A new contact (its status set), written only if its id is not taken."""
        self.tx.put(contact, ContactRecord.contact_id.does_not_exist(), label=label)
        self.count(contact.pk, contact.contact_id, None, contact.status)

    def count(self, contact_pk: str, contact_id: str, before: str | None, after: str) -> None:
        if before == after:
            return
        tenant_id, campaign_id, _ = contact_pk.split("#", 2)
        deltas = self._deltas[(tenant_id, campaign_id, contact_shard(contact_id))]
        if before is not None:
            deltas[before] -= 1
        deltas[after] += 1

    def commit(self) -> None:
        for (tenant_id, campaign_id, shard), deltas in self._deltas.items():
            actions = [getattr(ContactCountsItem, s).add(n) for s, n in deltas.items() if n]
            if actions:
                item = ContactCountsItem(pk=counts_pk(tenant_id, campaign_id), sk=f"{shard:02d}")
                self.tx.update(item, actions, label=f"counts {shard}")
        self._deltas.clear()
        self.tx.commit()


@dataclass
class Move:
    """One contact's change in a bulk write: to `status` with `actions`, on `condition`
    (default: still in the status it was read in); `new`: a contact to create."""

    contact: ContactRecord
    status: str
    actions: list[Any] = field(default_factory=list)
    condition: Condition | None = None
    new: bool = False


def write_moves(
    moves: Sequence[Move], now: datetime, what: str, workers: int = 16, per_transaction: int = 50
) -> list[bool]:
    """Write many contact moves, each with its counters, a few dozen per transaction (the
    contacts of one shard together, so one counter item per transaction); returns, in
    order, whether each was written (False: its condition failed, it moved on
    meanwhile). A transaction refused for one contact's condition is written again
    without it."""
    by_shard: dict[int, list[int]] = defaultdict(list)
    for index, move in enumerate(moves):
        by_shard[contact_shard(move.contact.contact_id)].append(index)
    groups = [
        indexes[start : start + per_transaction]
        for indexes in by_shard.values()
        for start in range(0, len(indexes), per_transaction)
    ]
    written = [False] * len(moves)

    def write(group: list[int]) -> None:
        remaining = list(group)
        while remaining:
            moves_tx = ContactMoves(transaction(what))
            for index in remaining:
                move = moves[index]
                if move.new:
                    moves_tx.add_new(move.contact, label=str(index))
                else:
                    moves_tx.move(
                        move.contact, move.status, now, move.actions, move.condition, str(index)
                    )
            try:
                moves_tx.commit()
            except ConditionFailed as lost:
                failed = {int(label) for label in lost.labels if label.isdigit()}
                if not failed:
                    raise
                remaining = [i for i in remaining if i not in failed]
                continue
            for index in remaining:
                written[index] = True
            return

    parallel_map(write, groups, workers)
    return written


class ContactCounts:
    """Reads a campaign's contacts per status (its 16 counter items, one query)."""

    def totals(self, tenant_id: str, campaign_id: str) -> dict[str, int]:
        totals = dict.fromkeys(CONTACT_STATUSES, 0)
        for counts in self.per_shard(tenant_id, campaign_id).values():
            for status, count in counts.items():
                totals[status] += count
        return totals

    def per_shard(self, tenant_id: str, campaign_id: str) -> dict[int, dict[str, int]]:
        """Contacts per status of each shard that holds any (exact: every status change
        commits with its counter)."""
        return {
            int(item.sk): {s: int(getattr(item, s) or 0) for s in CONTACT_STATUSES}
            for item in ContactCountsItem.query(
                counts_pk(tenant_id, campaign_id), consistent_read=True
            )
        }

    def require_none_open(self, tx: Transaction, tenant_id: str, campaign_id: str) -> None:
        """`tx` commits only while no contact of the campaign is open (every shard)."""
        for shard in range(CONTACT_SHARDS):
            none_open = None
            for status in OPEN_STATUSES:
                attribute = getattr(ContactCountsItem, status)
                clause = attribute.does_not_exist() | (attribute == 0)
                none_open = clause if none_open is None else none_open & clause
            assert none_open is not None
            tx.check(
                ContactCountsItem,
                counts_pk(tenant_id, campaign_id),
                f"{shard:02d}",
                none_open,
                label="no open contact",
            )

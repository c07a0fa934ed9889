"""Contact storage: sharded partitions, batch writes, lists merged across shards in order."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from batchcalls.adapters.campaign_store import (
    Page,
    decode_cursor,
    encode_cursor,
    is_sequence_number,
)
from batchcalls.adapters.contact_moves import ContactCounts, Move, write_moves
from batchcalls.adapters.tables import SEQ_WIDTH, ContactRecord, partition_key, status_seq
from batchcalls.clock import to_iso
from batchcalls.domain.contacts import NewContact
from batchcalls.errors import Conflict, NotFound
from batchcalls.ids import CONTACT_SHARDS, contact_id_for, contact_shard

__all__ = ["ContactPlanWrites", "ContactStore", "partition_key", "status_seq"]


class ContactStore:
    def existing_ids(
        self, tenant_id: str, campaign_id: str, contact_ids: Sequence[str]
    ) -> set[str]:
        keys = [
            (partition_key(tenant_id, campaign_id, contact_shard(cid)), cid) for cid in contact_ids
        ]
        found: set[str] = set()
        for start in range(0, len(keys), 100):
            for item in ContactRecord.batch_get(
                keys[start : start + 100], attributes_to_get=["contact_id"]
            ):
                found.add(item.contact_id)
        return found

    def add(
        self,
        tenant_id: str,
        campaign_id: str,
        contacts: Sequence[NewContact],
        first_seq: int,
        now: datetime,
    ) -> int:
        """Write new contacts as `pending`, each only if its id (derived from the number)
        is not taken, with the campaign's counters; returns how many were new."""
        return sum(self.add_each(tenant_id, campaign_id, contacts, first_seq, now))

    def add_each(
        self,
        tenant_id: str,
        campaign_id: str,
        contacts: Sequence[NewContact],
        first_seq: int,
        now: datetime,
        origins: Sequence[str] | None = None,
        per_transaction: int = 50,
    ) -> list[bool]:
        """As `add`, saying for each contact whether it was written (False: the number
        was in the campaign already); `origins` marks where each came from."""
        stamp = to_iso(now)
        moves = []
        for offset, contact in enumerate(contacts):
            cid = contact_id_for(campaign_id, contact.phone_number)
            seq = first_seq + offset
            record = ContactRecord(
                pk=partition_key(tenant_id, campaign_id, contact_shard(cid)),
                contact_id=cid,
                seq=seq,
                status="pending",
                status_seq=status_seq("pending", seq),
                phone_number=contact.phone_number,
                name=contact.name,
                timezone=contact.timezone,
                state=contact.state,
                variables=contact.variables or None,
                timezones=list(contact.timezones),
                attempts=0,
                plan_version=0,
                origin=origins[offset] if origins else None,
                updated_at=stamp,
            )
            moves.append(Move(record, "pending", new=True))
        return write_moves(moves, now, "add contacts", per_transaction=per_transaction)

    def origins(
        self, tenant_id: str, campaign_id: str, contact_ids: Sequence[str]
    ) -> dict[str, str | None]:
        """Where each of these stored contacts came from (`origin`; None: the API)."""
        keys = [
            (partition_key(tenant_id, campaign_id, contact_shard(cid)), cid) for cid in contact_ids
        ]
        found: dict[str, str | None] = {}
        for start in range(0, len(keys), 100):
            for item in ContactRecord.batch_get(
                keys[start : start + 100],
                consistent_read=True,
                attributes_to_get=["contact_id", "origin"],
            ):
                found[item.contact_id] = item.origin
        return found

    def get(self, tenant_id: str, campaign_id: str, contact_id: str) -> ContactRecord:
        if not contact_id.startswith("ct_") or len(contact_id) > 40:
            raise NotFound("no such contact")
        pk = partition_key(tenant_id, campaign_id, contact_shard(contact_id))
        try:
            return ContactRecord.get(pk, contact_id, consistent_read=True)
        except ContactRecord.DoesNotExist:
            raise NotFound("no such contact") from None

    def page(
        self,
        tenant_id: str,
        campaign_id: str,
        status: str | None,
        limit: int,
        cursor: str | None,
        reason: str | None = None,
    ) -> Page:
        """One page in the order contacts were added, merged over every shard; with
        `reason`, only the contacts a rule skipped or moved for that reason."""
        start = decode_cursor(cursor, after_seq=is_sequence_number)
        after = start["after_seq"] if start else 0
        # Contacts spread evenly over the shards, and the merge pulls each shard's pages
        # lazily: a page of `limit` reads about 2 x limit items, not 16 x limit.
        page_size = limit // CONTACT_SHARDS + 8
        streams = [
            self._shard_in_order(
                tenant_id, campaign_id, shard, status, after, page_size, reason=reason
            )
            for shard in range(CONTACT_SHARDS)
        ]
        items: list[ContactRecord] = []
        for record in heapq.merge(*streams, key=lambda r: int(r.seq)):
            if len(items) == limit:
                return Page(items, encode_cursor({"after_seq": int(items[-1].seq)}))
            items.append(record)
        return Page(items, None)

    def iter_of_statuses(
        self,
        tenant_id: str,
        campaign_id: str,
        statuses: Sequence[str],
        after_seq: int = 0,
        attributes: Sequence[str] | None = None,
    ) -> Iterator[ContactRecord]:
        """Every contact of these statuses in the order added, streamed; only the shards
        whose counters hold contacts of a status are read for it (a small campaign's
        contacts fill few of its 16 shards)."""
        held = ContactCounts().per_shard(tenant_id, campaign_id)
        streams = [
            self._shard_in_order(tenant_id, campaign_id, shard, status, after_seq, 500, attributes)
            for status in statuses
            for shard, counts in sorted(held.items())
            if counts[status]
        ]
        return heapq.merge(*streams, key=lambda r: int(r.seq))

    def _shard_in_order(
        self,
        tenant_id: str,
        campaign_id: str,
        shard: int,
        status: str | None,
        after_seq: int,
        page_size: int,
        attributes: Sequence[str] | None = None,
        reason: str | None = None,
    ) -> Iterator[ContactRecord]:
        # Strongly consistent (local indexes allow it): a planner reading right after the
        # contacts were written must see them, and a listing shows what was just changed.
        pk = partition_key(tenant_id, campaign_id, shard)
        projection = (
            None
            if attributes is None
            else sorted({*attributes, "pk", "contact_id", "seq", "status_seq"})
        )
        only = None if reason is None else ContactRecord.reason == reason
        if status is None:
            yield from ContactRecord.by_seq.query(
                pk,
                ContactRecord.seq > after_seq,
                filter_condition=only,
                page_size=page_size,
                attributes_to_get=projection,
                consistent_read=True,
            )
        else:
            yield from ContactRecord.by_status.query(
                pk,
                ContactRecord.status_seq.between(
                    status_seq(status, after_seq + 1), status_seq(status, 10**SEQ_WIDTH - 1)
                ),
                filter_condition=only,
                page_size=page_size,
                attributes_to_get=projection,
                consistent_read=True,
            )

    def cancel(self, record: ContactRecord, now: datetime) -> str:
        """A contact not yet queued becomes cancelled; returns the status it left."""
        previous = record.status
        written = write_moves(
            [
                Move(
                    record,
                    "cancelled",
                    [ContactRecord.plan_version.add(1)],
                    ContactRecord.status.is_in("pending", "scheduled")
                    & (ContactRecord.status == previous),
                )
            ],
            now,
            "cancel contact",
        )
        if not written[0]:
            raise Conflict(
                f"the contact is {record.status}; only one not yet queued can be cancelled"
            )
        return previous


class ContactPlanWrites:
    """The planner's writes to contacts, many at a time with their counters: only a
    contact still `pending` or `scheduled` in the plan version it was read in (not
    queued, in progress or finished meanwhile) takes a new plan."""

    REPLANNABLE = ("pending", "scheduled")

    def schedule(
        self,
        plans: Sequence[tuple[ContactRecord, int, str | None]],
        plan_version: int,
        now: datetime,
        reasons: Mapping[str, str] | None = None,
    ) -> list[bool]:
        """(contact, due ms, caller id) each -> scheduled, with the rule that delayed it
        as its `reason` (`reasons`, by contact id; none: no reason); whether each was
        written."""
        reasons = reasons or {}
        return write_moves(
            [
                Move(
                    record,
                    "scheduled",
                    [
                        ContactRecord.scheduled_at.set(due_ms),
                        ContactRecord.caller_id.set(caller_id)
                        if caller_id
                        else ContactRecord.caller_id.remove(),
                        ContactRecord.plan_version.set(plan_version),
                        ContactRecord.reason.set(reasons[record.contact_id])
                        if record.contact_id in reasons
                        else ContactRecord.reason.remove(),
                    ],
                    self._unchanged(record, self.REPLANNABLE),
                )
                for record, due_ms, caller_id in plans
            ],
            now,
            "plan contacts",
        )

    def skip(
        self, skips: Sequence[tuple[ContactRecord, str]], plan_version: int, now: datetime
    ) -> list[bool]:
        """(contact, reason) each -> skipped; whether each was written."""
        return write_moves(
            [
                Move(
                    record,
                    "skipped",
                    [
                        ContactRecord.scheduled_at.remove(),
                        ContactRecord.reason.set(reason),
                        ContactRecord.plan_version.set(plan_version),
                    ],
                    self._unchanged(record, self.REPLANNABLE),
                )
                for record, reason in skips
            ],
            now,
            "skip contacts",
        )

    def cancel(self, records: Sequence[ContactRecord], now: datetime) -> list[bool]:
        """Contacts not yet dialled -> cancelled; whether each was written."""
        return write_moves(
            [
                Move(
                    record,
                    "cancelled",
                    [ContactRecord.plan_version.add(1)],
                    self._unchanged(record, ("pending", "scheduled", "queued")),
                )
                for record in records
            ],
            now,
            "cancel contacts",
        )

    @staticmethod
    def _unchanged(record: ContactRecord, statuses: tuple[str, ...]) -> Any:
        return (
            ContactRecord.status.is_in(*statuses)
            & (ContactRecord.status == record.status)
            & (ContactRecord.plan_version == int(record.plan_version))
        )

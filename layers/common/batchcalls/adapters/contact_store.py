"""Contact storage: sharded partitions, batch writes, lists merged across shards in order."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from datetime import datetime

from pynamodb.exceptions import UpdateError

from batchcalls.adapters.campaign_store import (
    Page,
    decode_cursor,
    encode_cursor,
    is_sequence_number,
)
from batchcalls.adapters.tables import ContactRecord
from batchcalls.clock import to_iso
from batchcalls.domain.contacts import NewContact
from batchcalls.errors import Conflict, NotFound
from batchcalls.ids import CONTACT_SHARDS, contact_id_for, contact_shard

_SEQ_WIDTH = 12


def partition_key(tenant_id: str, campaign_id: str, shard: int) -> str:
    return f"{tenant_id}#{campaign_id}#{shard:02d}"


def status_seq(status: str, seq: int) -> str:
    return f"{status}#{seq:0{_SEQ_WIDTH}d}"


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
    ) -> None:
        """Write new contacts as `pending` in full batches (no condition is needed: ids are
        derived from the number, so a repeat overwrites the same item, never adds one)."""
        stamp = to_iso(now)
        with ContactRecord.batch_write() as batch:
            for offset, contact in enumerate(contacts):
                cid = contact_id_for(campaign_id, contact.phone_number)
                seq = first_seq + offset
                batch.save(
                    ContactRecord(
                        pk=partition_key(tenant_id, campaign_id, contact_shard(cid)),
                        contact_id=cid,
                        seq=seq,
                        status="pending",
                        status_seq=status_seq("pending", seq),
                        phone_number=contact.phone_number,
                        name=contact.name,
                        timezone=contact.timezone,
                        variables=contact.variables or None,
                        timezones=list(contact.timezones),
                        attempts=0,
                        plan_version=0,
                        updated_at=stamp,
                    )
                )

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
    ) -> Page:
        """One page in the order contacts were added, merged over every shard."""
        start = decode_cursor(cursor, after_seq=is_sequence_number)
        after = start["after_seq"] if start else 0
        # Contacts spread evenly over the shards, and the merge pulls each shard's pages
        # lazily: a page of `limit` reads about 2 x limit items, not 16 x limit.
        page_size = limit // CONTACT_SHARDS + 8
        streams = [
            self._shard_in_order(tenant_id, campaign_id, shard, status, after, page_size)
            for shard in range(CONTACT_SHARDS)
        ]
        items: list[ContactRecord] = []
        for record in heapq.merge(*streams, key=lambda r: int(r.seq)):
            if len(items) == limit:
                return Page(items, encode_cursor({"after_seq": int(items[-1].seq)}))
            items.append(record)
        return Page(items, None)

    def iter_in_order(
        self,
        tenant_id: str,
        campaign_id: str,
        status: str | None,
        after_seq: int = 0,
        attributes: Sequence[str] | None = None,
    ) -> Iterator[ContactRecord]:
        """Every contact (of one status) in the order added, streamed page by page;
        `attributes` reads only those (besides the keys and `seq`)."""
        streams = [
            self._shard_in_order(tenant_id, campaign_id, shard, status, after_seq, 500, attributes)
            for shard in range(CONTACT_SHARDS)
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
    ) -> Iterator[ContactRecord]:
        pk = partition_key(tenant_id, campaign_id, shard)
        projection = (
            None
            if attributes is None
            else sorted({*attributes, "pk", "contact_id", "seq", "status_seq"})
        )
        if status is None:
            yield from ContactRecord.by_seq.query(
                pk, ContactRecord.seq > after_seq, page_size=page_size, attributes_to_get=projection
            )
        else:
            yield from ContactRecord.by_status.query(
                pk,
                ContactRecord.status_seq.between(
                    status_seq(status, after_seq + 1), status_seq(status, 10**_SEQ_WIDTH - 1)
                ),
                page_size=page_size,
                attributes_to_get=projection,
            )

    def cancel(self, record: ContactRecord, now: datetime) -> str:
        """A contact not yet queued becomes cancelled; returns the status it left."""
        previous = record.status
        try:
            record.update(
                actions=[
                    ContactRecord.status.set("cancelled"),
                    ContactRecord.status_seq.set(status_seq("cancelled", int(record.seq))),
                    ContactRecord.plan_version.add(1),
                    ContactRecord.updated_at.set(to_iso(now)),
                ],
                condition=ContactRecord.status.is_in("pending", "scheduled"),
            )
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise Conflict(
                    f"the contact is {record.status}; only one not yet queued can be cancelled"
                ) from None
            raise
        return previous


class ContactPlanWrites:
    """The planner's conditional writes to contacts: only a contact still `pending` or
    `scheduled` (not queued, in progress or finished) takes a new plan."""

    REPLANNABLE = ("pending", "scheduled")

    def schedule(
        self,
        record: ContactRecord,
        due_ms: int,
        caller_id: str | None,
        plan_version: int,
        now: datetime,
    ) -> bool:
        return self._conditional(
            record,
            [
                ContactRecord.status.set("scheduled"),
                ContactRecord.status_seq.set(status_seq("scheduled", int(record.seq))),
                ContactRecord.scheduled_at.set(due_ms),
                ContactRecord.caller_id.set(caller_id)
                if caller_id
                else ContactRecord.caller_id.remove(),
                ContactRecord.plan_version.set(plan_version),
                ContactRecord.reason.remove(),
                ContactRecord.updated_at.set(to_iso(now)),
            ],
        )

    def skip(self, record: ContactRecord, reason: str, plan_version: int, now: datetime) -> bool:
        return self._conditional(
            record,
            [
                ContactRecord.status.set("skipped"),
                ContactRecord.status_seq.set(status_seq("skipped", int(record.seq))),
                ContactRecord.scheduled_at.remove(),
                ContactRecord.reason.set(reason),
                ContactRecord.plan_version.set(plan_version),
                ContactRecord.updated_at.set(to_iso(now)),
            ],
        )

    def cancel(self, record: ContactRecord, now: datetime) -> bool:
        return self._conditional(
            record,
            [
                ContactRecord.status.set("cancelled"),
                ContactRecord.status_seq.set(status_seq("cancelled", int(record.seq))),
                ContactRecord.plan_version.add(1),
                ContactRecord.updated_at.set(to_iso(now)),
            ],
            statuses=("pending", "scheduled", "queued"),
        )

    def _conditional(
        self, record: ContactRecord, actions: list, statuses: tuple[str, ...] = REPLANNABLE
    ) -> bool:
        """True when written; False when the contact moved on meanwhile (e.g. got queued)."""
        try:
            record.update(
                actions=actions,
                condition=ContactRecord.status.is_in(*statuses)
                & (ContactRecord.plan_version == record.plan_version),
            )
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True

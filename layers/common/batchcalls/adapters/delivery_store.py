"""Delivery's conditional writes to slots and contacts: each status change happens once.

Every contact transition is conditional on the state it was read in (status, plan
version, attempts or call id), so a duplicate tick, queue message or callback loses the
race and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DeleteError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from batchcalls.adapters.contact_store import partition_key, status_seq
from batchcalls.adapters.leases import model_connection
from batchcalls.adapters.slot_store import SlotKey, SlotStore, minute_of
from batchcalls.adapters.tables import ContactRecord, CoordinationRecord, SlotRecord
from batchcalls.clock import to_iso
from batchcalls.ids import contact_shard


def _conditional_failure(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def contact_key(tenant_id: str, campaign_id: str, contact_id: str) -> tuple[str, str]:
    return partition_key(tenant_id, campaign_id, contact_shard(contact_id)), contact_id


def _status_actions(contact: ContactRecord, status: str, now: datetime) -> list[Any]:
    return [
        ContactRecord.status.set(status),
        ContactRecord.status_seq.set(status_seq(status, int(contact.seq))),
        ContactRecord.updated_at.set(to_iso(now)),
    ]


class DeliveryStore:
    def __init__(self, slots: SlotStore | None = None) -> None:
        self.slots = slots or SlotStore()

    # ------------------------------------------------------------------ reads
    def slots_in_minutes(self, minutes_ms: Iterable[int]) -> list[SlotRecord]:
        return list(self.slots.in_minutes(minute_of(m) for m in minutes_ms))

    def contacts(self, keys: Iterable[tuple[str, str, str]]) -> dict[str, ContactRecord]:
        """(tenant, campaign, contact id) -> contact, read in batches of 100."""
        wanted = list(dict.fromkeys(contact_key(*k) for k in keys))
        found: dict[str, ContactRecord] = {}
        for start in range(0, len(wanted), 100):
            for item in ContactRecord.batch_get(wanted[start : start + 100]):
                found[item.contact_id] = item
        return found

    def contact(self, tenant_id: str, campaign_id: str, contact_id: str) -> ContactRecord | None:
        try:
            return ContactRecord.get(
                *contact_key(tenant_id, campaign_id, contact_id), consistent_read=True
            )
        except ContactRecord.DoesNotExist:
            return None

    # ------------------------------------------------------------------ slots
    def claim(
        self, slot: SlotRecord, contact: ContactRecord, claim: CoordinationRecord, now: datetime
    ) -> bool:
        """Slot planned -> queued and contact scheduled -> queued, at once, only if the
        contact still waits for exactly this slot (plan version, attempt, due time)."""
        try:
            with TransactWrite(connection=model_connection()) as tx:
                tx.update(
                    slot,
                    actions=[SlotRecord.status.set("queued")],
                    condition=SlotRecord.status == "planned",
                )
                tx.update(
                    contact,
                    actions=_status_actions(contact, "queued", now),
                    condition=(ContactRecord.status == "scheduled")
                    & (ContactRecord.plan_version == int(slot.plan_version))
                    & (ContactRecord.attempts == int(slot.attempt) - 1)
                    & (ContactRecord.scheduled_at == int(slot.due_ms)),
                )
                tx.save(claim)
        except TransactWriteError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def set_slot_status(self, key: SlotKey, status: str) -> None:
        try:
            SlotRecord(key.minute_shard, key.slot_key).update(
                actions=[SlotRecord.status.set(status)],
                condition=SlotRecord.minute_shard.exists(),
            )
        except UpdateError as error:
            if not _conditional_failure(error):
                raise

    def delete_slot(self, key: SlotKey) -> None:
        try:
            SlotRecord(key.minute_shard, key.slot_key).delete()
        except DeleteError as error:
            if not _conditional_failure(error):
                raise

    def put_slot(self, slot: SlotRecord) -> None:
        self.slots.put(slot)

    # ------------------------------------------------------------------ contacts
    def _transition(self, contact: ContactRecord, actions: list[Any], condition: Condition) -> bool:
        try:
            contact.update(actions=actions, condition=condition)
        except UpdateError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    @staticmethod
    def _queued_for(contact: ContactRecord, plan_version: int, attempt: int) -> Condition:
        return (
            (ContactRecord.status == "queued")
            & (ContactRecord.plan_version == plan_version)
            & (ContactRecord.attempts == attempt - 1)
        )

    def start_call(
        self,
        contact: ContactRecord,
        plan_version: int,
        attempt: int,
        call_id: str,
        caller_id: str | None,
        now: datetime,
    ) -> bool:
        """queued -> in_progress for this attempt: the one write that lets a call be dialled."""
        actions = [
            *_status_actions(contact, "in_progress", now),
            ContactRecord.attempts.set(attempt),
            ContactRecord.call_id.set(call_id),
        ]
        if caller_id:
            actions.append(ContactRecord.caller_id.set(caller_id))
        return self._transition(contact, actions, self._queued_for(contact, plan_version, attempt))

    def set_call_id(self, contact: ContactRecord, old: str, new: str, caller_id: str) -> bool:
        """Failover to another caller ID is a new provider call id of the same attempt."""
        return self._transition(
            contact,
            [ContactRecord.call_id.set(new), ContactRecord.caller_id.set(caller_id)],
            (ContactRecord.status == "in_progress") & (ContactRecord.call_id == old),
        )

    def undo_start(self, contact: ContactRecord, call_id: str, attempt: int, now: datetime) -> bool:
        """The provider could not be reached: the attempt was not placed; queued again."""
        return self._transition(
            contact,
            [
                *_status_actions(contact, "queued", now),
                ContactRecord.attempts.set(attempt - 1),
                ContactRecord.call_id.remove(),
            ],
            (ContactRecord.status == "in_progress") & (ContactRecord.call_id == call_id),
        )

    def unqueue(
        self,
        contact: ContactRecord,
        plan_version: int,
        attempt: int,
        status: str,
        now: datetime,
        reason: str | None = None,
    ) -> bool:
        """A queued call that will not be dialled: back to `scheduled` (under a new plan
        version, so its slot is stale) or `cancelled`."""
        actions = [
            *_status_actions(contact, status, now),
            ContactRecord.plan_version.set(int(contact.plan_version) + 1),
        ]
        if reason:
            actions.append(ContactRecord.reason.set(reason))
        return self._transition(contact, actions, self._queued_for(contact, plan_version, attempt))

    def replan_queued(
        self,
        contact: ContactRecord,
        plan_version: int,
        attempt: int,
        new_version: int,
        due_ms: int,
        caller_id: str | None,
        now: datetime,
    ) -> bool:
        """A queued call whose window closed: scheduled again at its next allowed time."""
        actions = [
            *_status_actions(contact, "scheduled", now),
            ContactRecord.plan_version.set(new_version),
            ContactRecord.scheduled_at.set(due_ms),
        ]
        if caller_id:
            actions.append(ContactRecord.caller_id.set(caller_id))
        return self._transition(contact, actions, self._queued_for(contact, plan_version, attempt))

    def end_call(
        self,
        contact: ContactRecord,
        call_id: str,
        outcome: str,
        duration_seconds: int | None,
        summary: str | None,
        now: datetime,
        final_status: str | None,
        retry: tuple[int, int, str | None] | None = None,
        reason: str | None = None,
    ) -> bool:
        """Record the attempt's outcome once (in_progress with this call id only); the
        contact ends in `final_status`, or is scheduled again for `retry` = (due ms, plan
        version, caller id)."""
        status = final_status or "scheduled"
        actions = [
            *_status_actions(contact, status, now),
            ContactRecord.last_outcome.set(outcome),
        ]
        actions.append(
            ContactRecord.duration_seconds.set(duration_seconds)
            if duration_seconds is not None
            else ContactRecord.duration_seconds.remove()
        )
        actions.append(
            ContactRecord.summary.set(summary) if summary else ContactRecord.summary.remove()
        )
        if reason:
            actions.append(ContactRecord.reason.set(reason))
        if retry is not None:
            due_ms, version, caller_id = retry
            actions += [
                ContactRecord.scheduled_at.set(due_ms),
                ContactRecord.plan_version.set(version),
            ]
            if caller_id:
                actions.append(ContactRecord.caller_id.set(caller_id))
        return self._transition(
            contact,
            actions,
            (ContactRecord.status == "in_progress") & (ContactRecord.call_id == call_id),
        )

    def note(self, contact: ContactRecord, reason: str) -> None:
        contact.update(actions=[ContactRecord.reason.set(reason)])

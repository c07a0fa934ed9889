"""Delivery's writes: each step of a call is one transaction, so a crash between two
requests never leaves half a step behind.

Every step changes the contact's status on a condition naming the state it was read in
(status, plan version, attempt or call id), its counters (adapters/contact_moves), and
whatever else belongs to the step, all at once:
- claim: slot planned -> queued, contact scheduled -> queued, its claim in transit;
- park: the call waits for a free place, its claim done with;
- start: contact queued -> in progress, a place (new, or the reserved one) and a second
  under the campaign's rate taken, the call record, the day's call count, the claim done;
- end: contact in progress -> its final status (or scheduled again with the retry's slot
  and booking), the place freed, and `call.completed` in the outbox;
- unqueue / replan: a queued (or started, never placed) call goes back to scheduled (with
  its new slot and booking), or ends cancelled or skipped; its place and booking freed.
A `ConditionFailed` says someone else moved first (a duplicate, a newer plan): the use
case reads again and decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from batchcalls.adapters import analytics_counters, call_counters
from batchcalls.adapters.bookings import BookingLedger
from batchcalls.adapters.claims import ClaimStore
from batchcalls.adapters.contact_moves import ContactMoves, contact_key
from batchcalls.adapters.leases import DONE_KEEP_SECONDS, LIVE_PK, LeaseStore, Limits, WaitingCall
from batchcalls.adapters.number_calls import NumberCallLog, NumberCalls
from batchcalls.adapters.outbox import add_event
from batchcalls.adapters.slot_store import SlotKey, SlotStore
from batchcalls.adapters.suppressions import SuppressionStore
from batchcalls.adapters.tables import ContactRecord, LeaseItem, SlotMarkRecord, SlotRecord
from batchcalls.adapters.transactions import (
    ConditionFailed,
    Transaction,
    transaction,
    with_retries,
)
from batchcalls.clock import to_epoch_ms
from batchcalls.concurrency import parallel_map
from batchcalls.ids import call_id_for, contact_shard

__all__ = [
    "CLAIMS_PER_TRANSACTION",
    "Attempt",
    "AttemptEnd",
    "Claim",
    "DeliveryStore",
    "Retry",
    "contact_key",
]

# TransactWriteItems takes up to 100 items: 32 claims of 3 items (slot, contact, claim),
# and the counter items of their contacts' shards (one when all are of one campaign's
# contact shard, as the dispatcher groups them).
CLAIMS_PER_TRANSACTION = 32


@dataclass(frozen=True)
class Attempt:
    """Which attempt of which contact a message or a call is about."""

    tenant_id: str
    campaign_id: str
    contact_id: str
    attempt: int
    plan_version: int

    @classmethod
    def of(cls, message: dict[str, Any]) -> Attempt:
        return cls(
            message["tenant_id"],
            message["campaign_id"],
            message["contact_id"],
            int(message["attempt"]),
            int(message["plan_version"]),
        )


@dataclass(frozen=True)
class AttemptEnd:
    """What an ended attempt records on its contact."""

    attempt: int
    outcome: str
    duration_seconds: int | None
    summary: str | None
    reason: str | None

    def actions(self) -> list[Any]:
        actions: list[Any] = [
            ContactRecord.attempts.set(self.attempt),
            ContactRecord.last_outcome.set(self.outcome),
            ContactRecord.duration_seconds.set(self.duration_seconds)
            if self.duration_seconds is not None
            else ContactRecord.duration_seconds.remove(),
            ContactRecord.summary.set(self.summary)
            if self.summary
            else ContactRecord.summary.remove(),
        ]
        if self.reason:
            actions.append(ContactRecord.reason.set(self.reason))
        return actions


@dataclass(frozen=True)
class Claim:
    """A due slot to claim for its contact (as read); `message` travels to the caller,
    expected there at `arrives_ms`."""

    slot: SlotRecord
    contact: ContactRecord
    message: dict[str, Any]
    arrives_ms: int


@dataclass(frozen=True)
class Retry:
    """A call planned again: its slot (not yet written) and the instant it is booked at."""

    slot: SlotRecord
    caller_id: str | None

    @property
    def due_ms(self) -> int:
        return int(self.slot.due_ms)

    @property
    def plan_version(self) -> int:
        return int(self.slot.plan_version)


def _queued_for(attempt: Attempt) -> Any:
    return (
        (ContactRecord.status == "queued")
        & (ContactRecord.plan_version == attempt.plan_version)
        & (ContactRecord.attempts == attempt.attempt - 1)
    )


class DeliveryStore:
    def __init__(
        self,
        slots: SlotStore | None = None,
        leases: LeaseStore | None = None,
        claims: ClaimStore | None = None,
        bookings: BookingLedger | None = None,
    ) -> None:
        self.slots = slots or SlotStore()
        self.leases = leases or LeaseStore()
        self.claims = claims or ClaimStore()
        self.bookings = bookings or BookingLedger()

    # ------------------------------------------------------------------ reads
    def contacts(
        self, keys: Iterable[tuple[str, str, str]], workers: int = 1
    ) -> dict[str, ContactRecord]:
        """(tenant, campaign, contact id) -> contact, strongly consistent, 100 a request,
        `workers` requests at a time."""
        wanted = list(dict.fromkeys(contact_key(*k) for k in keys))

        def read(part: list[tuple[str, str]]) -> list[ContactRecord]:
            return with_retries(
                lambda: list(ContactRecord.batch_get(part, consistent_read=True)), "contacts read"
            )

        parts = [wanted[start : start + 100] for start in range(0, len(wanted), 100)]
        return {
            item.contact_id: item for found in parallel_map(read, parts, workers) for item in found
        }

    def contact(self, tenant_id: str, campaign_id: str, contact_id: str) -> ContactRecord | None:
        try:
            return with_retries(
                lambda: ContactRecord.get(
                    *contact_key(tenant_id, campaign_id, contact_id), consistent_read=True
                ),
                "contact read",
            )
        except ContactRecord.DoesNotExist:
            return None

    # ------------------------------------------------------------------ dispatch
    def claim_many(self, claims: Sequence[Claim], now: datetime) -> list[dict[str, Any] | None]:
        """Claim due slots in one transaction (at most `CLAIMS_PER_TRANSACTION`): for
        each, slot planned -> queued and contact scheduled -> queued for exactly this
        slot, and its claim in transit; the contacts' counters with them (put together
        the claims of one campaign's contact shard, so that one counter item serves
        them all). Returns, in order, each claimed message (naming its claim), or None
        where the slot or the contact had moved on (someone else claimed it): a
        transaction refused for some claims' conditions is written again without them.
        Raises WriteUnavailable (then nothing is written)."""
        counters = {
            (c.slot.tenant_id, c.slot.campaign_id, contact_shard(c.slot.contact_id)) for c in claims
        }
        if len(claims) > CLAIMS_PER_TRANSACTION or 3 * len(claims) + len(counters) > 100:
            raise ValueError("more claims than one transaction takes (100 items)")
        claimed: list[dict[str, Any] | None] = [None] * len(claims)
        remaining = list(range(len(claims)))
        while remaining:
            tx = transaction("claim")
            moves = ContactMoves(tx)
            written = {i: self._add_claim(tx, moves, claims[i], now, i) for i in remaining}
            try:
                moves.commit()
            except ConditionFailed as lost:
                failed = {int(label.split()[-1]) for label in lost.labels if label[-1:].isdigit()}
                if not failed & set(remaining):
                    raise  # not a claim's own condition: nothing to leave out
                remaining = [i for i in remaining if i not in failed]
                continue
            for i, message in written.items():
                claimed[i] = message
            break
        return claimed

    def _add_claim(
        self, tx: Transaction, moves: ContactMoves, claim: Claim, now: datetime, index: int
    ) -> dict[str, Any]:
        slot, contact = claim.slot, claim.contact
        tx.update(
            slot,
            [
                SlotRecord.status.set("queued"),
                SlotRecord.ttl.set(to_epoch_ms(now) // 1000 + DONE_KEEP_SECONDS),
            ],
            SlotRecord.status == "planned",
            label=f"slot {index}",
        )
        moves.move(
            contact,
            "queued",
            now,
            condition=(ContactRecord.status == "scheduled")
            & (ContactRecord.plan_version == int(slot.plan_version))
            & (ContactRecord.attempts == int(slot.attempt) - 1)
            & (ContactRecord.scheduled_at == int(slot.due_ms)),
            label=f"contact {index}",
        )
        return self.claims.add(
            tx, claim.message, to_epoch_ms(now), claim.arrives_ms, label=f"claim {index}"
        )

    # ------------------------------------------------------------------ places
    def park(self, message: dict[str, Any], priority: int) -> None:
        """The call waits for a free place (its claim is done with). Raises ConditionFailed
        when it waits already."""
        tx = transaction("park")
        self.leases.park(tx, message, priority)
        self.claims.remove(tx, message)
        tx.commit()

    def admit(
        self,
        waiting: WaitingCall,
        lease: LeaseItem,
        limits: Limits,
        message: dict[str, Any],
        now_ms: int,
        arrives_ms: int,
    ) -> dict[str, Any]:
        """A waiting call gets a free place, reserved for it while its message travels to
        the caller. Raises ConditionFailed (no free place, or it was admitted already)."""
        tx = transaction("admit")
        self.leases.unpark(tx, waiting)
        self.leases.take(tx, lease, limits)
        claimed = self.claims.add(tx, message, now_ms, arrives_ms)
        tx.commit()
        return claimed

    def drop_waiting(self, waiting: WaitingCall) -> None:
        tx = transaction("drop waiting")
        self.leases.unpark(tx, waiting)
        tx.commit()

    # ------------------------------------------------------------------ the dial
    def start(
        self,
        contact: ContactRecord,
        message: dict[str, Any],
        call_id: str,
        caller_id: str | None,
        lease: LeaseItem,
        limits: Limits,
        rate: int,
        day: date,
        now: datetime,
        number_calls: tuple[NumberCalls, list[int]] | None = None,
    ) -> None:
        """Contact queued -> in progress for this attempt, with its place (a new one, or
        the one reserved for it), a second under the campaign's rate, the call record and
        the day's count (and, with `number_calls`, the number's calls of the last 24 hours
        as read and as they become), only while the number is not suppressed. Raises
        ConditionFailed: "suppressed" (on the do-not-call list), "number calls" (called
        meanwhile from elsewhere), "rate" (this second is full), "provider
        place" / "campaign place" (no free place), "contact" or "lease" (a duplicate)."""
        attempt = Attempt.of(message)
        now_ms = to_epoch_ms(now)
        tx = transaction("start call")
        moves = ContactMoves(tx)
        self.leases.count_second(tx, attempt.tenant_id, attempt.campaign_id, now_ms // 1000, rate)
        live = [
            LeaseItem.call_id.set(call_id),
            LeaseItem.started_ms.set(now_ms),
            LeaseItem.expires_ms.set(int(lease.expires_ms)),
            LeaseItem.message.set(message),
        ]
        if caller_id:
            live.append(LeaseItem.caller_id.set(caller_id))
        if message.get("reserved"):
            self.leases.go_live(tx, lease.sk, attempt.attempt, live)
        else:
            lease.state, lease.call_id, lease.started_ms = "live", call_id, now_ms
            lease.caller_id, lease.message = caller_id, message
            self.leases.take(tx, lease, limits)
        actions = [ContactRecord.attempts.set(attempt.attempt), ContactRecord.call_id.set(call_id)]
        if caller_id:
            actions.append(ContactRecord.caller_id.set(caller_id))
        moves.move(contact, "in_progress", now, actions, _queued_for(attempt))
        self.leases.record_call(tx, call_id, lease.sk, message, now_ms // 1000 + 7 * 86_400)
        call_counters.count_call(tx, attempt.tenant_id, attempt.campaign_id, day)
        analytics_counters.count_placed(
            tx, attempt.tenant_id, attempt.campaign_id, contact.contact_id, now_ms
        )
        self.claims.remove(tx, message)
        SuppressionStore.require_not_suppressed(tx, attempt.tenant_id, contact.phone_number)
        if number_calls is not None:
            before, calls_ms = number_calls
            NumberCallLog.record_in(tx, attempt.tenant_id, contact.phone_number, before, calls_ms)
        moves.commit()

    def count_redial(self, tenant_id: str, campaign_id: str, now: datetime, rate: int) -> None:
        """A started call dialled again (the provider did not answer, or the caller died
        before it did) takes a second under the campaign's rate, as its first dial did.
        Raises ConditionFailed "rate" when this second is full."""
        tx = transaction("count redial")
        self.leases.count_second(tx, tenant_id, campaign_id, to_epoch_ms(now) // 1000, rate)
        tx.commit()

    def fail_over(
        self,
        contact: ContactRecord,
        message: dict[str, Any],
        lease_id: str,
        old: str,
        new: str,
        caller_id: str,
        now: datetime,
    ) -> None:
        """Another caller ID for the same attempt: a new provider call id. Raises
        ConditionFailed when the attempt moved on."""
        tx = transaction("fail over")
        tx.update(
            contact,
            [ContactRecord.call_id.set(new), ContactRecord.caller_id.set(caller_id)],
            (ContactRecord.status == "in_progress") & (ContactRecord.call_id == old),
            label="contact",
        )
        tx.update(
            LeaseItem(pk=LIVE_PK, sk=lease_id),
            [LeaseItem.call_id.set(new), LeaseItem.caller_id.set(caller_id)],
            (LeaseItem.state == "live") & (LeaseItem.call_id == old),
            label="lease",
        )
        self.leases.record_call(tx, new, lease_id, message, to_epoch_ms(now) // 1000 + 7 * 86_400)
        tx.commit()

    # ------------------------------------------------------------------ the end of an attempt
    def end(
        self,
        contact: ContactRecord,
        call_id: str,
        status: str,
        ended: AttemptEnd,
        lease: LeaseItem | None,
        event: dict[str, Any],
        webhook_url: str | None,
        retry: Retry | None,
        now: datetime,
        suppress_number: bool = False,
    ) -> None:
        """The attempt `call_id` ends: the contact (as read: in progress with that call, or
        scheduled/queued again after a dial that was given up) takes `status`, its place is
        freed, `call.completed` goes to the outbox and a retry's slot, mark and booking are
        written; with `suppress_number` (the callee opted out) the number joins the
        tenant's do-not-call list. Raises ConditionFailed when it ended already."""
        tx = transaction("end attempt")
        moves = ContactMoves(tx)
        condition = (
            (ContactRecord.status == contact.status)
            & (ContactRecord.call_id == call_id)
            & (ContactRecord.attempts == int(contact.attempts or 0))
        )
        actions = ended.actions()
        if retry is not None:
            actions += [
                ContactRecord.scheduled_at.set(retry.due_ms),
                ContactRecord.plan_version.set(retry.plan_version),
            ]
            if retry.caller_id:
                actions.append(ContactRecord.caller_id.set(retry.caller_id))
            self._write_slot(tx, retry.slot)
            tenant_id, campaign_id = retry.slot.tenant_id, retry.slot.campaign_id
            self.bookings.change(tx, tenant_id, campaign_id, [retry.due_ms], [])
        moves.move(contact, status, now, actions, condition)
        if lease is not None:
            self.leases.give_back(tx, lease, "live")
        tenant_id, campaign_id = contact.pk.split("#", 2)[:2]
        analytics_counters.count_ended(
            tx,
            tenant_id,
            campaign_id,
            contact.contact_id,
            ended.attempt,
            ended.outcome,
            ended.duration_seconds,
            to_epoch_ms(now),
            # A dial given up (its start taken back) that the provider placed after all.
            placed_now=contact.status != "in_progress",
        )
        add_event(tx, event, webhook_url, to_epoch_ms(now), tenant_id=tenant_id)
        if suppress_number:
            SuppressionStore.add_in(tx, tenant_id, contact.phone_number, "opt_out", now)
        moves.commit()

    # ------------------------------------------------------------------ calls not dialled
    def unqueue(
        self,
        contact: ContactRecord,
        message: dict[str, Any],
        status: str,
        now: datetime,
        reason: str | None = None,
        release_booking: bool = True,
        started: LeaseItem | None = None,
        waiting: WaitingCall | None = None,
    ) -> None:
        """A queued call that will not be dialled: `scheduled` again under a new plan version
        (its slot stale, for a resume to re-plan), `cancelled` or `skipped`. Its claim, slot,
        reserved place and (unless it stays scheduled) booking go with it. With `started`
        (its live place), a call started but never placed, from `in_progress`; with
        `waiting`, a call that waited for a place, taken off the waiting list with it."""
        attempt = Attempt.of(message)
        tx = transaction("unqueue")
        moves = ContactMoves(tx)
        actions = [ContactRecord.plan_version.set(int(contact.plan_version) + 1)]
        if reason:
            actions.append(ContactRecord.reason.set(reason))
        condition = _queued_for(attempt)
        if started is not None:
            actions.append(ContactRecord.attempts.set(attempt.attempt - 1))
            condition = (ContactRecord.status == "in_progress") & (
                ContactRecord.call_id == str(contact.call_id)
            )
            self.leases.give_back(tx, started, "live")
            self._not_placed(tx, attempt, started)
        if waiting is not None:
            self.leases.unpark(tx, waiting)
        moves.move(contact, status, now, actions, condition)
        self._done_with_message(tx, message)
        if release_booking:
            self.bookings.change(
                tx, attempt.tenant_id, attempt.campaign_id, [], [int(message["due_ms"])]
            )
        moves.commit()

    def replan(
        self,
        contact: ContactRecord,
        message: dict[str, Any],
        retry: Retry,
        booked_ms: int,
        now: datetime,
        lease: LeaseItem | None = None,
        reason: str | None = None,
    ) -> None:
        """A call that could not be placed in time (or was held back: `reason`) is
        scheduled again at its next allowed instant: from `queued`, or from `in_progress` when its dial was given up before the
        provider answered (`lease` is then its live place, freed; the attempt is not
        counted, and dialling it later reuses its call id, so the provider still places it
        once). The new slot, mark and booking are written; the old slot and booking go."""
        attempt = Attempt.of(message)
        tx = transaction("replan")
        moves = ContactMoves(tx)
        actions = [
            ContactRecord.plan_version.set(retry.plan_version),
            ContactRecord.scheduled_at.set(retry.due_ms),
        ]
        if retry.caller_id:
            actions.append(ContactRecord.caller_id.set(retry.caller_id))
        if reason:
            actions.append(ContactRecord.reason.set(reason))
        if lease is None:
            condition = _queued_for(attempt)
        else:
            actions.append(ContactRecord.attempts.set(attempt.attempt - 1))
            condition = (ContactRecord.status == "in_progress") & (
                ContactRecord.call_id == str(contact.call_id)
            )
            self.leases.give_back(tx, lease, "live")
            self._not_placed(tx, attempt, lease)
        moves.move(contact, "scheduled", now, actions, condition)
        self._write_slot(tx, retry.slot)
        self.bookings.change(
            tx, attempt.tenant_id, attempt.campaign_id, [retry.due_ms], [booked_ms]
        )
        self._done_with_message(tx, message)
        moves.commit()

    @staticmethod
    def _not_placed(tx: Any, attempt: Attempt, lease: LeaseItem) -> None:
        """A started call given back undialled is no longer counted as placed (in the
        quarter hour its start counted it)."""
        started_ms = int(lease.started_ms or 0)
        if started_ms:
            analytics_counters.count_placed(
                tx, attempt.tenant_id, attempt.campaign_id, attempt.contact_id, started_ms, -1
            )

    def _done_with_message(self, tx: Any, message: dict[str, Any]) -> None:
        """The message's claim, its slot and a place reserved for it are done with."""
        self.claims.remove(tx, message)
        slot = message.get("slot")
        if slot:
            tx.delete(SlotRecord(slot["minute_shard"], slot["slot_key"]), label="old slot")
        if message.get("reserved"):
            attempt = Attempt.of(message)
            lease_id = call_id_for(attempt.campaign_id, attempt.contact_id, attempt.attempt)
            lease = self.leases.lease(lease_id)
            if lease is not None and lease.state == "reserved":
                self.leases.give_back(tx, lease, "reserved")

    def _write_slot(self, tx: Any, slot: SlotRecord) -> None:
        mark = self.slots.mark_items({slot.minute_shard})[0]
        tx.put(SlotMarkRecord(mark.minute_shard, mark.slot_key), label="slot mark")
        tx.put(slot, label="new slot")

    def release_reserved(self, lease: LeaseItem) -> None:
        """A reserved place whose call will not start (it moved on, or its message was
        lost long enough for the place to expire)."""
        self.release(lease, "reserved")

    def release(self, lease: LeaseItem, state: str) -> None:
        """Give back a place still in `state` for its attempt. Raises ConditionFailed."""
        tx = transaction("release place")
        self.leases.give_back(tx, lease, state)
        tx.commit()

    def delete_slot(self, key: SlotKey) -> None:
        self.slots.delete(key)

"""Delivery: the dispatcher's tick, the caller's dial, the provider's outcome.

How a call travels (see ARCHITECTURE.md "Live calls are counted, not Lambdas"):
1. The tick reads due slots from its watermark through the end of the next minute and
   claims each once (slot planned -> queued, contact scheduled -> queued, one
   transaction), then sends it to the call queue delayed to its own second.
2. At that second the caller takes a live-call place (a lease: per campaign and
   provider-wide counters, one transaction) and dials. A call that finds no free place,
   or finds calls already waiting (they go first), *waits*: an item in the Coordination
   table, never a message bounced through the queue.
3. The outcome (or its timeout: `unknown`) frees the place, and the freed place goes at
   once to the waiting calls: higher campaign priority first, then earlier
   `scheduled_at`. An admitted call takes its lease before it is sent (delay 0), so it
   cannot lose its place on the way.
Every step is a conditional write, so a tick, message or callback delivered twice does
nothing the second time; a claim whose message was lost is sent again by the tick's
sweep (every `SAFETY_SWEEP_MINUTES`) once it is `LOST_CLAIM_MINUTES` old.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from batchcalls.adapters import call_counters
from batchcalls.adapters.bookings import BookingLedger, CampaignBookings
from batchcalls.adapters.campaign_store import CampaignStore, settings_of
from batchcalls.adapters.delivery_store import DeliveryStore
from batchcalls.adapters.leases import LeaseStore, campaign_sk
from batchcalls.adapters.provider_http import CallRequest, PlaceResult
from batchcalls.adapters.slot_store import SlotKey, new_slot
from batchcalls.adapters.tables import CampaignRecord, ContactRecord, SlotRecord, plain_dict
from batchcalls.clock import Clock, to_epoch_ms, to_iso
from batchcalls.domain import leases as rules
from batchcalls.domain.bookings import place_one
from batchcalls.domain.campaigns import DELIVERING
from batchcalls.domain.outcomes import (
    CallEnded,
    batch_completed_body,
    call_completed_body,
)
from batchcalls.domain.phones import effective_timezones
from batchcalls.domain.planning import PlanContact, campaign_day, is_allowed
from batchcalls.domain.retries import next_step
from batchcalls.errors import Conflict, NotFound
from batchcalls.ids import call_id_for
from batchcalls.models.campaign import CampaignSettings
from batchcalls.observability import logger, metrics

# A claim whose message has not reached the caller after this long is sent again.
LOST_CLAIM_MINUTES = 5
# The tick's safety nets (lost claims, completions two last outcomes both missed) run
# once per this many minutes, not every minute: a lost message goes out again within
# ten minutes, a missed completion is noticed within five.
SAFETY_SWEEP_MINUTES = 5
FINISHED = frozenset({"cancelled", "completed", "failed"})
OPEN_CONTACT_STATUSES = ("pending", "scheduled", "queued", "in_progress")


# ---------------------------------------------------------------------- ports
class CallQueue(Protocol):
    def send(self, messages: Sequence[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]: ...


class Provider(Protocol):
    def place(self, call: CallRequest) -> PlaceResult: ...


class Events(Protocol):
    def put(self, detail: dict[str, Any]) -> None: ...


class Webhooks(Protocol):
    def send(self, url: str, detail: dict[str, Any]) -> int | None: ...


class Suppressions(Protocol):
    """The tenant's do-not-call list (a later issue): checked just before dialling."""

    def allows(self, tenant_id: str, phone_number: str) -> bool: ...

    def add(self, tenant_id: str, phone_number: str) -> None: ...


class AllowEverything:
    """Until suppressions exist: every number may be called; opt-outs are only logged."""

    def allows(self, tenant_id: str, phone_number: str) -> bool:
        return True

    def add(self, tenant_id: str, phone_number: str) -> None:
        logger.info("opt-out noted (no suppression list yet)", tenant_id=tenant_id)


class ProviderUnavailable(Exception):
    """The provider did not answer; the message is retried by the queue."""


@dataclass(frozen=True)
class DeliveryConfig:
    provider_wide_call_limit: int
    call_timeout_seconds: int
    public_base_url: str


@dataclass
class TickReport:
    minutes: int = 0
    slots_seen: int = 0
    claimed: int = 0
    stale: int = 0
    expired: int = 0
    resent: int = 0
    admitted: int = 0
    completed_campaigns: list[str] = field(default_factory=list)


class _Campaigns:
    """Campaign records read once per invocation."""

    def __init__(self, store: CampaignStore) -> None:
        self.store = store
        self.cache: dict[tuple[str, str], CampaignRecord | None] = {}

    def get(self, tenant_id: str, campaign_id: str) -> CampaignRecord | None:
        key = (tenant_id, campaign_id)
        if key not in self.cache:
            try:
                self.cache[key] = self.store.get(tenant_id, campaign_id)
            except NotFound:
                self.cache[key] = None
        return self.cache[key]


def call_message(slot: SlotRecord) -> dict[str, Any]:
    return {
        "tenant_id": slot.tenant_id,
        "campaign_id": slot.campaign_id,
        "contact_id": slot.contact_id,
        "attempt": int(slot.attempt),
        "plan_version": int(slot.plan_version),
        "due_ms": int(slot.due_ms),
        "caller_id": slot.caller_id,
        "priority": int(slot.priority),
        "slot": {"minute_shard": slot.minute_shard, "slot_key": slot.slot_key},
    }


def _slot_key(message: dict[str, Any]) -> SlotKey | None:
    slot = message.get("slot")
    return SlotKey(slot["minute_shard"], slot["slot_key"]) if slot else None


class DeliveryService:
    def __init__(
        self,
        clock: Clock,
        config: DeliveryConfig,
        queue: CallQueue,
        provider: Provider | None = None,
        events: Events | None = None,
        webhooks: Webhooks | None = None,
        suppressions: Suppressions | None = None,
        leases: LeaseStore | None = None,
        store: DeliveryStore | None = None,
        campaigns: CampaignStore | None = None,
        bookings: BookingLedger | None = None,
    ) -> None:
        self.clock = clock
        self.config = config
        self.queue = queue
        self.provider = provider
        self.events = events
        self.webhooks = webhooks
        self.suppressions = suppressions or AllowEverything()
        self.leases = leases or LeaseStore()
        self.store = store or DeliveryStore()
        self.campaign_store = campaigns or CampaignStore()
        self.bookings = bookings or BookingLedger()

    # ================================================================== dispatcher
    def tick(self) -> TickReport:
        """One minute tick: time out silent calls, claim and send due slots, re-send lost
        claims, hand free places to waiting calls, finish campaigns with nothing left."""
        now = self.clock.now()
        now_ms = to_epoch_ms(now)
        report = TickReport()
        campaigns = _Campaigns(self.campaign_store)
        report.expired = self.expire_calls(now)
        watermark = self.leases.watermark()
        if watermark is None:
            # The first tick ever: slots written before it (due no earlier than a minute
            # before it, as ticks run every minute) lie in the previous minute too.
            watermark = rules.minute_start(now_ms) - 60_000
        minutes = rules.dispatch_minutes(watermark, now_ms)
        report.minutes = len(minutes)
        slots = [s for s in self.store.slots_in_minutes(minutes) if s.status == "planned"]
        report.slots_seen = len(slots)
        report.claimed, report.stale = self.dispatch_slots(slots, now, campaigns)
        # The current minute is read again next time: a slot may still be written into it.
        self.leases.set_watermark(rules.minute_start(now_ms))
        report.admitted = self.admit_waiting(now, campaigns)
        if rules.crossed_period(watermark, now_ms, SAFETY_SWEEP_MINUTES):
            report.resent = self.resend_lost_claims(now)
            report.completed_campaigns = self.sweep_completions(now, campaigns)
        metrics.add_metric(name="CallsDispatched", unit="Count", value=report.claimed)
        logger.info("tick", **report.__dict__)
        return report

    def dispatch_soon(self, slots: Iterable[SlotRecord]) -> int:
        """For whoever writes slots after a tick: claim and send the ones due before the
        latest tick's horizon (the next tick might come too late for them)."""
        now = self.clock.now()
        horizon = rules.dispatch_horizon_ms(to_epoch_ms(now))
        near = [s for s in slots if int(s.due_ms) < horizon]
        return self.dispatch_slots(near, now, _Campaigns(self.campaign_store))[0] if near else 0

    def dispatch_slots(
        self, slots: list[SlotRecord], now: datetime, campaigns: _Campaigns
    ) -> tuple[int, int]:
        now_ms = to_epoch_ms(now)
        slots = sorted(slots, key=lambda s: (int(s.due_ms), -int(s.priority)))
        contacts = self.store.contacts((s.tenant_id, s.campaign_id, s.contact_id) for s in slots)
        outgoing: list[tuple[dict[str, Any], int]] = []
        stale = 0
        for slot in slots:
            key = SlotKey(slot.minute_shard, slot.slot_key)
            campaign = campaigns.get(slot.tenant_id, slot.campaign_id)
            if campaign is None or campaign.status in FINISHED:
                self.store.delete_slot(key)
                stale += 1
                continue
            if campaign.status not in DELIVERING:
                continue  # paused (or draft again): resume re-plans what fell due
            contact = contacts.get(slot.contact_id)
            if contact is None or not _waits_for(contact, slot):
                if contact is not None and _claimed_for(contact, slot):
                    continue  # another dispatcher claimed it: it is on its way
                self.store.delete_slot(key)
                stale += 1
                continue
            message = call_message(slot)
            claim = self.leases.claim_item({**message, "sent_ms": now_ms})
            if not self.store.claim(slot, contact, claim, now):
                continue  # lost the race to another dispatcher, or the contact moved on
            self.campaign_store.add_counts(campaign, {"scheduled": -1, "queued": 1})
            outgoing.append((message, rules.delay_seconds(int(slot.due_ms), now_ms)))
        if outgoing:
            # A message that cannot be sent stays claimed; its claim is re-sent later.
            self.queue.send(outgoing)
        return len(outgoing), stale

    def resend_lost_claims(self, now: datetime) -> int:
        now_ms = to_epoch_ms(now)
        cutoff = now_ms - LOST_CLAIM_MINUTES * 60_000
        lost = list(self.leases.stale_claims(cutoff))
        if lost:
            self.queue.send([(dict(item.data or {}), 0) for item in lost])
            for item in lost:
                self.leases.mark_resent(item, now_ms)
            logger.warning("lost claims re-sent", count=len(lost))
        return len(lost)

    # ================================================================== caller
    def handle_call(self, message: dict[str, Any]) -> str:
        """One call message: dial it, park it, or drop it. Returns what happened."""
        now = self.clock.now()
        now_ms = to_epoch_ms(now)
        tenant_id, campaign_id = message["tenant_id"], message["campaign_id"]
        contact_id, attempt = message["contact_id"], int(message["attempt"])
        version = int(message["plan_version"])
        lease_id = call_id_for(campaign_id, contact_id, attempt)
        if now_ms < int(message["due_ms"]) and not message.get("leased"):
            # Early (SQS delays are whole seconds at most 900): wait the rest in the queue.
            self.queue.send([(message, rules.delay_seconds(int(message["due_ms"]), now_ms))])
            return "early"
        campaign = self._campaign(tenant_id, campaign_id)
        contact = self.store.contact(tenant_id, campaign_id, contact_id)
        if (
            campaign is None
            or contact is None
            or contact.status != "queued"
            or int(contact.plan_version) != version
            or int(contact.attempts) != attempt - 1
        ):
            dialled = contact is not None and int(contact.attempts or 0) >= attempt
            if message.get("leased") and not dialled:
                self._release(lease_id, now)
            self.leases.forget_claim(message)
            return "duplicate"
        settings = settings_of(campaign)

        if campaign.status not in DELIVERING:
            # Cancelled or finished: never dialled. Paused: back to scheduled with its
            # scheduled_at (now in the past), so the resume re-plan picks it up.
            status = "scheduled" if campaign.status in ("paused", "draft") else "cancelled"
            self._unqueue(campaign, contact, message, status, now)
            return f"held:{campaign.status}"

        zones = effective_timezones(contact.timezones or [], settings.timezone)
        if not is_allowed(settings, zones, now_ms):
            self._replan_closed_window(campaign, settings, contact, message, now)
            return "replanned"
        if not self.suppressions.allows(tenant_id, contact.phone_number):
            self._unqueue(campaign, contact, message, "skipped", now, reason="suppressed")
            return "suppressed"

        if not self._has_place(message, lease_id, campaign, settings, now):
            return "waiting"
        return self._dial(campaign, settings, contact, message, lease_id, now)

    def _has_place(
        self,
        message: dict[str, Any],
        lease_id: str,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        now: datetime,
    ) -> bool:
        if message.get("leased") and self.leases.get(lease_id) is not None:
            return True
        # Calls that already wait go first: join them, then let the admission order decide.
        if not self.leases.any_waiting() and self.leases.take(
            lease_id,
            campaign.tenant_id,
            campaign.campaign_id,
            settings.max_concurrent_calls,
            self.config.provider_wide_call_limit,
            self._expiry(now),
            {"contact_id": message["contact_id"], "attempt": message["attempt"]},
        ):
            return True
        self.leases.park({**message, "leased": False}, settings.priority)
        metrics.add_metric(name="CallsWaiting", unit="Count", value=1)
        self.admit_waiting(now)
        return False

    def _dial(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        contact: ContactRecord,
        message: dict[str, Any],
        lease_id: str,
        now: datetime,
    ) -> str:
        tenant_id, campaign_id = campaign.tenant_id, campaign.campaign_id
        attempt = int(message["attempt"])
        rejected = self.leases.rejected_numbers(tenant_id, campaign_id)
        planned_caller = message.get("caller_id") or contact.caller_id
        caller_id = rules.usable_caller_id(settings.phone_numbers, planned_caller, rejected)
        call_id = self._call_id(lease_id, settings, planned_caller, caller_id)
        if not self.store.start_call(
            contact, int(message["plan_version"]), attempt, call_id, caller_id, now
        ):
            self._release(lease_id, now)
            self.leases.forget_claim(message)
            return "duplicate"
        self.campaign_store.add_counts(campaign, {"queued": -1, "in_progress": 1})
        call_counters.count_call(tenant_id, campaign_id, campaign_day(settings, to_epoch_ms(now)))
        key = _slot_key(message)
        if key is not None:
            self.store.set_slot_status(key, "dialled")
        self.leases.forget_claim(message)
        if campaign.status == "scheduled":
            with contextlib.suppress(Conflict):
                self.campaign_store.transition(
                    campaign,
                    {"scheduled"},
                    "active",
                    now,
                    extra=[CampaignRecord.first_call_at.set(to_iso(now))],
                )

        while True:
            record = {
                "tenant_id": tenant_id,
                "campaign_id": campaign_id,
                "contact_id": contact.contact_id,
                "attempt": attempt,
                "lease_id": lease_id,
                "call_id": call_id,
                "placed_ms": to_epoch_ms(now),
            }
            self.leases.record_call(call_id, record)
            self.leases.extend(lease_id, record, self._expiry(now))
            if caller_id is None:
                self._end_attempt(record, "failed", None, None, False, reason="from_rejected")
                return "failed"
            result = self._place(campaign, settings, contact, call_id, caller_id)
            if result.status == "accepted":
                metrics.add_metric(name="CallsPlaced", unit="Count", value=1)
                return "dialled"
            if result.status == "from_rejected":
                self.leases.reject_number(tenant_id, campaign_id, caller_id)
                rejected.add(caller_id)
                following = rules.next_caller_id(settings.phone_numbers, caller_id, rejected)
                following_id = self._call_id(lease_id, settings, planned_caller, following)
                if following is not None and self.store.set_call_id(
                    contact, call_id, following_id, following
                ):
                    logger.warning("caller id rejected, failing over", campaign_id=campaign_id)
                    call_id, caller_id = following_id, following
                    continue
                self._end_attempt(record, "failed", None, None, False, reason="from_rejected")
                return "failed"
            if result.status == "refused":
                self._end_attempt(
                    record, "failed", None, None, False, reason=f"provider_{result.http_status}"
                )
                return "failed"
            # Unreachable: the attempt was not placed; queued again and retried by the queue.
            if self.store.undo_start(contact, call_id, attempt, now):
                self.campaign_store.add_counts(campaign, {"in_progress": -1, "queued": 1})
            self._release(lease_id, now)
            raise ProviderUnavailable(result.detail or "provider unavailable")

    @staticmethod
    def _call_id(
        lease_id: str, settings: CampaignSettings, planned: str | None, caller: str | None
    ) -> str:
        """Stable per attempt and caller ID: the planned number dials as the attempt's
        own id; a failover number (a new request to the provider) gets a suffix."""
        if caller is None or caller == planned or caller not in settings.phone_numbers:
            return lease_id
        return f"{lease_id}_{settings.phone_numbers.index(caller)}"

    def _place(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        contact: ContactRecord,
        call_id: str,
        caller_id: str,
    ) -> PlaceResult:
        assert self.provider is not None, "the caller needs a provider"
        variables = {str(k): str(v) for k, v in plain_dict(contact.variables).items()}
        variables.update({"batch_id": campaign.campaign_id, "contact_id": contact.contact_id})
        return self.provider.place(
            CallRequest(
                call_id=call_id,
                agent_id=settings.agent_id,
                from_number=caller_id,
                to=contact.phone_number,
                variables=variables,
                callback_url=self.config.public_base_url.rstrip("/") + "/provider/events",
            )
        )

    def _unqueue(
        self,
        campaign: CampaignRecord,
        contact: ContactRecord,
        message: dict[str, Any],
        status: str,
        now: datetime,
        reason: str | None = None,
    ) -> None:
        attempt = int(message["attempt"])
        if self.store.unqueue(contact, int(message["plan_version"]), attempt, status, now, reason):
            self.campaign_store.add_counts(campaign, {"queued": -1, status: 1})
            if status != "scheduled":  # paused: it keeps its booking until resume re-plans
                self.bookings.release(
                    campaign.tenant_id, campaign.campaign_id, [int(message["due_ms"])]
                )
        key = _slot_key(message)
        if key is not None:
            self.store.delete_slot(key)
        if message.get("leased"):
            self._release(call_id_for(campaign.campaign_id, contact.contact_id, attempt), now)
        self.leases.forget_claim(message)
        if status in ("cancelled", "skipped"):
            self.check_completion(campaign.tenant_id, campaign.campaign_id, now)

    def _replan_closed_window(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        contact: ContactRecord,
        message: dict[str, Any],
        now: datetime,
    ) -> None:
        """Too late for its window: re-planned into the next one, never called late."""
        attempt = int(message["attempt"])
        version = int(message["plan_version"])
        booked_ms = int(message["due_ms"])
        planned = self.plan_one(campaign, settings, contact, to_epoch_ms(now), own_ms=booked_ms)
        if message.get("leased"):
            self._release(call_id_for(campaign.campaign_id, contact.contact_id, attempt), now)
        key = _slot_key(message)
        if planned is None:
            self._unqueue(campaign, contact, message, "skipped", now, reason="no_allowed_window")
            return
        due_ms, caller_id = planned
        new_version = version + 1
        slot = new_slot(
            campaign.tenant_id,
            campaign.campaign_id,
            contact.contact_id,
            attempt,
            new_version,
            due_ms,
            settings.priority,
            caller_id or contact.caller_id,
        )
        tenant_id, campaign_id = campaign.tenant_id, campaign.campaign_id
        self.bookings.book(tenant_id, campaign_id, [due_ms])
        self.store.put_slot(slot)
        if self.store.replan_queued(
            contact, version, attempt, new_version, due_ms, slot.caller_id, now
        ):
            self.campaign_store.add_counts(campaign, {"queued": -1, "scheduled": 1})
            if key is not None:
                self.store.delete_slot(key)
            self.bookings.release(tenant_id, campaign_id, [booked_ms])
            self.dispatch_soon([slot])
        else:
            self.store.delete_slot(SlotKey(slot.minute_shard, slot.slot_key))
            self.bookings.release(tenant_id, campaign_id, [due_ms])
        self.leases.forget_claim(message)
        logger.info("window closed; re-planned", contact_id=contact.contact_id, due_ms=due_ms)

    # ================================================================== outcomes
    def handle_outcome(
        self,
        call_id: str,
        outcome: str,
        duration_seconds: int | None,
        summary: str | None,
        opt_out: bool,
    ) -> bool:
        """A provider callback; False when the call id is unknown. Repeats change nothing."""
        record = self.leases.call(call_id)
        if record is None:
            logger.warning("outcome of an unknown call", call_id=call_id)
            return False
        self._end_attempt(record, outcome, duration_seconds, summary, opt_out)
        return True

    def expire_calls(self, now: datetime) -> int:
        """Calls with no outcome after the timeout are `unknown`; their place is freed."""
        expired = self.leases.expired(to_epoch_ms(now))
        for lease in expired:
            if "call_id" in lease.data:
                self._end_attempt(lease.data, "unknown", None, None, False)
            else:
                self._release(lease.lease_id, now)  # taken, never dialled
        return len(expired)

    def _end_attempt(
        self,
        record: dict[str, Any],
        outcome: str,
        duration_seconds: int | None,
        summary: str | None,
        opt_out: bool,
        reason: str | None = None,
    ) -> None:
        now = self.clock.now()
        tenant_id, campaign_id = record["tenant_id"], record["campaign_id"]
        call_id, attempt = record["call_id"], int(record["attempt"])
        campaign = self._campaign(tenant_id, campaign_id)
        contact = self.store.contact(tenant_id, campaign_id, record["contact_id"])
        if campaign is None or contact is None:
            self._release(record["lease_id"], now)
            return
        settings = settings_of(campaign)
        step = next_step(outcome, attempt, settings.retry_strategy)
        if opt_out:
            reason = "opt_out"
            self.suppressions.add(tenant_id, contact.phone_number)
        retry = None
        slot = None
        final = step.final_status
        if step.retry and (opt_out or campaign.status in FINISHED):
            final = "cancelled" if campaign.status == "cancelled" else "failed"
        elif step.retry:
            start_ms = to_epoch_ms(now) + step.delay_ms
            planned = self.plan_one(campaign, settings, contact, start_ms)
            if planned is None:
                final, reason = "failed", "no_allowed_window"
            else:
                due_ms, _ = planned
                version = int(contact.plan_version) + 1
                slot = new_slot(
                    tenant_id,
                    campaign_id,
                    contact.contact_id,
                    attempt + 1,
                    version,
                    due_ms,
                    settings.priority,
                    contact.caller_id,
                )
                self.bookings.book(tenant_id, campaign_id, [due_ms])
                self.store.put_slot(slot)  # first: a contact never points at a missing slot
                retry = (due_ms, version, contact.caller_id)
        if contact.status == "in_progress" and contact.call_id == call_id:
            changed = self.store.end_call(
                contact, call_id, outcome, duration_seconds, summary, now, final, retry, reason
            )
        else:
            changed = False
        if changed:
            self.campaign_store.add_counts(campaign, {"in_progress": -1, final or "scheduled": 1})
        elif slot is not None:
            self.store.delete_slot(SlotKey(slot.minute_shard, slot.slot_key))
            self.bookings.release(tenant_id, campaign_id, [int(slot.due_ms)])
        self._release(record["lease_id"], now)
        if not changed:
            return  # a repeated callback, or one after the timeout: nothing more
        metrics.add_metric(name="CallsEnded", unit="Count", value=1)
        self._emit(
            campaign,
            settings,
            call_completed_body(
                CallEnded(
                    campaign_id,
                    call_id,
                    contact.contact_id,
                    contact.phone_number,
                    outcome,  # type: ignore[arg-type]
                    attempt,
                    duration_seconds,
                    summary,
                ),
                to_iso(now),
            ),
            settings.webhooks.on_call_complete,
        )
        if slot is not None:
            self.dispatch_soon([slot])
        if final is not None:
            self.check_completion(tenant_id, campaign_id, now)

    def plan_one(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        contact: ContactRecord,
        start_ms: int,
        own_ms: int | None = None,
    ) -> tuple[int, str | None] | None:
        """The next allowed instant for one contact from `start_ms` by the planning rules
        (asap), counting the campaign's calls already planned or made (`own_ms`: the
        contact's own booking that this plan replaces).

        Cost: one query of the campaign's bookings per local day looked at, and the
        slots of the minute the call lands in; not the campaign's other contacts."""
        zones = effective_timezones(contact.timezones or [], settings.timezone)
        source = CampaignBookings(campaign.tenant_id, campaign.campaign_id, self.bookings)
        placed = place_one(
            settings, start_ms, PlanContact(contact.contact_id, zones), source, own_ms
        )
        return None if placed is None else (placed.due_ms, placed.caller_id)

    # ================================================================== places
    def admit_waiting(self, now: datetime, campaigns: _Campaigns | None = None) -> int:
        """Give free places to waiting calls: higher priority first, then scheduled_at."""
        campaigns = campaigns or _Campaigns(self.campaign_store)
        heads: list[rules.WaitingHead] = []
        for tenant_id, campaign_id, count, _ in self.leases.waiting_campaigns():
            if count <= 0:
                self.leases.forget_waiting_index(tenant_id, campaign_id)
                continue
            campaign = campaigns.get(tenant_id, campaign_id)
            if campaign is None or campaign.status not in DELIVERING:
                if campaign is None or campaign.status in FINISHED:
                    self._drop_waiting_of(tenant_id, campaign_id, campaign, now)
                continue
            first = self.leases.waiting_of(tenant_id, campaign_id, 1)
            if first:
                priority = settings_of(campaign).priority
                heads.append(
                    rules.WaitingHead(
                        tenant_id, campaign_id, priority, int(first[0].message["due_ms"])
                    )
                )
        admitted: list[tuple[dict[str, Any], int]] = []
        now_ms = to_epoch_ms(now)
        for head in rules.admission_order(heads):
            campaign = campaigns.get(head.tenant_id, head.campaign_id)
            assert campaign is not None
            settings = settings_of(campaign)
            campaign_full = False
            while not campaign_full:
                waiting = self.leases.waiting_of(head.tenant_id, head.campaign_id, 10)
                if not waiting:
                    break
                for call in waiting:
                    lease_id = call_id_for(
                        head.campaign_id, call.message["contact_id"], int(call.message["attempt"])
                    )
                    message = {**call.message, "leased": True, "claim_ms": now_ms}
                    message["sent_ms"] = now_ms
                    if self.leases.admit(
                        call,
                        lease_id,
                        settings.max_concurrent_calls,
                        self.config.provider_wide_call_limit,
                        self._expiry(now),
                        {
                            "contact_id": call.message["contact_id"],
                            "attempt": call.message["attempt"],
                        },
                        message,
                    ):
                        admitted.append((message, 0))
                        continue
                    live = self.leases.live_counts()
                    if live.get("provider", 0) >= self.config.provider_wide_call_limit:
                        self._send_admitted(admitted)
                        return len(admitted)
                    campaign_full = True
                    break
        self._send_admitted(admitted)
        return len(admitted)

    def _send_admitted(self, admitted: list[tuple[dict[str, Any], int]]) -> None:
        if admitted:
            self.queue.send(admitted)
            metrics.add_metric(name="WaitingCallsAdmitted", unit="Count", value=len(admitted))

    def _drop_waiting_of(
        self, tenant_id: str, campaign_id: str, campaign: CampaignRecord | None, now: datetime
    ) -> None:
        """Waiting calls of a cancelled or finished campaign are never dialled."""
        while True:
            waiting = self.leases.waiting_of(tenant_id, campaign_id, 25)
            if not waiting:
                return
            for call in waiting:
                self.leases.drop_waiting(call)
                if campaign is None:
                    continue
                contact = self.store.contact(tenant_id, campaign_id, call.message["contact_id"])
                if contact is not None:
                    self._unqueue(campaign, contact, call.message, "cancelled", now)

    def _release(self, lease_id: str, now: datetime) -> None:
        if self.leases.release(lease_id) is not None:
            self.admit_waiting(now)

    def _expiry(self, now: datetime) -> int:
        return to_epoch_ms(now + timedelta(seconds=self.config.call_timeout_seconds))

    def _campaign(self, tenant_id: str, campaign_id: str) -> CampaignRecord | None:
        try:
            return self.campaign_store.get(tenant_id, campaign_id)
        except NotFound:
            return None

    # ================================================================== completion
    def check_completion(self, tenant_id: str, campaign_id: str, now: datetime) -> bool:
        """No contact left to call and the plan complete: completed, and `batch.completed`
        once (only the writer that wins the transition emits it)."""
        campaign = self._campaign(tenant_id, campaign_id)
        if campaign is None or campaign.status != "active":
            return False
        counts = {k: int(v) for k, v in plain_dict(campaign.counts).items()}
        if any(counts.get(status, 0) > 0 for status in OPEN_CONTACT_STATUSES):
            return False
        planning = campaign.planning or {}
        if planning and not planning.get("done", True):
            return False
        try:
            self.campaign_store.transition(
                campaign,
                {"active"},
                "completed",
                now,
                extra=[CampaignRecord.finished_at.set(to_iso(now))],
            )
        except Conflict:
            return False
        settings = settings_of(campaign)
        self._emit(
            campaign,
            settings,
            batch_completed_body(campaign_id, counts, to_iso(now)),
            settings.webhooks.on_batch_complete,
        )
        metrics.add_metric(name="CampaignsCompleted", unit="Count", value=1)
        return True

    def sweep_completions(self, now: datetime, campaigns: _Campaigns | None = None) -> list[str]:
        """Safety net for completions two simultaneous last outcomes both missed: every
        campaign that ever held a place and now holds none is checked."""
        campaigns = campaigns or _Campaigns(self.campaign_store)
        done = []
        for key, live in self.leases.live_counts().items():
            if not key.startswith("campaign#") or live > 0:
                continue
            _, tenant_id, campaign_id = key.split("#", 2)
            campaign = campaigns.get(tenant_id, campaign_id)
            if campaign is None or campaign.status in FINISHED:
                self.leases.forget_campaign_counter(tenant_id, campaign_id)
            elif campaign.status == "active" and self.check_completion(tenant_id, campaign_id, now):
                done.append(campaign_id)
        return done

    def _emit(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        detail: dict[str, Any],
        webhook: str | None,
    ) -> None:
        if self.events is not None:
            self.events.put(detail)
        if webhook and self.webhooks is not None:
            self.webhooks.send(webhook, detail)


def _waits_for(contact: ContactRecord, slot: SlotRecord) -> bool:
    return (
        contact.status == "scheduled"
        and int(contact.plan_version) == int(slot.plan_version)
        and int(contact.attempts or 0) == int(slot.attempt) - 1
        and contact.scheduled_at is not None
        and int(contact.scheduled_at) == int(slot.due_ms)
    )


def _claimed_for(contact: ContactRecord, slot: SlotRecord) -> bool:
    return contact.status in ("queued", "in_progress") and int(contact.plan_version) == int(
        slot.plan_version
    )


__all__ = ["DeliveryConfig", "DeliveryService", "call_message", "campaign_sk"]

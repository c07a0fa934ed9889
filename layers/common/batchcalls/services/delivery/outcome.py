"""The end of an attempt: the provider's outcome, a dial the provider refused, or the
timeout of a call whose outcome never came (`unknown`).

Steps: find which attempt the call id is (its call record); read the contact; decide
what follows by the retry rules (a retry is planned by the planning rules against the
campaign's bookings); then one transaction records the outcome, moves the contact (to
its final status, or scheduled for the retry with its new slot and booking), frees the
place and writes `call.completed` to the outbox. Only the first of repeated callbacks
commits; the others find the attempt ended and change nothing. Afterwards, freed places
go to waiting calls, a near retry is dispatched, a finished campaign is completed.

An outcome also counts when the dial was given up (the provider never answered in
time) and the contact was planned again: the call happened after all, so the attempt
ends and the plan made meanwhile is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from batchcalls.adapters.campaign_store import settings_of
from batchcalls.adapters.delivery_store import AttemptEnd
from batchcalls.adapters.transactions import ConditionFailed
from batchcalls.clock import to_epoch_ms, to_iso
from batchcalls.domain.outcomes import CallEnded, call_completed_body
from batchcalls.domain.retries import next_step
from batchcalls.observability import logger, metrics
from batchcalls.services.delivery.common import FINISHED
from batchcalls.services.delivery.completion import Completion
from batchcalls.services.delivery.context import Deps
from batchcalls.services.delivery.places import Places
from batchcalls.services.delivery.replanning import Replanning


class CallOf(Protocol):
    """Which attempt a provider call id belongs to (a call record)."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def campaign_id(self) -> str: ...

    @property
    def contact_id(self) -> str: ...

    @property
    def attempt(self) -> Any: ...

    @property
    def lease_id(self) -> str: ...


@dataclass(frozen=True)
class CallRef:
    tenant_id: str
    campaign_id: str
    contact_id: str
    attempt: int
    lease_id: str


class Outcomes:
    def __init__(
        self,
        deps: Deps,
        places: Places,
        replanning: Replanning,
        completion: Completion,
        dispatch_soon: Any,
    ) -> None:
        self.deps = deps
        self.store = deps.store
        self.leases = deps.store.leases
        self.places = places
        self.replanning = replanning
        self.completion = completion
        self.dispatch_soon = dispatch_soon

    def handle(
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
        self.end_attempt(record, call_id, outcome, duration_seconds, summary, opt_out)
        return True

    def end_attempt(
        self,
        call: CallOf,
        call_id: str,
        outcome: str,
        duration_seconds: int | None = None,
        summary: str | None = None,
        opt_out: bool = False,
        reason: str | None = None,
    ) -> bool:
        """End the attempt once; True when this call ended it."""
        now = self.deps.clock.now()
        campaign = self.deps.campaigns().fresh(call.tenant_id, call.campaign_id)
        contact = self.store.contact(call.tenant_id, call.campaign_id, call.contact_id)
        if campaign is None or contact is None or contact.call_id != call_id:
            return False
        attempt = int(call.attempt)
        lease = None
        if contact.status == "in_progress" and int(contact.attempts or 0) == attempt:
            found = self.leases.lease(call.lease_id)
            if found is not None and found.state == "live" and found.call_id == call_id:
                lease = found
        elif not (
            contact.status in ("scheduled", "queued") and int(contact.attempts or 0) == attempt - 1
        ):
            return False  # ended already: a repeated callback, or one after the timeout
        settings = settings_of(campaign)
        step = next_step(outcome, attempt, settings.retry_strategy)
        if opt_out:
            reason = "opt_out"  # and the number suppressed with the attempt's end
        retry = None
        final = step.final_status
        if step.retry and (opt_out or campaign.status in FINISHED):
            final = "cancelled" if campaign.status == "cancelled" else "failed"
        elif step.retry:
            start_ms = to_epoch_ms(now) + step.delay_ms
            retry = self.replanning.next_call(campaign, settings, contact, attempt + 1, start_ms)
            if retry is None:
                final, reason = "failed", "no_allowed_window"
        event = call_completed_body(
            CallEnded(
                call.campaign_id,
                call_id,
                contact.contact_id,
                contact.phone_number,
                outcome,  # type: ignore[arg-type]
                attempt,
                duration_seconds,
                summary,
            ),
            to_iso(now),
        )
        try:
            self.store.end(
                contact,
                call_id,
                final or "scheduled",
                AttemptEnd(attempt, outcome, duration_seconds, summary, reason),
                lease,
                event,
                settings.webhooks.on_call_complete,
                retry,
                now,
                suppress_number=opt_out,
            )
        except ConditionFailed:
            return False
        metrics.add_metric(name="CallsEnded", unit="Count", value=1)
        if lease is not None:
            self.places.admit_waiting(now)
        if retry is not None:
            self.dispatch_soon([retry.slot])
        if final is not None:
            self.completion.check(call.tenant_id, call.campaign_id, now)
        return True

    def expire(self, now: datetime) -> int:
        """Calls with no outcome after the timeout end `unknown` (not retried: a second
        call might reach someone already called) and free their place; places reserved
        for a call that never started are given back."""
        now_ms = to_epoch_ms(now)
        expired = [lease for lease in self.leases.leases() if int(lease.expires_ms) <= now_ms]
        for lease in expired:
            if lease.state == "live" and lease.call_id:
                record = self.leases.call(lease.call_id)
                if record is not None and self.end_attempt(record, lease.call_id, "unknown"):
                    continue
            try:  # reserved and never started, or left behind by an attempt that ended
                self.store.release(lease, lease.state)
            except ConditionFailed:
                continue
        if expired:
            self.places.admit_waiting(now)
        return len(expired)

"""The caller's use case: one call message, dialled at most once per attempt.

Steps, in order (each write one transaction, adapters/delivery_store.py):
1. Early (SQS delays stop at 15 minutes): sent again, delayed.
2. The contact is read: queued for this attempt -> go on; already started for it (an
   earlier copy of this message, or this one before a crash) -> resume the dial; anything
   else -> a duplicate or a stale message, dropped (a place reserved for it given back).
3. The campaign must deliver: paused -> back to scheduled (a resume re-plans it);
   cancelled or finished -> cancelled.
4. The dial must fit in the contact's allowed time, retries to the provider included, and
   in the invocation's remaining time: else planned again into the next window (or handed
   to another invocation).
5. Start: contact queued -> in progress with a live place (per campaign and
   provider-wide), a second under `max_calls_per_second`, the call record and the day's
   count, all in one transaction. No free place: the call waits (parked). The second is
   full: sent again, delayed to the next free second.
6. Dial, with the attempt's stable call id (the provider dedupes on it), within the
   budget of step 4: accepted (noted on the place, so copies are not dialled again),
   caller ID refused (fail over to the next number), refused (the attempt fails), no
   answer in time (dialled again later by a new message; the call keeps its place).
A crash after step 5 is safe: the message comes back, step 2 finds the attempt started
and not yet accepted, and dials again under the same call id. Every dial again takes a
second under `max_calls_per_second` first, as the start did (the second full: sent on to
the next one with room).
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batchcalls.adapters.campaign_store import settings_of
from batchcalls.adapters.leases import LIVE_PK
from batchcalls.adapters.number_calls import NumberCalls
from batchcalls.adapters.provider_http import CallRequest
from batchcalls.adapters.tables import CampaignRecord, ContactRecord, LeaseItem, plain_dict
from batchcalls.adapters.transactions import ConditionFailed
from batchcalls.clock import to_epoch_ms, to_iso
from batchcalls.domain import leases as rules
from batchcalls.domain.campaigns import DELIVERING
from batchcalls.domain.frequency import FrequencyVerdict, frequency_limit, judge_call
from batchcalls.domain.planning import allowed_until, campaign_day, contact_reach
from batchcalls.domain.state_rules import max_calls_per_24h, states_with_rules
from batchcalls.errors import Conflict
from batchcalls.ids import call_id_for
from batchcalls.models.campaign import CampaignSettings
from batchcalls.observability import logger, metrics
from batchcalls.services.delivery.common import FINISHED, queued_for, started_for
from batchcalls.services.delivery.completion import Completion
from batchcalls.services.delivery.context import Deps
from batchcalls.services.delivery.outcome import CallRef, Outcomes
from batchcalls.services.delivery.places import Places
from batchcalls.services.delivery.replanning import Replanning

NUMBERS_REFUSED = "from_rejected: the provider refused every outbound number of the campaign"
# What an invocation is assumed to have left when the runtime does not say (tests).
DEFAULT_INVOCATION_LEFT_MS = 25_000


class Caller:
    def __init__(
        self,
        deps: Deps,
        places: Places,
        replanning: Replanning,
        outcomes: Outcomes,
        completion: Completion,
        dispatch_soon: Any,
    ) -> None:
        self.deps = deps
        self.store = deps.store
        self.leases = deps.store.leases
        self.places = places
        self.replanning = replanning
        self.outcomes = outcomes
        self.completion = completion
        self.dispatch_soon = dispatch_soon

    # ------------------------------------------------------------------ 1-4
    def handle(self, message: dict[str, Any], invocation_left_ms: int | None = None) -> str:
        """One call message: dial it, park it, pace it, or drop it. Returns what happened."""
        now = self.deps.clock.now()
        now_ms = to_epoch_ms(now)
        left_ms = DEFAULT_INVOCATION_LEFT_MS if invocation_left_ms is None else invocation_left_ms
        if now_ms < int(message["due_ms"]) and not message.get("reserved"):
            return self._send_again(message, rules.delay_seconds(int(message["due_ms"]), now_ms))
        tenant_id, campaign_id = message["tenant_id"], message["campaign_id"]
        campaign = self.deps.campaigns().fresh(tenant_id, campaign_id)
        contact = self.store.contact(tenant_id, campaign_id, message["contact_id"])
        if campaign is None or contact is None:
            return self._drop(message, now, "gone")
        if started_for(contact, message):
            return self._resume(campaign, contact, message, now, left_ms)
        if not queued_for(contact, message):
            return self._drop(message, now, "duplicate")
        if campaign.status not in DELIVERING:
            return self._hold(campaign, contact, message, now)
        settings = settings_of(campaign)
        until = self._allowed_until(settings, contact, now_ms)
        if (
            until is None
            or rules.dial_budget_seconds(until, now_ms, 10**9) < rules.MIN_DIAL_SECONDS
        ):
            return self._not_in_time(campaign, contact, message, now, until)
        budget = rules.dial_budget_seconds(until, now_ms, left_ms)
        if budget < rules.MIN_DIAL_SECONDS:
            return self._send_again(message, 0, "deferred")  # this invocation is nearly over
        if not message.get("reserved") and self.leases.any_waiting():
            return self._wait(settings, message, now)  # calls that wait go first
        frequency = self._frequency(campaign, settings, contact, now_ms)
        if frequency is not None and frequency.verdict.not_before_ms is not None:
            return self._not_in_time(
                campaign,
                contact,
                message,
                now,
                frequency.verdict.not_before_ms,
                reason="frequency_limit",
            )
        return self._start(campaign, settings, contact, message, now, budget, frequency)

    def _frequency(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        contact: ContactRecord,
        now_ms: int,
    ) -> NumberCallsCheck | None:
        """The number's calls of the last 24 hours judged against its limit (the tenant's,
        and its states' with `state_rules`); None when no limit applies."""
        tenant_cap = self.deps.tenant_settings.get(campaign.tenant_id)[
            "max_calls_per_number_per_24h"
        ]
        state_cap = None
        if settings.state_rules:
            state_cap = max_calls_per_24h(states_with_rules(contact.phone_number, contact.state))
        limit = frequency_limit(tenant_cap, state_cap)
        if limit is None:
            return None
        before = self.deps.number_calls.recent(campaign.tenant_id, contact.phone_number)
        return NumberCallsCheck(before, judge_call(before.calls_ms, now_ms, limit))

    def _allowed_until(
        self, settings: CampaignSettings, contact: ContactRecord, now_ms: int
    ) -> int | None:
        key = contact_reach(settings, contact.timezones, contact.phone_number, contact.state)
        return allowed_until(settings, key, now_ms)

    # ------------------------------------------------------------------ 5
    def _start(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        contact: ContactRecord,
        message: dict[str, Any],
        now: datetime,
        budget: float,
        frequency: NumberCallsCheck | None = None,
    ) -> str:
        attempt = int(message["attempt"])
        lease_id = call_id_for(campaign.campaign_id, contact.contact_id, attempt)
        if message.get("reserved") and not self._reserved_for(lease_id, attempt):
            message = {**message, "reserved": False}  # its reservation lapsed: take a place
        rejected = self.leases.rejected_numbers(campaign.tenant_id, campaign.campaign_id)
        planned_caller = message.get("caller_id") or contact.caller_id
        caller_id = rules.usable_caller_id(settings.phone_numbers, planned_caller, rejected)
        call_id = _call_id(lease_id, settings, planned_caller, caller_id)
        now_ms = to_epoch_ms(now)
        lease = LeaseItem(
            pk=LIVE_PK,
            sk=lease_id,
            tenant_id=campaign.tenant_id,
            campaign_id=campaign.campaign_id,
            contact_id=contact.contact_id,
            attempt=attempt,
            state="live",
            expires_ms=self.deps.call_expiry_ms(now),
        )
        try:
            self.store.start(
                contact,
                message,
                call_id,
                caller_id,
                lease,
                self.places.limits(settings.max_concurrent_calls),
                settings.max_calls_per_second,
                campaign_day(settings, now_ms),
                now,
                None if frequency is None else (frequency.before, frequency.verdict.calls_ms),
            )
        except ConditionFailed as lost:
            if lost.failed("suppressed"):
                # On the do-not-call list since it was planned (an opt-out, a POST):
                # never dialled, here or in any other campaign of the tenant.
                return self._unqueue(campaign, contact, message, now, "skipped", "suppressed")
            if lost.failed("number calls"):
                # Another campaign called the number meanwhile: judge again.
                return self._send_again(message, 1, "frequency_race")
            if lost.failed("rate"):
                return self._pace(settings, message, now_ms)
            if lost.failed("provider place") or lost.failed("campaign place"):
                return self._wait(settings, message, now)
            # Someone moved first: a copy of this message, or this very transaction whose
            # answer was lost before it was retried.
            fresh = self.store.contact(campaign.tenant_id, campaign.campaign_id, contact.contact_id)
            if fresh is not None and started_for(fresh, message):
                return self._resume(campaign, fresh, message, now, int(budget * 1000) + 2000)
            return self._drop(message, now, "duplicate")
        if campaign.status == "scheduled":
            with suppress(Conflict):
                self.deps.campaign_store.transition(
                    campaign,
                    {"scheduled"},
                    "active",
                    now,
                    extra=[CampaignRecord.first_call_at.set(to_iso(now))],
                )
        return self._dial(
            campaign, settings, contact, message, lease_id, call_id, caller_id, rejected, budget
        )

    def _reserved_for(self, lease_id: str, attempt: int) -> bool:
        lease = self.leases.lease(lease_id)
        return lease is not None and lease.state == "reserved" and int(lease.attempt) == attempt

    def _resume(
        self,
        campaign: CampaignRecord,
        contact: ContactRecord,
        message: dict[str, Any],
        now: datetime,
        left_ms: int,
    ) -> str:
        """The attempt was started before (a crash after the start, a copy of the message,
        a dial the provider did not answer): dial again under the same call id, unless the
        provider took it already or its time is up."""
        attempt = int(message["attempt"])
        lease_id = call_id_for(campaign.campaign_id, contact.contact_id, attempt)
        lease = self.leases.lease(lease_id)
        if lease is None or lease.state != "live" or lease.call_id != contact.call_id:
            return self._drop(message, now, "duplicate")  # it ended meanwhile
        if lease.placed_ms is not None:
            return self._drop(message, now, "duplicate")  # the provider has it
        settings = settings_of(campaign)
        now_ms = to_epoch_ms(now)
        until = self._allowed_until(settings, contact, now_ms)
        budget = 0.0 if until is None else rules.dial_budget_seconds(until, now_ms, left_ms)
        if campaign.status in FINISHED:
            with suppress(ConditionFailed):
                self.store.unqueue(contact, message, "cancelled", now, started=lease)
            self.places.admit_waiting(now)
            return f"held:{campaign.status}"
        if campaign.status not in DELIVERING or budget < rules.MIN_DIAL_SECONDS:
            if campaign.status in DELIVERING and until is not None:
                window_budget = rules.dial_budget_seconds(until, now_ms, 10**9)
                if window_budget >= rules.MIN_DIAL_SECONDS:
                    return self._send_again(message, 0, "deferred")
            retry = self.replanning.not_placed_in_time(
                campaign, contact, message, now, lease, not_before_ms=until
            )
            self.places.admit_waiting(now)
            if retry is not None:
                self.dispatch_soon([retry.slot])
            return "replanned"
        try:
            self.store.count_redial(
                campaign.tenant_id, campaign.campaign_id, now, settings.max_calls_per_second
            )
        except ConditionFailed:
            # This second is full: dialled again in the first second with room.
            delay = self._free_second_delay(settings, message, now_ms)
            self.deps.queue.send([(message, delay)])
            self.leases.expect_redial(lease_id, str(contact.call_id), now_ms + delay * 1000)
            return "paced"
        rejected = self.leases.rejected_numbers(campaign.tenant_id, campaign.campaign_id)
        planned = message.get("caller_id") or contact.caller_id
        return self._dial(
            campaign,
            settings,
            contact,
            message,
            lease_id,
            str(contact.call_id),
            contact.caller_id or planned,
            rejected,
            budget,
            planned,
        )

    # ------------------------------------------------------------------ 6
    def _dial(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        contact: ContactRecord,
        message: dict[str, Any],
        lease_id: str,
        call_id: str,
        caller_id: str | None,
        rejected: set[str],
        budget: float,
        planned_caller: str | None = None,
    ) -> str:
        planned_caller = planned_caller or message.get("caller_id") or contact.caller_id
        ref = CallRef(
            campaign.tenant_id,
            campaign.campaign_id,
            contact.contact_id,
            int(message["attempt"]),
            lease_id,
        )
        deadline = time.monotonic() + budget
        while True:
            if caller_id is None:
                return self._fail_campaign(campaign, settings, ref, message, NUMBERS_REFUSED)
            result = self._place(campaign, settings, contact, call_id, caller_id, deadline)
            if result.status == "accepted":
                self.leases.mark_placed(lease_id, call_id, to_epoch_ms(self.deps.clock.now()))
                metrics.add_metric(name="CallsPlaced", unit="Count", value=1)
                return "dialled"
            if result.status == "from_rejected":
                self.leases.reject_number(campaign.tenant_id, campaign.campaign_id, caller_id)
                rejected.add(caller_id)
                following = rules.next_caller_id(settings.phone_numbers, caller_id, rejected)
                if following is None:
                    return self._fail_campaign(campaign, settings, ref, message, NUMBERS_REFUSED)
                following_id = _call_id(lease_id, settings, planned_caller, following)
                try:
                    self.store.fail_over(
                        contact,
                        message,
                        lease_id,
                        call_id,
                        following_id,
                        following,
                        self.deps.clock.now(),
                    )
                except ConditionFailed:
                    return "moved on"
                logger.warning("caller id rejected, failing over", campaign_id=campaign.campaign_id)
                call_id, caller_id = following_id, following
                continue
            if result.status == "blocked":
                error = f"{result.code}: the provider refused the campaign ({result.detail})"
                return self._fail_campaign(campaign, settings, ref, message, error)
            if result.status == "refused":
                reason = f"provider_{result.http_status}"
                self.outcomes.end_attempt(ref, call_id, "failed", reason=reason)
                return "failed"
            # No answer within the budget: the provider may or may not have the call. It
            # keeps its place and is dialled again later under the same call id.
            redials = int(message.get("redials", 0))
            delay = rules.redial_delay_seconds(redials)
            self.deps.queue.send([({**message, "redials": redials + 1}, delay)])
            now_ms = to_epoch_ms(self.deps.clock.now())
            self.leases.expect_redial(lease_id, call_id, now_ms + delay * 1000)
            metrics.add_metric(name="ProviderUnavailable", unit="Count", value=1)
            logger.warning("provider did not answer; dialling again later", delay_seconds=delay)
            return "redial"

    def _fail_campaign(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        ref: CallRef,
        message: dict[str, Any],
        error: str,
    ) -> str:
        """The provider refuses every call of the campaign (its agent, our credentials, or
        every outbound number): the campaign fails with `batch.failed`, its contacts not yet
        dialled are cancelled (the planner's cancel, as for a cancelled campaign), and this
        attempt, never placed, is cancelled too (not counted as an attempt)."""
        now = self.deps.clock.now()
        with suppress(Conflict):  # failed (or cancelled) meanwhile: nothing more to say
            self.deps.campaign_store.fail(campaign, error, settings.webhooks.on_batch_failed, now)
        logger.warning("campaign failed", campaign_id=campaign.campaign_id, error=error)
        metrics.add_metric(name="CampaignsFailed", unit="Count", value=1)
        contact = self.store.contact(ref.tenant_id, ref.campaign_id, ref.contact_id)
        lease = self.leases.lease(ref.lease_id)
        if contact is not None and lease is not None and contact.status == "in_progress":
            with suppress(ConditionFailed):
                self.store.unqueue(
                    contact, message, "cancelled", now, "campaign_failed", started=lease
                )
        self.places.admit_waiting(now)
        return "campaign_failed"

    def _place(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        contact: ContactRecord,
        call_id: str,
        caller_id: str,
        deadline: float,
    ) -> Any:
        assert self.deps.provider is not None, "the caller needs a provider"
        variables = {str(k): str(v) for k, v in plain_dict(contact.variables).items()}
        variables.update({"batch_id": campaign.campaign_id, "contact_id": contact.contact_id})
        return self.deps.provider.place(
            CallRequest(
                call_id=call_id,
                agent_id=settings.agent_id,
                from_number=caller_id,
                to=contact.phone_number,
                variables=variables,
                callback_url=self.deps.config.public_base_url.rstrip("/") + "/provider/events",
            ),
            max(0.0, deadline - time.monotonic()),
        )

    # ------------------------------------------------------------------ other paths
    def _send_again(self, message: dict[str, Any], delay: int, what: str = "early") -> str:
        self.deps.queue.send([(message, delay)])
        now_ms = to_epoch_ms(self.deps.clock.now())
        self.store.claims.expect(message, now_ms + delay * 1000)
        return what

    def _pace(self, settings: CampaignSettings, message: dict[str, Any], now_ms: int) -> str:
        """This second is full: to the first second with room (calls started per second
        are counted at the start, whatever sent them: a catch-up, admitted waiting calls,
        re-sent claims)."""
        return self._send_again(
            message, self._free_second_delay(settings, message, now_ms), "paced"
        )

    def _free_second_delay(
        self, settings: CampaignSettings, message: dict[str, Any], now_ms: int
    ) -> int:
        """Seconds from now to the first later second with room under the campaign's rate."""
        second = now_ms // 1000
        used = self.leases.seconds_used(
            message["tenant_id"], message["campaign_id"], second + 1, second + 120
        )
        free = rules.next_free_second(used, second + 1, settings.max_calls_per_second)
        return min(rules.MAX_DELAY_SECONDS, free - second)

    def _wait(self, settings: CampaignSettings, message: dict[str, Any], now: datetime) -> str:
        try:
            self.store.park(message, settings.priority)
            metrics.add_metric(name="CallsWaiting", unit="Count", value=1)
        except ConditionFailed:
            self.store.claims.forget(message)  # it waits already (a copy parked it)
        self.places.admit_waiting(now)
        return "waiting"

    def _hold(
        self,
        campaign: CampaignRecord,
        contact: ContactRecord,
        message: dict[str, Any],
        now: datetime,
    ) -> str:
        """Paused (or a draft again): back to scheduled with its time, for the resume to
        re-plan. Cancelled or finished: cancelled, never dialled."""
        held = campaign.status in ("paused", "draft")
        status = "scheduled" if held else "cancelled"
        self._unqueue(campaign, contact, message, now, status, None, release_booking=not held)
        return f"held:{campaign.status}"

    def _unqueue(
        self,
        campaign: CampaignRecord,
        contact: ContactRecord,
        message: dict[str, Any],
        now: datetime,
        status: str,
        reason: str | None,
        release_booking: bool = True,
    ) -> str:
        try:
            self.store.unqueue(contact, message, status, now, reason, release_booking)
        except ConditionFailed:
            return self._drop(message, now, "duplicate")
        if message.get("reserved"):
            self.places.admit_waiting(now)
        if status in ("skipped", "cancelled"):
            self.completion.check(campaign.tenant_id, campaign.campaign_id, now)
        return status if reason is None else reason

    def _not_in_time(
        self,
        campaign: CampaignRecord,
        contact: ContactRecord,
        message: dict[str, Any],
        now: datetime,
        until: int | None,
        reason: str | None = None,
    ) -> str:
        """Its allowed time is over, or too close to its end for a dial (or the number's
        frequency limit holds it back: `reason`): planned again from `until`."""
        retry = self.replanning.not_placed_in_time(
            campaign, contact, message, now, not_before_ms=until, reason=reason
        )
        if message.get("reserved"):
            self.places.admit_waiting(now)
        if retry is not None:
            self.dispatch_soon([retry.slot])
        else:
            self.completion.check(campaign.tenant_id, campaign.campaign_id, now)
        return "replanned"

    def _drop(self, message: dict[str, Any], now: datetime, what: str) -> str:
        """A message with nothing to do: its claim is done with, and a place reserved for
        its attempt (if still reserved for it) given back."""
        self.store.claims.forget(message)
        if message.get("reserved"):
            attempt = int(message["attempt"])
            lease_id = call_id_for(message["campaign_id"], message["contact_id"], attempt)
            lease = self.leases.lease(lease_id)
            if lease is not None and lease.state == "reserved" and int(lease.attempt) == attempt:
                with suppress(ConditionFailed):
                    self.store.release_reserved(lease)
                self.places.admit_waiting(now)
        return what


@dataclass(frozen=True)
class NumberCallsCheck:
    before: NumberCalls
    verdict: FrequencyVerdict


def _call_id(
    lease_id: str, settings: CampaignSettings, planned: str | None, caller: str | None
) -> str:
    """Stable per attempt and caller ID: the planned number dials as the attempt's own id;
    a failover number (a new request to the provider) gets a suffix."""
    if caller is None or caller == planned or caller not in settings.phone_numbers:
        return lease_id
    return f"{lease_id}_{settings.phone_numbers.index(caller)}"

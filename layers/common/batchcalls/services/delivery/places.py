"""Free places go to waiting calls: higher campaign priority first, then earlier due time.

A call that found no free place waits in the Coordination table (never bounced through
the queue). Whoever frees a place (an outcome, a timeout, the tick) admits waiting calls:
each admitted call gets a place *reserved* for it in the same transaction that takes it
off the waiting list, so nobody can take that place while its message travels; only the
caller handling that attempt turns it live (or gives it back).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batchcalls.adapters.campaign_store import settings_of
from batchcalls.adapters.leases import LIVE_PK, Limits
from batchcalls.adapters.tables import LeaseItem
from batchcalls.adapters.transactions import ConditionFailed
from batchcalls.clock import to_epoch_ms
from batchcalls.domain import leases as rules
from batchcalls.domain.campaigns import DELIVERING
from batchcalls.ids import call_id_for
from batchcalls.observability import metrics
from batchcalls.services.delivery.common import FINISHED, RESERVED_PLACE_MS, Campaigns, queued_for
from batchcalls.services.delivery.context import Deps


class Places:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.leases = deps.store.leases

    def limits(self, max_concurrent_calls: int) -> Limits:
        return Limits(max_concurrent_calls, self.deps.config.provider_wide_call_limit)

    def admit_waiting(self, now: datetime, campaigns: Campaigns | None = None) -> int:
        """Give free places to waiting calls, in admission order; returns how many."""
        campaigns = campaigns or self.deps.campaigns()
        heads: list[rules.WaitingHead] = []
        for tenant_id, campaign_id, count, _ in self.leases.waiting_campaigns():
            if count <= 0:
                self.leases.forget_waiting_index(tenant_id, campaign_id)
                continue
            campaign = campaigns.get(tenant_id, campaign_id)
            if campaign is None or campaign.status in FINISHED:
                self._drop_waiting_of(tenant_id, campaign_id, now)
                continue
            if campaign.status not in DELIVERING:
                continue  # paused: its waiting calls go back to scheduled when it resumes
            first = self.leases.waiting_of(tenant_id, campaign_id, 1)
            if first:
                priority = settings_of(campaign).priority
                due_ms = int(first[0].message["due_ms"])
                heads.append(rules.WaitingHead(tenant_id, campaign_id, priority, due_ms))
        admitted: list[tuple[dict[str, Any], int]] = []
        try:
            for head in rules.admission_order(heads):
                campaign = campaigns.get(head.tenant_id, head.campaign_id)
                assert campaign is not None
                self._admit_campaign(campaign, now, admitted)
        except _ProviderFull:
            pass
        if admitted:
            # Unsent ones keep their claims: the sweeper sends them again.
            self.deps.queue.send(admitted)
            metrics.add_metric(name="WaitingCallsAdmitted", unit="Count", value=len(admitted))
        return len(admitted)

    def _admit_campaign(
        self, campaign: Any, now: datetime, admitted: list[tuple[dict[str, Any], int]]
    ) -> None:
        settings = settings_of(campaign)
        limits = self.limits(settings.max_concurrent_calls)
        now_ms = to_epoch_ms(now)
        while True:
            waiting = self.leases.waiting_of(campaign.tenant_id, campaign.campaign_id, 10)
            if not waiting:
                return
            for call in waiting:
                message = {**call.message, "reserved": True}
                lease = LeaseItem(
                    pk=LIVE_PK,
                    sk=call_id_for(campaign.campaign_id, message["contact_id"], message["attempt"]),
                    tenant_id=campaign.tenant_id,
                    campaign_id=campaign.campaign_id,
                    contact_id=message["contact_id"],
                    attempt=int(message["attempt"]),
                    state="reserved",
                    expires_ms=now_ms + RESERVED_PLACE_MS,
                    message=message,
                )
                try:
                    claimed = self.deps.store.admit(call, lease, limits, message, now_ms, now_ms)
                except ConditionFailed as lost:
                    if lost.failed("provider place"):
                        raise _ProviderFull from None
                    if lost.failed("campaign place"):
                        return
                    continue  # admitted by someone else meanwhile
                admitted.append((claimed, 0))

    def _drop_waiting_of(self, tenant_id: str, campaign_id: str, now: datetime) -> None:
        """Waiting calls of a cancelled, finished or deleted campaign are never dialled
        (their contacts are cancelled by the campaign's own cancellation)."""
        while waiting := self.leases.waiting_of(tenant_id, campaign_id, 25):
            for call in waiting:
                try:
                    self.deps.store.drop_waiting(call)
                except ConditionFailed:
                    continue

    def return_waiting(self, tenant_id: str, campaign_id: str, now: datetime) -> int:
        """A paused campaign resumes: its waiting calls go back to `scheduled` (under a new
        plan version, their bookings kept), each taken off the waiting list in the same
        transaction, so the resume's plan gives them a real time instead of one in the
        past."""
        returned = 0
        while waiting := self.leases.waiting_of(tenant_id, campaign_id, 25):
            for call in waiting:
                contact = self.deps.store.contact(
                    tenant_id, campaign_id, call.message["contact_id"]
                )
                try:
                    if contact is not None and queued_for(contact, call.message):
                        self.deps.store.unqueue(
                            contact,
                            call.message,
                            "scheduled",
                            now,
                            release_booking=False,
                            waiting=call,
                        )
                        returned += 1
                    else:
                        self.deps.store.drop_waiting(call)  # its contact moved on already
                except ConditionFailed:
                    continue  # someone else took it off the list meanwhile
        return returned


class _ProviderFull(Exception):
    """The provider-wide limit is reached: nobody else can be admitted now."""

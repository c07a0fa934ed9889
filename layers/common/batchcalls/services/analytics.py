"""GET /batch-calls/{id}/analytics (API.md "Analytics"): a campaign's figures from its
counters, never from its contacts.

Read per request: the campaign, its contact counters (16 items), its analytics counters
(adapters/analytics_counters.py), its bookings (calls planned per UTC minute,
adapters/bookings.py: one item per minute with calls), the slots of its last booked
minute (for the finish estimate) and its webhook delivery counts (a port).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from batchcalls.adapters.analytics_counters import AnalyticsCounters
from batchcalls.adapters.bookings import BookingLedger
from batchcalls.adapters.campaign_store import CampaignStore, settings_of
from batchcalls.adapters.contact_moves import OPEN_STATUSES, ContactCounts
from batchcalls.adapters.slot_store import SlotStore
from batchcalls.adapters.webhook_store import WebhookDeliveries
from batchcalls.clock import from_epoch_ms, to_iso
from batchcalls.domain import analytics as figures
from batchcalls.domain.analytics import Counters

WEBHOOK_STATES = ("sent", "succeeded", "failed", "pending")


class WebhookCounts(Protocol):
    def webhook_counts(self, tenant_id: str, campaign_id: str) -> Mapping[str, int]:
        """The campaign's webhook deliveries: `{sent, succeeded, failed, pending}`."""
        ...


class CountersSource(Protocol):
    def read(self, tenant_id: str, campaign_id: str) -> Counters: ...


class PlannedCalls(Protocol):
    def booked_minutes(
        self, tenant_id: str, campaign_id: str, first: str, last: str
    ) -> Mapping[str, int]: ...


class MinuteSlots(Protocol):
    def campaign_slots_in_minute(self, tenant_id: str, campaign_id: str, minute: str) -> Any: ...


class AnalyticsService:
    def __init__(
        self,
        campaigns: CampaignStore | None = None,
        counts: ContactCounts | None = None,
        counters: CountersSource | None = None,
        planned: PlannedCalls | None = None,
        slots: MinuteSlots | None = None,
        webhooks: WebhookCounts | None = None,
    ) -> None:
        self.campaigns = campaigns or CampaignStore()
        self.counts = counts or ContactCounts()
        self.counters = counters or AnalyticsCounters()
        self.planned = planned or BookingLedger()
        self.slots = slots or SlotStore()
        self.webhooks = webhooks or WebhookDeliveries()

    def of(self, tenant_id: str, campaign_id: str) -> dict[str, Any]:
        """The campaign's analytics; NotFound for an unknown (or another tenant's) id."""
        campaign = self.campaigns.get(tenant_id, campaign_id)
        settings = settings_of(campaign)
        contacts = self.counts.totals(tenant_id, campaign_id)
        counters = self.counters.read(tenant_id, campaign_id)
        # Minutes sort as text; "0" and "9" bound every one of them.
        planned = {
            minute: count
            for minute, count in self.planned.booked_minutes(
                tenant_id, campaign_id, "0", "9"
            ).items()
            if count > 0
        }
        per_day, per_hour = figures.per_day_and_hour(settings.timezone, planned, counters.quarters)
        open_contacts = any(contacts[status] for status in OPEN_STATUSES)
        webhooks = self.webhooks.webhook_counts(tenant_id, campaign_id)
        return {
            "batch_id": campaign_id,
            "status": campaign.status,
            "contacts": {"total": sum(contacts.values()), **contacts},
            "attempts": {
                "total": sum(counters.by_outcome.values()),
                "by_outcome": dict(counters.by_outcome),
                "per_contact": figures.per_contact(
                    counters.latest_attempt, settings.retry_strategy.max_attempts
                ),
            },
            "answer_rate": figures.answer_rate(counters.by_outcome),
            "duration_seconds": figures.duration_summary(
                counters.duration_counts, counters.duration_sums
            ).as_dict(),
            "per_day": per_day,
            "per_hour": per_hour,
            "finish_estimate": self._finish_estimate(tenant_id, campaign_id, planned)
            if open_contacts
            else None,
            "webhooks": {state: int(webhooks.get(state, 0)) for state in WEBHOOK_STATES},
        }

    def _finish_estimate(
        self, tenant_id: str, campaign_id: str, planned: Mapping[str, int]
    ) -> str | None:
        """The planned time of the campaign's last call: the latest slot of its last booked
        minute (that minute's start when its calls were all dialled already)."""
        if not planned:
            return None
        last = max(planned)
        due: Sequence[int] = [
            int(slot.due_ms)
            for slot in self.slots.campaign_slots_in_minute(tenant_id, campaign_id, last)
        ]
        if due:
            return to_iso(from_epoch_ms(max(due)))
        return last + ":00.000Z"

"""One call planned again by the planning rules, without reading the campaign's other
contacts: a retry after its delay, or a call that could not be placed in its window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batchcalls.adapters.bookings import CampaignBookings
from batchcalls.adapters.campaign_store import settings_of
from batchcalls.adapters.delivery_store import Retry
from batchcalls.adapters.slot_store import new_slot
from batchcalls.adapters.tables import CampaignRecord, ContactRecord, LeaseItem
from batchcalls.adapters.transactions import ConditionFailed
from batchcalls.clock import to_epoch_ms
from batchcalls.domain.bookings import place_one
from batchcalls.domain.planning import PlanContact, contact_reach, delay_reason
from batchcalls.models.campaign import CampaignSettings
from batchcalls.observability import logger
from batchcalls.services.delivery.context import Deps


class Replanning:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def next_call(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        contact: ContactRecord,
        attempt: int,
        start_ms: int,
        own_ms: int | None = None,
    ) -> Retry | None:
        """The contact's call for `attempt` at the earliest instant from `start_ms` that
        keeps the planning rules against the campaign's bookings (`own_ms`: the contact's
        own booking this call replaces), as a slot of the contact's next plan version.

        Cost: one query of the campaign's bookings per campaign day looked at, and the slots
        of the minute the call lands in; not the campaign's other contacts."""
        zones = contact_reach(settings, contact.timezones, contact.phone_number, contact.state)
        source = CampaignBookings(
            campaign.tenant_id, campaign.campaign_id, self.deps.store.bookings
        )
        placed = place_one(
            settings, start_ms, PlanContact(contact.contact_id, zones), source, own_ms
        )
        if placed is None:
            return None
        caller_id = placed.caller_id or contact.caller_id
        slot = new_slot(
            campaign.tenant_id,
            campaign.campaign_id,
            contact.contact_id,
            attempt,
            int(contact.plan_version) + 1,
            placed.due_ms,
            settings.priority,
            caller_id,
        )
        return Retry(slot, caller_id)

    def not_placed_in_time(
        self,
        campaign: CampaignRecord,
        contact: ContactRecord,
        message: dict[str, Any],
        now: datetime,
        lease: LeaseItem | None = None,
        not_before_ms: int | None = None,
        reason: str | None = None,
    ) -> Retry | None:
        """Too late for its window (or its dial was given up): scheduled again at the next
        allowed instant from `not_before_ms` (default now; the end of a window too close to
        its end for a dial), never called late; skipped when no allowed time remains. Its
        `reason` becomes the rule that moved it (given, e.g. `frequency_limit`, or the one
        `delay_reason` finds: a state's hours, a holiday...), or stays as it was. From
        `queued`, or from `in_progress` with its live `lease` when the provider never
        answered. Returns the new call (to dispatch soon), or None."""
        settings = settings_of(campaign)
        booked_ms = int(message["due_ms"])
        start_ms = max(to_epoch_ms(now), not_before_ms or 0)
        retry = self.next_call(
            campaign, settings, contact, int(message["attempt"]), start_ms, booked_ms
        )
        try:
            if retry is None:
                if lease is None:
                    self.deps.store.unqueue(
                        contact, message, "skipped", now, reason="no_allowed_window"
                    )
                return None
            if reason is None:
                # The rule that moved it past its own hours, if one did (state, holiday...).
                zones = contact_reach(
                    settings, contact.timezones, contact.phone_number, contact.state
                )
                reason = delay_reason(settings, start_ms, zones)
            self.deps.store.replan(contact, message, retry, booked_ms, now, lease, reason)
        except ConditionFailed:
            return None  # it moved on meanwhile (a duplicate, an outcome, a cancel)
        logger.info(
            "not placed in time; planned again", contact_id=contact.contact_id, due_ms=retry.due_ms
        )
        return retry

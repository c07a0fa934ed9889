"""A campaign with nothing left to call is completed, and `batch.completed` emitted once:
the transition and its event commit together, on a campaign whose counters (kept in the
same transactions as every contact's status) show no open contact."""

from __future__ import annotations

from datetime import datetime

from batchcalls.adapters.campaign_store import settings_of
from batchcalls.adapters.tables import plain_dict
from batchcalls.adapters.transactions import ConditionFailed
from batchcalls.clock import to_epoch_ms, to_iso
from batchcalls.domain.campaigns import DELIVERING
from batchcalls.domain.outcomes import batch_completed_body
from batchcalls.observability import metrics
from batchcalls.services.delivery.context import Deps


class Completion:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def check(self, tenant_id: str, campaign_id: str, now: datetime) -> bool:
        """Complete the campaign if it is calling (active, or scheduled with every contact
        skipped before its first call), fully planned and has no open contact."""
        campaign = self.deps.campaigns().fresh(tenant_id, campaign_id)
        if campaign is None or campaign.status not in DELIVERING:
            return False
        planning = plain_dict(campaign.planning)
        if planning and not planning.get("done", True):
            return False
        counts = self.deps.counts.totals(tenant_id, campaign_id)
        if any(counts[status] for status in ("pending", "scheduled", "queued", "in_progress")):
            return False
        settings = settings_of(campaign)
        event = batch_completed_body(campaign_id, counts, to_iso(now))
        try:
            self.deps.campaign_store.complete(
                campaign, now, event, settings.webhooks.on_batch_complete, to_epoch_ms(now)
            )
        except ConditionFailed:
            return False  # it changed meanwhile (a contact added, a new plan, completed)
        metrics.add_metric(name="CampaignsCompleted", unit="Count", value=1)
        return True

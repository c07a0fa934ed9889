"""The dependencies every delivery use case works with, built once per service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from batchcalls.adapters.campaign_store import CampaignStore
from batchcalls.adapters.contact_moves import ContactCounts
from batchcalls.adapters.delivery_store import DeliveryStore
from batchcalls.adapters.number_calls import NumberCallLog, TenantSettingsStore
from batchcalls.clock import Clock, to_epoch_ms
from batchcalls.services.delivery.common import (
    CallQueue,
    Campaigns,
    DeliveryConfig,
    Provider,
)


@dataclass
class Deps:
    clock: Clock
    config: DeliveryConfig
    queue: CallQueue
    provider: Provider | None
    store: DeliveryStore
    campaign_store: CampaignStore
    counts: ContactCounts
    tenant_settings: TenantSettingsStore
    number_calls: NumberCallLog

    def campaigns(self) -> Campaigns:
        """A fresh per-invocation cache of campaign records."""
        return Campaigns(self.campaign_store)

    def call_expiry_ms(self, now: datetime) -> int:
        return to_epoch_ms(now + timedelta(seconds=self.config.call_timeout_seconds))

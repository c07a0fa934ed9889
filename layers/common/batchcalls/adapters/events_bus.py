"""Delivery's events: EventBridge (source `batch-calls`, detail-type = event name)."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

import boto3

from batchcalls.domain.event_destinations import SOURCE, TENANT_RESOURCE_PREFIX
from batchcalls.domain.webhooks import WEBHOOK_RESOURCE_PREFIX


def tenant_resources(tenant_id: str | None) -> list[str]:
    """The tenant of an event is named in the entry's `resources`, never in its detail
    (the body webhooks and event destinations receive); rules match it there
    (domain/event_destinations.event_pattern)."""
    return [TENANT_RESOURCE_PREFIX + tenant_id] if tenant_id else []


class EventBus:
    """Implements services.publishing.Bus."""

    def __init__(self, bus_name: str, client: Any | None = None) -> None:
        self.bus_name = bus_name
        self._client = client

    @cached_property
    def client(self) -> Any:
        return self._client or boto3.client("events")

    def put_many(
        self,
        details: list[dict[str, Any]],
        tenants: list[str | None],
        webhook_urls: list[str | None] | None = None,
    ) -> list[bool]:
        """Put up to 10 events, each of its tenant (and the campaign webhook that wants
        it, `webhook/<url>` in `resources`: the webhook rule matches it); which of them the
        bus took (the others may be put again)."""
        urls = webhook_urls or [None] * len(details)
        answer = self.client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail["event"],
                    "Detail": json.dumps(detail),
                    "Resources": tenant_resources(tenant)
                    + ([WEBHOOK_RESOURCE_PREFIX + url] if url else []),
                    "EventBusName": self.bus_name,
                }
                for detail, tenant, url in zip(details, tenants, urls, strict=True)
            ]
        )
        return [not entry.get("ErrorCode") for entry in answer.get("Entries", [])]

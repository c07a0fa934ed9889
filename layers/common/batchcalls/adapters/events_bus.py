"""Delivery's events: EventBridge (source `batch-calls`, detail-type = event name) and the
campaign's own webhook URLs, which receive the event's detail as their body."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import cached_property
from typing import Any

import boto3

from batchcalls.domain.event_destinations import SOURCE, TENANT_RESOURCE_PREFIX
from batchcalls.observability import logger


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

    def put_many(self, details: list[dict[str, Any]], tenants: list[str | None]) -> list[bool]:
        """Put up to 10 events, each of its tenant; which of them the bus took (the others
        may be put again)."""
        answer = self.client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail["event"],
                    "Detail": json.dumps(detail),
                    "Resources": tenant_resources(tenant),
                    "EventBusName": self.bus_name,
                }
                for detail, tenant in zip(details, tenants, strict=True)
            ]
        )
        return [not entry.get("ErrorCode") for entry in answer.get("Entries", [])]


class WebhookSender:
    """POSTs an event detail to a campaign's webhook, a few times with backoff on 5xx,
    429 and network errors. A failure is logged, never raised: delivery goes on."""

    def __init__(
        self,
        attempts: int = 3,
        timeout_seconds: float = 5,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.attempts = attempts
        self.timeout_seconds = timeout_seconds
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep

    def send(self, url: str, detail: dict[str, Any]) -> int | None:
        status: int | None = None
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            request = urllib.request.Request(
                url,
                data=json.dumps(detail).encode(),
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "batch-calls-webhooks",
                    "X-Batch-Calls-Event": str(detail.get("event")),
                    "X-Batch-Calls-Event-Id": str(detail.get("eventId")),
                },
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                    response.read()
                    return response.status
            except urllib.error.HTTPError as failure:
                status = failure.code
                if failure.code < 500 and failure.code != 429:
                    break
            except (urllib.error.URLError, OSError, TimeoutError) as failure:
                status = None
                logger.warning("webhook unreachable", url=url, error=repr(failure))
        logger.warning("webhook not delivered", url=url, status=status, event=detail.get("event"))
        return status

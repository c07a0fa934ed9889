"""Event destinations: register, list and remove a tenant's own EventBridge targets, and
finish what a crash left half-made (the sweeper).

Creating one is several AWS requests, so it is done in steps that survive a crash
anywhere: the record is written first (`creating`, and an unsettled mark), then the
connection, the API destination, the rule and its target, each named after the
destination's id and harmless to repeat; only then is it `active`. A request that fails
takes away what it made; one that dies is cleaned up by the sweeper, which removes every
destination still `creating` (its client never got a 201) or `deleting` some minutes
later. Nothing is left that the unsettled marks do not lead to.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from batchcalls.adapters.event_destinations import (
    Destination,
    DestinationStore,
    EventBridgeDestinations,
)
from batchcalls.clock import Clock, to_epoch_ms, to_iso
from batchcalls.domain.event_destinations import (
    DEFAULT_AUTH_HEADER,
    MAX_DESTINATIONS_PER_TENANT,
    UNSETTLED_AFTER_MS,
    event_pattern,
    new_destination_id,
    resource_name,
)
from batchcalls.domain.public_urls import public_url_problem, url_host
from batchcalls.errors import Conflict, ErrorDetail, NotFound, ValidationFailed
from batchcalls.observability import logger, metrics


class Campaigns(Protocol):
    def exists(self, tenant_id: str, campaign_id: str) -> bool: ...


@dataclass(frozen=True)
class NewDestination:
    url: str
    auth_header_name: str | None = None
    auth_header_value: str | None = None
    events: list[str] | None = None
    batch_ids: list[str] | None = None


class EventDestinationService:
    def __init__(
        self,
        clock: Clock,
        store: DestinationStore,
        bridge: EventBridgeDestinations,
        name_prefix: str,
        campaigns: Campaigns,
        resolve: Callable[[str], list[str]],
        local_sink_url: str = "",
        limit: int = MAX_DESTINATIONS_PER_TENANT,
    ) -> None:
        self.clock = clock
        self.store = store
        self.bridge = bridge
        self.name_prefix = name_prefix
        self.campaigns = campaigns
        self.resolve = resolve
        self.local_sink_url = local_sink_url
        self.limit = limit

    # ------------------------------------------------------------------ checks
    def _problems(self, tenant_id: str, new: NewDestination) -> list[ErrorDetail]:
        problems = []
        # The local stack's sink is plain http on loopback (API.md "Local stack"); only
        # the local stack sets LOCAL_SINK_URL.
        if not (self.local_sink_url and new.url.startswith(self.local_sink_url)):
            host = url_host(new.url) if new.url.startswith("https://") else None
            problem = public_url_problem(new.url, self.resolve(host) if host else [])
            if problem:
                problems.append(ErrorDetail("url", problem))
        if new.auth_header_name and not new.auth_header_value:
            problems.append(ErrorDetail("auth_header_value", "required with auth_header_name"))
        for index, batch_id in enumerate(new.batch_ids or []):
            if not self.campaigns.exists(tenant_id, batch_id):
                problems.append(ErrorDetail(f"batch_ids.{index}", "no such campaign"))
        return problems

    # ------------------------------------------------------------------ use cases
    def create(self, tenant_id: str, new: NewDestination) -> Destination:
        problems = self._problems(tenant_id, new)
        if problems:
            raise ValidationFailed("the event destination is not valid", problems)
        now = self.clock.now()
        destination = Destination(
            tenant_id=tenant_id,
            destination_id=new_destination_id(),
            url=new.url,
            auth_header_name=new.auth_header_name or DEFAULT_AUTH_HEADER,
            events=sorted(set(new.events)) if new.events else None,
            batch_ids=sorted(set(new.batch_ids)) if new.batch_ids else None,
            status="creating",
            created_at=to_iso(now),
        )
        name = resource_name(self.name_prefix, destination.destination_id)
        # Without a value of the tenant's, a random one: EventBridge needs an auth
        # parameter on every connection.
        value = new.auth_header_value or secrets.token_urlsafe(32)
        self.store.begin(destination, self.limit, to_epoch_ms(now))
        try:
            connection = self.bridge.ensure_connection(name, destination.auth_header_name, value)
            target = self.bridge.ensure_api_destination(name, connection, destination.url)
            pattern = event_pattern(tenant_id, destination.events, destination.batch_ids)
            self.bridge.ensure_rule(name, pattern, f"event destination of {tenant_id}")
            self.bridge.ensure_target(name, target)
        except Exception:
            # (A crash is no exception: it leaves the record to the sweeper.)
            self._take_back(destination)
            raise
        if not self.store.settle_active(tenant_id, destination.destination_id, to_iso(now)):
            raise Conflict("the destination was removed while it was being created; retry")
        metrics.add_metric(name="EventDestinationsCreated", unit="Count", value=1)
        return self._get(tenant_id, destination.destination_id)

    def _take_back(self, destination: Destination) -> None:
        """What a failed create made goes; if even that fails, the sweeper finishes."""
        try:
            self.remove(destination.tenant_id, destination.destination_id)
        except Exception as error:
            logger.warning(
                "event destination left to the sweeper",
                destination_id=destination.destination_id,
                error=repr(error),
            )

    def _get(self, tenant_id: str, destination_id: str) -> Destination:
        found = self.store.get(tenant_id, destination_id)
        if found is None:
            raise NotFound("no such event destination")
        return found

    def list(self, tenant_id: str) -> list[Destination]:
        return self.store.of_tenant(tenant_id)

    def delete(self, tenant_id: str, destination_id: str) -> None:
        now = self.clock.now()
        if not self.store.begin_delete(tenant_id, destination_id, to_iso(now), to_epoch_ms(now)):
            raise NotFound("no such event destination")
        self.remove(tenant_id, destination_id)

    def remove(self, tenant_id: str, destination_id: str) -> None:
        """Its EventBridge resources, then its record: repeatable at any point."""
        self.bridge.remove(resource_name(self.name_prefix, destination_id))
        self.store.forget(tenant_id, destination_id)

    def sweep(self) -> int:
        """Remove the destinations a crash left `creating` or `deleting`."""
        before = to_epoch_ms(self.clock.now()) - UNSETTLED_AFTER_MS
        removed = 0
        for left in self.store.unsettled(before):
            logger.warning(
                "removing an event destination left unsettled",
                destination_id=left.destination_id,
            )
            self.remove(left.tenant_id, left.destination_id)
            removed += 1
        return removed

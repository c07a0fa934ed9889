"""Builds the delivery service and the publisher from a function's settings (each
handler loads its own settings model: only what it uses is in its environment)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchcalls.adapters.call_queue import SqsCallQueue
from batchcalls.adapters.events_bus import EventBus
from batchcalls.adapters.planning_queue import PlanningQueue
from batchcalls.adapters.provider_http import HttpProvider, ProviderSecret
from batchcalls.adapters.tables import bind_tables
from batchcalls.clock import current_clock
from batchcalls.services.publishing import EventPublisher
from batchcalls.settings import DeliverySettings, PublisherSettings, SweeperSettings, load_settings

if TYPE_CHECKING:
    from batchcalls.services.delivery import DeadLetters, DeliveryService


def build_publisher(settings: PublisherSettings | SweeperSettings) -> EventPublisher:
    return EventPublisher(
        EventBus(settings.event_bus_name),
        PlanningQueue(settings.planning_queue_url),
    )


def build_delivery_service(
    settings: DeliverySettings,
    publisher: EventPublisher | None = None,
    dead_letters: DeadLetters | None = None,
) -> DeliveryService:
    # Imported here: the publisher, built from this module too, never delivers (its cold
    # start skips the delivery rules; docs/benchmarks.md, "Cold start").
    from batchcalls.services.delivery import DeliveryConfig, DeliveryService

    return DeliveryService(
        clock=current_clock(),
        config=DeliveryConfig(
            provider_wide_call_limit=settings.provider_wide_call_limit,
            call_timeout_seconds=settings.call_timeout_seconds,
            public_base_url=settings.public_base_url,
            dispatch_workers=settings.dispatch_workers,
        ),
        queue=SqsCallQueue(settings.call_queue_url),
        provider=HttpProvider(
            settings.provider_url, backoff_seconds=settings.provider_retry_backoff_seconds
        ),
        publisher=publisher,
        dead_letters=dead_letters,
    )


def delivery_service_from_environment() -> DeliveryService:
    """The delivery service of a function whose environment holds `DeliverySettings`
    (the caller, the dispatcher, the provider callbacks), its tables bound."""
    settings = load_settings(DeliverySettings)
    bind_tables(settings)
    return build_delivery_service(settings)


def provider_secret(settings: DeliverySettings) -> ProviderSecret:
    return ProviderSecret(settings.provider_secret, settings.provider_secret_name)

"""Builds the delivery service from settings: what the delivery handlers share."""

from __future__ import annotations

from batchcalls.adapters.call_queue import SqsCallQueue, SqsDeadLetters
from batchcalls.adapters.events_bus import EventBus, WebhookSender
from batchcalls.adapters.provider_http import HttpProvider, ProviderSecret
from batchcalls.adapters.tables import bind_tables
from batchcalls.clock import current_clock
from batchcalls.services.delivery import DeliveryConfig, DeliveryService
from batchcalls.services.publishing import EventPublisher
from batchcalls.settings import DeliverySettings, load_settings


def delivery_settings() -> DeliverySettings:
    settings = load_settings(DeliverySettings)
    bind_tables(settings)
    return settings


def build_publisher(settings: DeliverySettings) -> EventPublisher:
    return EventPublisher(EventBus(settings.event_bus_name), WebhookSender())


def build_delivery_service(settings: DeliverySettings) -> DeliveryService:
    return DeliveryService(
        clock=current_clock(),
        config=DeliveryConfig(
            provider_wide_call_limit=settings.provider_wide_call_limit,
            call_timeout_seconds=settings.call_timeout_seconds,
            public_base_url=settings.public_base_url,
        ),
        queue=SqsCallQueue(settings.call_queue_url),
        provider=HttpProvider(
            settings.provider_url, backoff_seconds=settings.provider_retry_backoff_seconds
        ),
        publisher=build_publisher(settings),
        dead_letters=SqsDeadLetters(settings.call_dead_letter_queue_url),
    )


def provider_secret(settings: DeliverySettings) -> ProviderSecret:
    return ProviderSecret(settings.provider_secret, settings.provider_secret_name)

"""sweeper function: every five minutes, finishes what a crash or a lost message left
half-done (services/delivery/sweep.py), times out calls whose outcome never came, and
removes event destinations a crash left half-made (services/event_destinations.py)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from batchcalls.adapters.call_queue import SqsDeadLetters
from batchcalls.adapters.event_destinations import (
    DestinationStore,
    EventBridgeDestinations,
    TargetSetting,
    TenantCampaigns,
    resolve_host,
)
from batchcalls.adapters.tables import bind_tables
from batchcalls.clock import current_clock
from batchcalls.observability import logger, metrics, tracer
from batchcalls.services.delivery import DeliveryService
from batchcalls.services.delivery_wiring import build_delivery_service, build_publisher
from batchcalls.services.event_destinations import EventDestinationService
from batchcalls.settings import SweeperSettings, load_settings

_service_override: DeliveryService | None = None


def use_service(candidate: DeliveryService | None) -> None:
    """Tests may hand in their own service (e.g. with fakes)."""
    global _service_override
    _service_override = candidate


@cache
def _default_service() -> DeliveryService:
    settings = load_settings(SweeperSettings)
    bind_tables(settings)
    return build_delivery_service(
        settings,
        publisher=build_publisher(settings),
        dead_letters=SqsDeadLetters(settings.call_dead_letter_queue_url),
    )


def service() -> DeliveryService:
    return _service_override or _default_service()


@cache
def destinations() -> EventDestinationService:
    """Only removes: the bus and the names are all it needs of the destinations' setting."""
    settings = load_settings(SweeperSettings)
    bind_tables(settings)
    bridge = EventBridgeDestinations(TargetSetting(settings.event_bus_name, "", "", 0))
    return EventDestinationService(
        current_clock(),
        DestinationStore(),
        bridge,
        settings.event_destinations_prefix,
        TenantCampaigns(),
        resolve_host,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = service().sweep()
    removed = destinations().sweep()
    return {**report.__dict__, "repairs": report.repairs, "event_destinations_removed": removed}

"""dispatcher function: every minute, claims due slots and sends them to the call queue,
each delayed to its own second, and gives free places to waiting calls."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from batchcalls.observability import logger, metrics, tracer
from batchcalls.services.delivery import DeliveryService
from batchcalls.services.delivery_wiring import delivery_service_from_environment

_service_override: DeliveryService | None = None


def use_service(candidate: DeliveryService | None) -> None:
    """Tests may hand in their own service (e.g. with fakes)."""
    global _service_override
    _service_override = candidate


@cache
def _default_service() -> DeliveryService:
    return delivery_service_from_environment()


def service() -> DeliveryService:
    return _service_override or _default_service()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return service().tick(context.get_remaining_time_in_millis()).__dict__

"""planner function: plans campaigns in idempotent chunks carried by the planning queue."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchcalls.adapters.leases import LeaseStore
from batchcalls.adapters.planning_queue import PlanningQueue
from batchcalls.adapters.tables import bind_tables
from batchcalls.clock import current_clock
from batchcalls.observability import logger, metrics, tracer
from batchcalls.services.delivery_wiring import build_delivery_service
from batchcalls.services.planning import PlanningService
from batchcalls.settings import DeliverySettings, PlannerSettings, load_settings

processor = BatchProcessor(event_type=EventType.SQS)


@cache
def service() -> PlanningService:
    settings = load_settings(PlannerSettings)
    bind_tables(settings)
    delivery = build_delivery_service(load_settings(DeliverySettings))
    return PlanningService(
        current_clock(),
        PlanningQueue(settings.planning_queue_url),
        settings.chunk_size,
        rejected_numbers=LeaseStore().rejected_numbers,
        # Slots due before the next minute tick go to the call queue at once.
        on_slots_written=delivery.dispatch_soon,
        return_waiting=delivery.return_waiting,
        on_plan_done=delivery.check_completion,
    )


def handle_record(record: SQSRecord) -> None:
    service().handle(json.loads(record.body))


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )

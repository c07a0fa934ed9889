"""caller function: places due calls through the voice provider, within live-call leases.

Each SQS record is one call; a record that fails (DynamoDB unavailable) goes back to the
queue alone (ReportBatchItemFailures). A provider that does not answer is not a failure:
the call is dialled again later by a new message (services/delivery/dial.py)."""

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
from batchcalls.observability import logger, metrics, tracer
from batchcalls.services.delivery import DeliveryService
from batchcalls.services.delivery_wiring import delivery_service_from_environment

# A batch whose every record failed is still a partial response: only its records return.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
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


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> str:
    # Records of a batch are handled one after another: each dial gets what is left.
    left_ms = processor.lambda_context.get_remaining_time_in_millis()
    outcome = service().handle_call(json.loads(record.body), left_ms)
    logger.info("call message", message_id=record.message_id, outcome=outcome)
    return outcome


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )

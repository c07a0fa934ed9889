"""webhook_sender function: the webhook queue's messages, each an event the bus rule sent
for a campaign's webhook or the next attempt of a delivery; `WebhookService` signs and
POSTs it, records the attempt and plans the next (services/webhooks.py).

One message per invocation (BatchSize 1): a receiver that takes its full 10 s delays
nobody else's deliveries."""

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
from batchcalls.adapters.planning_queue import WebhookQueue
from batchcalls.adapters.tables import bind_tables
from batchcalls.adapters.webhook_http import WebhookPoster
from batchcalls.clock import current_clock
from batchcalls.observability import logger, metrics, tracer
from batchcalls.services.webhooks import WebhookService
from batchcalls.settings import WebhookSenderSettings, load_settings
from pydantic import BaseModel, Field

processor = BatchProcessor(event_type=EventType.SQS)


class BusEvent(BaseModel):
    """What the sender reads of an EventBridge event (the SQS target's body)."""

    id: str
    source: str
    detail_type: str = Field(alias="detail-type")
    resources: list[str] = []
    detail: dict[str, Any]


@cache
def service() -> WebhookService:
    settings = load_settings(WebhookSenderSettings)
    bind_tables(settings)
    return WebhookService(
        current_clock(),
        WebhookQueue(settings.webhook_queue_url),
        WebhookPoster(settings.local_sink_url, timeout_seconds=settings.webhook_timeout_seconds),
    )


def handle_record(record: SQSRecord) -> None:
    body: dict[str, Any] = json.loads(record.body)
    if "detail-type" in body:  # an event of the bus, through the webhook rule
        event = BusEvent.model_validate(body)
        service().receive({"detail": event.detail, "resources": event.resources})
    else:
        service().receive(body)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )

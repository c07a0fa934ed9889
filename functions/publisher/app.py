"""publisher function: the Outbox table's stream hands it each event whose state change
committed; it puts them on the bus (a rule there feeds the campaigns' webhooks), then forgets them.

The batch is published together (PutEvents takes ten at a time). Events the bus refused
are reported as the batch's failures (ReportBatchItemFailures: the stream retries from
the first of them); what stays unpublished after the stream's retries is published by
the sweeper."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchcalls.adapters.tables import OutboxRecord, bind_tables
from batchcalls.observability import logger, metrics, tracer
from batchcalls.services.delivery_wiring import build_publisher
from batchcalls.services.publishing import EventPublisher, NotPublished
from batchcalls.settings import PublisherSettings, load_settings


@cache
def publisher() -> EventPublisher:
    settings = load_settings(PublisherSettings)
    bind_tables(settings)
    return build_publisher(settings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=DynamoDBStreamEvent)
def lambda_handler(event: DynamoDBStreamEvent, context: LambdaContext) -> dict[str, Any]:
    items: list[tuple[str, OutboxRecord]] = []
    for record in event.records:
        image = record.raw_event.get("dynamodb", {}).get("NewImage")
        if image:  # a removal (published, or expired) has nothing to send
            sequence = str(record.raw_event["dynamodb"]["SequenceNumber"])
            items.append((sequence, OutboxRecord.from_raw_data(image)))
    try:
        publisher().publish(item for _, item in items)
    except NotPublished as refused:
        failed = set(refused.event_ids)
        return {
            "batchItemFailures": [
                {"itemIdentifier": sequence} for sequence, item in items if item.event_id in failed
            ]
        }
    return {"batchItemFailures": []}

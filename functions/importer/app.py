"""importer function: contact files dropped in the contacts bucket, from the import queue.

The queue carries S3's notifications (an object was put under `imports/`) and each
import's next chunk; both are handled by `ImportService` (services/imports.py).
"""

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
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchcalls.adapters.contact_file_bucket import ContactFileBucket
from batchcalls.adapters.import_store import ImportState
from batchcalls.adapters.planning_queue import JsonQueue
from batchcalls.adapters.tables import bind_tables
from batchcalls.clock import current_clock
from batchcalls.observability import logger, metrics, tracer
from batchcalls.services.imports import ImportService
from batchcalls.settings import ImporterSettings, load_settings

processor = BatchProcessor(event_type=EventType.SQS)


@cache
def service() -> ImportService:
    settings = load_settings(ImporterSettings)
    bind_tables(settings)
    return ImportService(
        current_clock(),
        ContactFileBucket(settings.contacts_bucket_name),
        JsonQueue(settings.import_queue_url),
        batch_rows=settings.import_batch_rows,
        chunk_rows=settings.import_chunk_rows,
        chunk_seconds=settings.import_chunk_seconds,
    )


def _objects(body: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(key as S3 sends it, version id, ETag) of each object an S3 notification reports
    created (none for S3's test event, which has no records)."""
    if not body.get("Records"):
        return []
    return [
        (record.s3.get_object.key, record.s3.get_object.version_id, record.s3.get_object.etag)
        for record in S3Event(body).records
        if record.event_name.startswith("ObjectCreated")
    ]


def handle_record(record: SQSRecord) -> None:
    body = json.loads(record.body)
    try:
        if "import_id" in body:
            service().on_next_chunk(body)
        else:
            for key, version_id, etag in _objects(body):
                service().on_object(key, version_id, etag)
    except Exception as error:
        receives = int(record.attributes.approximate_receive_count or 1)
        if receives < load_settings(ImporterSettings).import_max_receives:
            raise
        logger.exception("import given up", receives=receives)
        for state in _imports_of(body):
            service().give_up(state, f"{type(error).__name__}: {error}")


def _imports_of(body: dict[str, Any]) -> list[ImportState | None]:
    if "import_id" in body:
        return [service().import_of_chunk(body)]
    return [service().import_of_object(*found) for found in _objects(body)]


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )

"""Settings are pydantic models read from the environment on first use, then cached.

Each function declares the model it needs; the names match template.yaml's environment
variables (upper case). Nothing reads os.environ at import time.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field


class _EnvSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)


class StorageSettings(_EnvSettings):
    """The tables every function may touch; each function's IAM policy narrows it."""

    api_keys_table: str = "ApiKeys"
    campaigns_table: str = "Campaigns"
    contacts_table: str = "Contacts"
    slots_table: str = "Slots"
    coordination_table: str = "Coordination"
    outbox_table: str = "Outbox"
    aws_region: str = "us-east-1"


class ApiSettings(StorageSettings):
    idempotency_table: str = "Idempotency"
    max_body_bytes: int = 5 * 1024 * 1024
    contacts_bucket_name: str = ""
    # Where presigned URLs point when not at S3 itself (the local stack's moto server).
    contacts_bucket_url_endpoint: str = ""
    # Event destinations (template.yaml): the bus their rules are on, the prefix of their
    # resources' names, the role EventBridge invokes them with, their dead-letter queue.
    event_bus_name: str = "default"
    event_destinations_prefix: str = "batch-calls-local-"
    event_destinations_role_arn: str = ""
    event_destinations_dead_letter_arn: str = ""
    # Set by the local stack only: its webhook sink, which destinations may point at.
    local_sink_url: str = ""
    # Replays of webhook deliveries go there.
    webhook_queue_url: str = ""


class ImporterSettings(StorageSettings):
    """The importer: where files are, where each import's next chunk goes, chunk sizes."""

    contacts_bucket_name: str = ""
    import_queue_url: str = ""
    # Rows judged and written together (one commit of the import's place in the file).
    import_batch_rows: int = Field(default=2000, ge=1)
    # A chunk (one invocation) stops after this many rows or seconds, whichever first.
    import_chunk_rows: int = Field(default=500_000, ge=1)
    import_chunk_seconds: float = Field(default=90.0, gt=0)
    # The import queue's maxReceiveCount: the last delivery of a failing message ends
    # its import `failed` instead of leaving it `running`.
    import_max_receives: int = Field(default=5, ge=1)


class PlannerSettings(StorageSettings):
    planning_queue_url: str = ""
    chunk_size: int = Field(default=5000, ge=100)


class DeliverySettings(StorageSettings):
    """The dispatcher, the caller, the provider callbacks (and the planner's hand-over)."""

    call_queue_url: str = ""
    provider_url: str = "http://127.0.0.1:3001"
    provider_secret_name: str = ""
    provider_secret: str = ""
    provider_wide_call_limit: int = Field(default=100, ge=1)
    # Between the caller's requests to the provider (doubled each time; real time).
    provider_retry_backoff_seconds: float = Field(default=0.5, ge=0)
    public_base_url: str = "http://127.0.0.1:3000"
    call_timeout_seconds: int = Field(default=3600, ge=60)
    # The dispatcher's parallel requests: slot partitions read, claim transactions and
    # their sends at a time (1: one after another).
    dispatch_workers: int = Field(default=16, ge=1, le=16)


class PublisherSettings(StorageSettings):
    """Where the outbox's items go: events to the bus, the planner's requests to its queue."""

    event_bus_name: str = "default"
    planning_queue_url: str = ""


class WebhookSenderSettings(StorageSettings):
    """The webhook sender: its queue (the next attempts), and the local stack's sink."""

    webhook_queue_url: str = ""
    local_sink_url: str = ""  # set by the local stack only
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=30)


class SweeperSettings(DeliverySettings):
    """Delivery's settings, and what the sweeper alone touches: the call queue's
    dead-letter queue, and the outbox's destinations (it publishes what stays)."""

    call_dead_letter_queue_url: str = ""
    event_bus_name: str = "default"
    planning_queue_url: str = ""
    event_destinations_prefix: str = "batch-calls-local-"


S = TypeVar("S", bound=_EnvSettings)


@cache
def load_settings(model: type[S]) -> S:
    return model.from_env()


def reset_settings() -> None:
    """Forget cached settings (tests and the local stack change the environment)."""
    load_settings.cache_clear()

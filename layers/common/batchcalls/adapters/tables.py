"""pynamodb models of every table; keys and indexes mirror template.yaml (a test checks it).

Table names come from settings at first use (`bind_tables`), never at import time.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, LocalSecondaryIndex
from pynamodb.models import Model

from batchcalls.settings import StorageSettings


class ApiKeyRecord(Model):
    """An API key, stored as its SHA-256; it belongs to one tenant."""

    class Meta:
        table_name = "ApiKeys"

    key_hash = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    label = UnicodeAttribute(null=True)


class CampaignRecord(Model):
    """A campaign: its settings, status, plan version and counters (keyed by tenant)."""

    class Meta:
        table_name = "Campaigns"

    tenant_id = UnicodeAttribute(hash_key=True)
    campaign_id = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    settings = JSONAttribute()
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Contacts are numbered in the order they were added; the counter is bumped per request.
    contact_seq = NumberAttribute(default=0)
    # Every re-plan writes a new version; slots of an older version are never dialled.
    plan_version = NumberAttribute(default=0)
    planning = JSONAttribute(null=True)
    # Contacts per status, kept by atomic ADDs on every transition.
    counts: MapAttribute[str, Any] = MapAttribute(default=dict)
    rotation_offset = NumberAttribute(default=0)
    first_call_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    failure = UnicodeAttribute(null=True)


class ContactsBySeq(LocalSecondaryIndex):
    class Meta:
        index_name = "by_seq"
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)


class ContactsByStatus(LocalSecondaryIndex):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    status_seq = UnicodeAttribute(range_key=True)


class ContactRecord(Model):
    """One contact of one campaign; `pk` is tenant#campaign#shard so no campaign is one partition."""

    class Meta:
        table_name = "Contacts"

    pk = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)
    seq = NumberAttribute()
    status = UnicodeAttribute()
    status_seq = UnicodeAttribute()
    phone_number = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    variables: MapAttribute[str, str] = MapAttribute(null=True)
    timezones = ListAttribute(of=UnicodeAttribute)
    scheduled_at = NumberAttribute(null=True)  # epoch ms
    caller_id = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    last_outcome = UnicodeAttribute(null=True)
    call_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    plan_version = NumberAttribute(default=0)
    duration_seconds = NumberAttribute(null=True)
    summary = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute()

    by_seq = ContactsBySeq()
    by_status = ContactsByStatus()


class SlotRecord(Model):
    """A planned call, keyed by its due minute and a shard so no minute is one partition."""

    class Meta:
        table_name = "Slots"

    minute_shard = UnicodeAttribute(hash_key=True)
    slot_key = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    contact_id = UnicodeAttribute()
    attempt = NumberAttribute()
    plan_version = NumberAttribute()
    due_ms = NumberAttribute()
    priority = NumberAttribute()
    caller_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="planned")


class SlotMarkRecord(Model):
    """In the slots table: "this minute has slots in this shard", written before them.

    The dispatcher reads a minute's marks in one request and queries only the marked
    shards, so a minute with no calls costs no shard queries.
    """

    class Meta:
        table_name = "Slots"

    minute_shard = UnicodeAttribute(hash_key=True)  # "<minute>#marks"
    slot_key = UnicodeAttribute(range_key=True)  # the shard, "00".."09"


class CoordinationRecord(Model):
    """Small shared state: the dispatcher's watermark, live-call leases, capacity counters."""

    class Meta:
        table_name = "Coordination"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    value = NumberAttribute(default=0)
    data = JSONAttribute(null=True)
    expires_ms = NumberAttribute(null=True)


def plain_dict(value: Any) -> dict[str, Any]:
    """A raw MapAttribute as read from the table (or a dict, before the first save)."""
    if value is None:
        return {}
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)


ALL_MODELS: dict[str, type[Model]] = {
    "api_keys_table": ApiKeyRecord,
    "campaigns_table": CampaignRecord,
    "contacts_table": ContactRecord,
    "slots_table": SlotRecord,
    "coordination_table": CoordinationRecord,
}
# Models that share another model's table: the setting that names it.
SHARED_TABLE_MODELS: dict[type[Model], str] = {SlotMarkRecord: "slots_table"}


def bind_tables(settings: StorageSettings) -> None:
    """Point every model at the deployed table names (from the stack's environment)."""
    models = [*ALL_MODELS.items(), *((f, m) for m, f in SHARED_TABLE_MODELS.items())]
    for field, model in models:
        model.Meta.table_name = getattr(settings, field)
        model.Meta.region = settings.aws_region
        model._connection = None  # forget a connection made for the previous names

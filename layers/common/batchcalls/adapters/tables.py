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
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, LocalSecondaryIndex
from pynamodb.models import Model

from batchcalls.domain.analytics import DURATION_EDGES, MAX_COUNTED_ATTEMPTS, OUTCOMES
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
    # Contacts per status: not stored here (they are counters kept in the same transaction
    # as each contact's status, adapters/contact_moves); filled in by
    # `CampaignStore.with_counts` for the views.
    counts: MapAttribute[str, Any] = MapAttribute(null=True)
    # Its contact files' imports (their own items, adapters/import_store): a plain
    # attribute, never stored, filled in by `CampaignService` for the views.
    imports: list[dict[str, Any]] | None = None
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


SEQ_WIDTH = 12


def partition_key(tenant_id: str, campaign_id: str, shard: int) -> str:
    """A contact partition: `<tenant>#<campaign>#<shard>`."""
    return f"{tenant_id}#{campaign_id}#{shard:02d}"


def status_seq(status: str, seq: int) -> str:
    """The `by_status` index's sort key: contacts of a status in the order added."""
    return f"{status}#{seq:0{SEQ_WIDTH}d}"


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
    state = UnicodeAttribute(null=True)
    variables: MapAttribute[str, str] = MapAttribute(null=True)
    timezones = ListAttribute(of=UnicodeAttribute)
    # `<import id>:<line>` for a contact from a contact file: a chunk imported again
    # after a crash knows its own rows from duplicates.
    origin = UnicodeAttribute(null=True)
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
    ttl = NumberAttribute(null=True)  # set once claimed: DynamoDB removes it days later


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
    """Small shared state of delivery, planning and bookings, one item kind per key prefix.

    This is the table's canonical model (its keys mirror template.yaml); each kind of item
    has its own typed model below, sharing `pk`, `sk` and `ttl` (epoch seconds: DynamoDB
    deletes the item some time after, so what is done does not pile up)."""

    class Meta:
        table_name = "Coordination"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    ttl = NumberAttribute(null=True)


class LiveCallCount(CoordinationRecord):
    """Live calls now: `lease#count` / `provider` or `campaign#<tenant>#<campaign>`."""

    value = NumberAttribute(default=0)


class LeaseItem(CoordinationRecord):
    """One live-call place: `lease#live` / `<lease id>` (the attempt's call id).

    `reserved`: given to a waiting call, whose message is on its way to the caller;
    `live`: the call was started (the contact is in progress with `call_id`).
    Only the attempt it names may turn it live or release it."""

    tenant_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    contact_id = UnicodeAttribute()
    attempt = NumberAttribute()
    state = UnicodeAttribute()
    expires_ms = NumberAttribute()  # on the injected clock; the sweeper acts on it
    call_id = UnicodeAttribute(null=True)
    caller_id = UnicodeAttribute(null=True)
    started_ms = NumberAttribute(null=True)
    placed_ms = NumberAttribute(null=True)  # the provider accepted the call
    redial_ms = NumberAttribute(null=True)  # a message to dial it again is due then
    message = JSONAttribute(null=True)  # the call message, to dial again after a crash


class WaitingCallItem(CoordinationRecord):
    """A due call that found no free place: `waiting#<tenant>#<campaign>` /
    `<due ms>#<contact>#<attempt>`."""

    message = JSONAttribute()


class WaitingIndexItem(CoordinationRecord):
    """Campaigns with waiting calls: `waiting#index` / `<tenant>#<campaign>`."""

    value = NumberAttribute(default=0)
    priority = NumberAttribute(default=5)


class ClaimItem(CoordinationRecord):
    """A claimed call on its way through the call queue: `claims#<n>` /
    `<claim ms>#<tenant>#<campaign>#<contact>#<attempt>#<version>`."""

    message = JSONAttribute()
    sent_ms = NumberAttribute()


class WatermarkItem(CoordinationRecord):
    """`dispatcher` / `watermark`: the first minute the next tick reads (epoch ms)."""

    value = NumberAttribute()


class CallItem(CoordinationRecord):
    """`call#<call id>` / `call`: which contact and attempt a provider call id is."""

    tenant_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    contact_id = UnicodeAttribute()
    attempt = NumberAttribute()
    lease_id = UnicodeAttribute()


class RejectedNumberItem(CoordinationRecord):
    """`rejected#<tenant>#<campaign>` / `<number>`: a caller ID the provider refused."""


class CountItem(CoordinationRecord):
    """A plain counter: bookings (`bookings#<tenant>#<campaign>` / minute), calls per
    campaign day (`calls#<tenant>#<campaign>` / `day#<date>`), calls per second
    (`rate#<tenant>#<campaign>` / `<epoch second>`)."""

    value = NumberAttribute(default=0)


class ContactCountsItem(CoordinationRecord):
    """Contacts per status of one campaign shard: `counts#<tenant>#<campaign>` / `<shard>`.
    Changed in the same transaction as every contact's status (adapters/contact_counts)."""

    pending = NumberAttribute(null=True)
    scheduled = NumberAttribute(null=True)
    queued = NumberAttribute(null=True)
    in_progress = NumberAttribute(null=True)
    completed = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    cancelled = NumberAttribute(null=True)
    skipped = NumberAttribute(null=True)


def _analytics_item() -> type[CoordinationRecord]:
    """Counters of a campaign's analytics (adapters/analytics_counters): `stats#<tenant>#
    <campaign>` / `totals#<shard>` (attempts by outcome, contacts by their latest attempt
    number `attempt_<n>`, the duration histogram `dNN` counts and `sNN` sums) and
    `q#<UTC quarter hour>#<shard>` (`placed`, `completed`). Their attributes are numbered,
    so the model is built from the lists of names."""
    names = [
        *OUTCOMES,
        "placed",
        *(f"attempt_{n}" for n in range(1, MAX_COUNTED_ATTEMPTS + 1)),
        *(f"d{i:02d}" for i in range(len(DURATION_EDGES))),
        *(f"s{i:02d}" for i in range(len(DURATION_EDGES))),
    ]
    namespace: dict[str, Any] = {"__module__": __name__, "__doc__": _analytics_item.__doc__}
    namespace.update({name: NumberAttribute(null=True) for name in names})
    return type("AnalyticsItem", (CoordinationRecord,), namespace)


AnalyticsItem = _analytics_item()


class PlanProgressItem(CoordinationRecord):
    """`plan#<tenant>#<campaign>` / `<version>#<chunk>`: where a chunked plan stands."""

    data = JSONAttribute()


class ImportItem(CoordinationRecord):
    """`import#<tenant>#<campaign>` / `<import id>`: a contact file's import, where it
    stands and what it found (adapters/import_store). `version` goes up by one with every
    write, and every write is conditional on the version it read."""

    version = NumberAttribute()
    data = JSONAttribute()


class SuppressionItem(CoordinationRecord):
    """`suppressed#<tenant>` / `<E.164>`: a number the tenant must never call
    (adapters/suppressions)."""

    source = UnicodeAttribute()  # "api" | "opt_out"
    created_at = UnicodeAttribute()


class NumberCallsItem(CoordinationRecord):
    """`numbercalls#<tenant>` / `<E.164>`: start times (epoch ms) of the number's calls in
    the last 24 hours, every campaign of the tenant (adapters/number_calls)."""

    calls_ms = ListAttribute(of=NumberAttribute, default=list)
    version = NumberAttribute()


class TenantSettingsItem(CoordinationRecord):
    """`settings#<tenant>` / `settings`: the tenant's settings (`GET/PATCH /settings`)."""

    max_calls_per_number_per_24h = NumberAttribute(null=True)


class EventDestinationItem(CoordinationRecord):
    """`destinations#<tenant>` / `<destination id>`: an event destination
    (adapters/event_destinations); its auth value is kept by EventBridge, not here."""

    status = UnicodeAttribute()  # creating | active | deleting
    url = UnicodeAttribute()
    auth_header_name = UnicodeAttribute()
    events = ListAttribute(of=UnicodeAttribute, null=True)
    batch_ids = ListAttribute(of=UnicodeAttribute, null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class UnsettledDestinationItem(CoordinationRecord):
    """`destinations#unsettled` / `<tenant>#<destination id>`: a destination being created
    or deleted, written with that status; the sweeper finishes what a crash left."""

    since_ms = NumberAttribute()


class WebhookDeliveryItem(CoordinationRecord):
    """`webhooks#<tenant>#<campaign>` / `<delivery id>`: one event sent to a campaign's
    webhook, every attempt of it (adapters/webhook_store). Delivery ids begin with the
    event's time, so the partition read backwards is newest first.

    `attempts` counts attempts taken (claimed before the POST), `recorded` those whose
    result is written, `continued` those whose next message is on the queue: a message
    delivered twice finds them moved on and makes no second attempt."""

    event_id = UnicodeAttribute()
    event = UnicodeAttribute()
    url = UnicodeAttribute()
    body = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | succeeded | failed
    attempts = NumberAttribute(default=0)
    recorded = NumberAttribute(default=0)
    continued = NumberAttribute(default=0)
    round_start = NumberAttribute(default=0)  # attempts before the last replay
    next_attempt_ms = NumberAttribute(null=True)
    claimed_ms = NumberAttribute(null=True)
    last_status_code = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    last_attempt_at = UnicodeAttribute(null=True)
    log = JSONAttribute(default=list)  # [{at, status_code, latency_ms, error}]
    created_ms = NumberAttribute()


class WebhookCountsItem(CoordinationRecord):
    """`webhookcounts#<tenant>#<campaign>` / `counts`: attempts sent, and deliveries by
    status, changed in the same transaction as the delivery items."""

    sent = NumberAttribute(default=0)
    succeeded = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    pending = NumberAttribute(default=0)


class WebhookSecretItem(CoordinationRecord):
    """`webhooksecret#<tenant>` / `secret`: the tenant's webhook signing secret, and the
    one it replaced while it still signs (`previous_valid_until_ms`)."""

    secret = UnicodeAttribute()
    previous = UnicodeAttribute(null=True)
    previous_valid_until_ms = NumberAttribute(null=True)
    created_at = UnicodeAttribute()


class RecheckItem(CoordinationRecord):
    """`recheck` / `<minute>#<shard>`: a slot partition the dispatcher read while a planner
    was between writing its slots and moving their contacts; read again by the sweeper."""


class OutboxRecord(Model):
    """An event (or a command for the planner) whose state change committed, written in
    the same transaction, waiting for the publisher to send it on. `pk` is
    `outbox#<shard>`, `sk` its id; the publisher deletes it once sent."""

    class Meta:
        table_name = "Outbox"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    event_id = UnicodeAttribute()
    kind = UnicodeAttribute(default="event")  # "event" (to the bus) or "command" (planner)
    tenant_id = UnicodeAttribute(null=True)  # whose event (null: items written before it)
    detail = JSONAttribute()
    webhook_url = UnicodeAttribute(null=True)
    created_ms = NumberAttribute()
    written_ns = NumberAttribute(null=True)
    ttl = NumberAttribute(null=True)


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
    "outbox_table": OutboxRecord,
}
# Models that share another model's table: the setting that names it.
SHARED_TABLE_MODELS: dict[type[Model], str] = {
    SlotMarkRecord: "slots_table",
    **{
        model: "coordination_table"
        for model in (
            LiveCallCount,
            LeaseItem,
            WaitingCallItem,
            WaitingIndexItem,
            ClaimItem,
            WatermarkItem,
            CallItem,
            RejectedNumberItem,
            CountItem,
            ContactCountsItem,
            AnalyticsItem,
            PlanProgressItem,
            ImportItem,
            SuppressionItem,
            NumberCallsItem,
            TenantSettingsItem,
            EventDestinationItem,
            UnsettledDestinationItem,
            RecheckItem,
            WebhookDeliveryItem,
            WebhookCountsItem,
            WebhookSecretItem,
        )
    },
}


def bind_tables(settings: StorageSettings) -> None:
    """Point every model at the deployed table names (from the stack's environment)."""
    models = [*ALL_MODELS.items(), *((f, m) for m, f in SHARED_TABLE_MODELS.items())]
    for field, model in models:
        model.Meta.table_name = getattr(settings, field)
        model.Meta.region = settings.aws_region
        model._connection = None  # forget a connection made for the previous names
    # One connection (one botocore client, thread-safe) for every model: pynamodb makes one
    # per model class, and each new client parses the DynamoDB service model again.
    shared: Connection | None = None
    for _, model in models:
        own = model._get_connection()
        if shared is None:
            shared = own.connection
            continue
        table_name = model.Meta.table_name
        if table_name not in shared._tables:
            shared.add_meta_table(own.connection.get_meta_table(table_name))
        own.connection = shared

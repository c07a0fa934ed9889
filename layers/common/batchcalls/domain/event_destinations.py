"""Event destinations: a tenant's own HTTPS endpoint as an EventBridge target (API.md
"Endpoints", `/event-destinations`). What a destination is made of, named and matched.

Each destination is four EventBridge resources named after its id, so that a step can be
repeated and whatever a crash left behind can be found from the id alone:
a connection (the auth header), an API destination (the URL, a rate limit), a rule on the
deployment's bus (the tenant's events, optionally of some types and campaigns) and the
rule's one target (retry policy, dead-letter queue).
"""

from __future__ import annotations

import secrets
from typing import Any

# Every event the bus carries (API.md "Events"; docs/events.md).
EVENT_NAMES = (
    "call.completed",
    "batch.completed",
    "batch.failed",
    "campaign.status_changed",
    "import.completed",
    "import.failed",
)
SOURCE = "batch-calls"
TENANT_RESOURCE_PREFIX = "tenant/"  # how the publisher names an event's tenant on the bus

# Per tenant; the account-wide EventBridge quotas behind it are in docs/events.md.
MAX_DESTINATIONS_PER_TENANT = 10
MAX_BATCH_IDS = 100
# Requests per second EventBridge sends one destination (its own default is 300).
INVOCATION_RATE_PER_SECOND = 10
# EventBridge's maximum: retried for 24 hours (185 attempts), then the dead-letter queue.
RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86_400}
TARGET_ID = "destination"
# A connection needs an API key; a destination registered without one gets this header
# with a random value, which the receiver may ignore.
DEFAULT_AUTH_HEADER = "x-batch-calls-destination"
# A destination still `creating` or `deleting` this long after its request ended (the API
# function's timeout is 30 s) was left by a crash: the sweeper removes what exists of it.
UNSETTLED_AFTER_MS = 5 * 60_000

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
STATUSES = ("creating", "active", "deleting")


def new_destination_id() -> str:
    """`dest_` and 16 random characters (80 bits)."""
    number = secrets.randbits(80)
    chars = []
    for _ in range(16):
        number, rest = divmod(number, 32)
        chars.append(_ALPHABET[rest])
    return "dest_" + "".join(chars)


def is_destination_id(value: str) -> bool:
    return len(value) == 21 and value.startswith("dest_") and all(c in _ALPHABET for c in value[5:])


def resource_name(prefix: str, destination_id: str) -> str:
    """The one name of the connection, the API destination and the rule (each kind has
    its own namespace), e.g. `batch-calls-prod-dest_0h3k...`: at most 64 characters."""
    name = f"{prefix}{destination_id}"
    if len(name) > 64:
        raise ValueError(f"{name!r}: EventBridge names are at most 64 characters")
    return name


def event_pattern(
    tenant_id: str, events: list[str] | None, batch_ids: list[str] | None
) -> dict[str, Any]:
    """The rule's pattern: the tenant's events (named in the entry's `resources`), of the
    given types and campaigns when given."""
    pattern: dict[str, Any] = {
        "source": [SOURCE],
        "resources": [TENANT_RESOURCE_PREFIX + tenant_id],
    }
    if events:
        pattern["detail-type"] = sorted(set(events))
    if batch_ids:
        pattern["detail"] = {"batchId": sorted(set(batch_ids))}
    return pattern

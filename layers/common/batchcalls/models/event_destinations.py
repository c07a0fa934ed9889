"""Bodies of `/event-destinations` (API.md "Endpoints"), for validation and the OpenAPI
document. The URL's address rules are checked by the service (they need the name
resolved)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, StrictStr

from batchcalls.models.base import ApiModel
from batchcalls.models.responses import Answer

EventName = Literal[
    "call.completed",
    "batch.completed",
    "batch.failed",
    "campaign.status_changed",
    "import.completed",
    "import.failed",
]
# Headers HTTP or EventBridge set themselves.
RESERVED_HEADERS = {
    "host",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "transfer-encoding",
    "expect",
    "te",
    "upgrade",
    "trailer",
}


def _header_name(value: str) -> str:
    lowered = value.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(("x-amz-", "x-amzn-")):
        raise ValueError(f"{value} is set by HTTP or EventBridge; choose another header")
    return value


HeaderName = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        description="A header name (RFC 9110 token), not one HTTP or EventBridge sets.",
    ),
    AfterValidator(_header_name),
]
HeaderValue = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=512,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Kept by EventBridge (in Secrets Manager); never shown again.",
    ),
]
BatchId = Annotated[StrictStr, Field(pattern=r"^batch_[0-9a-z]{18}$")]


class CreateEventDestinationRequest(ApiModel):
    """A tenant's HTTPS endpoint that receives the `detail` of every matching event."""

    schema_examples: ClassVar[list[dict[str, Any]]] = [
        {
            "url": "https://hooks.example.com/batch-calls",
            "auth_header_name": "x-api-key",
            "auth_header_value": "s3cr3t-value-for-my-receiver",
            "events": ["call.completed", "batch.completed"],
        }
    ]

    url: StrictStr = Field(
        max_length=2048,
        description="`https`, reaching a public address (the local stack's sink excepted).",
    )
    auth_header_name: HeaderName | None = Field(
        default=None,
        description="Header EventBridge sends with every request; with auth_header_value. "
        "Neither given: `x-batch-calls-destination` with a random value.",
    )
    auth_header_value: HeaderValue | None = None
    events: list[EventName] | None = Field(
        default=None,
        min_length=1,
        max_length=6,
        description="Only these events; none given: every event of the tenant.",
    )
    batch_ids: list[BatchId] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Only the events of these campaigns (each one of the tenant's); none "
        "given: every campaign's, also those created later.",
    )


class EventDestination(Answer):
    id: str = Field(description="`dest_...`")
    url: str
    auth_header_name: str = Field(description="The header sent; its value is never shown.")
    events: list[EventName] | None = Field(description="null: every event.")
    batch_ids: list[str] | None = Field(description="null: every campaign.")
    status: Literal["creating", "active", "deleting"] = Field(
        description="`creating` or `deleting` only while a request is at work (or, after a "
        "crash, until the sweeper removes it some minutes later)."
    )
    created_at: str


class EventDestinationPage(Answer):
    items: list[EventDestination]
    next_cursor: str | None = Field(description="Always null: a tenant has at most 10.")

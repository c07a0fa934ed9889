"""api function: the public HTTP API of campaigns and contacts (API.md "Endpoints")."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchcalls.adapters.api_keys import tenant_for_key
from batchcalls.adapters.contact_file_bucket import ContactFileBucket
from batchcalls.adapters.event_destinations import (
    DestinationStore,
    EventBridgeDestinations,
    TargetSetting,
    TenantCampaigns,
    resolve_host,
)
from batchcalls.adapters.number_calls import TenantSettingsStore
from batchcalls.adapters.planning_queue import WebhookQueue
from batchcalls.adapters.tables import bind_tables
from batchcalls.adapters.webhook_store import delivery_view, secret_view
from batchcalls.clock import current_clock, to_epoch_ms
from batchcalls.domain.event_destinations import INVOCATION_RATE_PER_SECOND, is_destination_id
from batchcalls.errors import DomainError, ErrorBody, ErrorDetail, NotFound, ValidationFailed
from batchcalls.models.campaign import (
    AddContactsRequest,
    CampaignStatus,
    ContactFileRequest,
    CreateCampaignRequest,
    PatchCampaignRequest,
    PreviewRequest,
    SuppressRequest,
    TenantSettingsRequest,
)
from batchcalls.models.event_destinations import (
    CreateEventDestinationRequest,
    EventDestination,
    EventDestinationPage,
)
from batchcalls.models.json_body import parse_json_body
from batchcalls.models.provider import OutcomeRecorded, ProviderOutcome
from batchcalls.models.responses import (
    ERROR_CODES,
    Campaign,
    CampaignAnalytics,
    CampaignPage,
    Contact,
    ContactFileUpload,
    ContactImportDetail,
    ContactPage,
    ContactsReport,
    CreatedCampaign,
    ErrorResponse,
    PlanPreview,
    ReplayAccepted,
    SuppressionPage,
    SuppressionsReport,
    TenantSettings,
    WebhookDeliveryPage,
    WebhookSecret,
)
from batchcalls.models.views import campaign_view, contact_view
from batchcalls.observability import logger, metrics, tracer
from batchcalls.services.analytics import AnalyticsService
from batchcalls.services.campaigns import CampaignService
from batchcalls.services.event_destinations import EventDestinationService, NewDestination
from batchcalls.services.imports import ImportService
from batchcalls.services.suppressions import SuppressionService
from batchcalls.services.webhooks import WebhookService, WebhookUrls
from batchcalls.settings import ApiSettings, load_settings
from pydantic import BaseModel

ContactStatus = Annotated[
    str,
    Query(
        pattern="^(pending|scheduled|queued|in_progress|completed|failed|cancelled|skipped)$",
        description="Only contacts in this status.",
    ),
]
ContactReason = Annotated[
    str,
    Query(
        min_length=1,
        max_length=100,
        description="Only contacts a rule skipped or moved for this reason (`suppressed`, "
        "`no_allowed_window`, `opt_out`...).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size, 1..1000.")]
Cursor = Annotated[
    str | None, Query(max_length=2000, description="`next_cursor` of the page before.")
]

HTTP_STATUS = {"not_found": 404, "conflict": 409, "validation_error": 422}
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

# Ids the API hands out; anything else is unknown (404) without a DynamoDB request (whose
# key size limits a long id would break).
_CAMPAIGN_ID = re.compile(r"batch_[0-9a-z]{18}")
_CONTACT_ID = re.compile(r"ct_[0-9a-z]{16}")

app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)
_methods_by_path: dict[str, set[str]] = {}


KEY_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]


def _security_schemes() -> dict[str, Any]:
    """The document's security schemes. Powertools' OpenAPI models are imported only
    when the document is written: they are most of this handler's cold start otherwise
    (docs/benchmarks.md, "Cold start")."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

    return {
        "bearerAuth": HTTPBearer(description="`Authorization: Bearer <api key>`"),
        "apiKeyAuth": APIKey(name="x-api-key", **{"in": APIKeyIn.header}),
        "providerSignature": APIKey(
            name="X-Signature",
            **{"in": APIKeyIn.header},
            description='`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the '
            "provider secret>`; older than 300 s or not matching is a 401.",
        ),
    }


def documented(
    success: int, model: type[BaseModel] | None, description: str, errors: tuple[int, ...]
) -> dict[int, OpenAPIResponse]:
    """The responses of an operation: its success and each error that can happen (401
    and 413 can happen on every operation: they are decided before routing)."""
    content: dict[str, Any] = {"application/json": {"model": model}} if model else {}
    responses: dict[int, OpenAPIResponse] = {
        success: {"description": description, "content": content}
    }
    for status in sorted({*errors, 401, 413}):
        responses[status] = {
            "description": ERROR_CODES[status],
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return responses


def route(
    method: str,
    path: str,
    success: int,
    model: type[BaseModel] | None,
    answer: str,
    errors: tuple[int, ...],
    **kwargs: Any,
):
    """Register a documented, key-protected route and remember its method, so other
    methods answer 405."""
    _methods_by_path.setdefault(path, set()).add(method)
    return app.route(
        path,
        method=method,
        status_code=success,
        responses=documented(success, model, answer, errors),
        security=KEY_SECURITY,
        **kwargs,
    )


@cache
def _settings() -> ApiSettings:
    settings = load_settings(ApiSettings)
    bind_tables(settings)
    return settings


_service_override: CampaignService | None = None


def service() -> CampaignService:
    if _service_override is not None:
        return _service_override
    return _default_service()


@cache
def _default_service() -> CampaignService:
    settings = _settings()  # binds the tables
    return CampaignService(current_clock(), webhook_urls=WebhookUrls(settings.local_sink_url))


@cache
def analytics_service() -> AnalyticsService:
    _settings()  # binds the tables
    return AnalyticsService()


@cache
def import_service() -> ImportService:
    settings = _settings()
    bucket = ContactFileBucket(
        settings.contacts_bucket_name, url_endpoint=settings.contacts_bucket_url_endpoint
    )
    return ImportService(current_clock(), bucket)


def use_service(candidate: CampaignService | None) -> None:
    """Tests and the local stack may hand in their own service (e.g. with fakes)."""
    global _service_override
    _service_override = candidate


def tenant() -> str:
    return app.context["tenant_id"]


def campaign_ref(campaign_id: str) -> str:
    if not _CAMPAIGN_ID.fullmatch(campaign_id):
        raise NotFound("no such campaign")
    return campaign_id


def contact_ref(contact_id: str) -> str:
    if not _CONTACT_ID.fullmatch(contact_id):
        raise NotFound("no such contact")
    return contact_id


def error_response(
    status: int, code: str, message: str, details: list[ErrorDetail] | None = None
) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(ErrorBody(code, message, details or []).as_dict()),
    )


def json_response(status: int, body: Any) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body)
    )


# ---------------------------------------------------------------------- errors, once
@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response[Any]:
    problems = error.errors()
    for problem in problems:
        if problem.get("type") == "json_invalid":
            reason = str((problem.get("ctx") or {}).get("error") or "")
            message = "the body is not valid JSON" + (f": {reason}" if reason else "")
            return error_response(400, "invalid_json", message)
    details = []
    for problem in problems:
        loc = [
            str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path")
        ]
        # Drop pydantic's union/model wrapper names so the field path reads as the client sent it.
        loc = [part for part in loc if not part.startswith(("function-after", "constrained-"))]
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        details.append(ErrorDetail(".".join(loc) or "body", message))
    return error_response(422, "validation_error", "the request is not valid", details)


@app.exception_handler(DomainError)
def _domain_error(error: DomainError) -> Response[Any]:
    return error_response(
        HTTP_STATUS.get(error.code, 400), error.code, error.message, error.details
    )


@app.exception_handler(IdempotencyValidationError)
def _idempotency_mismatch(_: IdempotencyValidationError) -> Response[Any]:
    return error_response(
        422,
        "validation_error",
        "this Idempotency-Key was used with another body",
        [ErrorDetail("Idempotency-Key", "already used with a different body")],
    )


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _idempotency_in_progress(_: IdempotencyAlreadyInProgressError) -> Response[Any]:
    return error_response(
        409, "conflict", "a request with this Idempotency-Key is still in progress"
    )


@app.not_found
def _not_found(_: NotFoundError) -> Response[Any]:
    # A known path with a method no route takes (even one outside ALL_METHODS) is a 405.
    path = app.current_event.path
    if any(pattern.fullmatch(path) for pattern in _path_patterns()):
        return _method_not_allowed()
    return error_response(404, "not_found", "no such resource")


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response[Any]:
    # Last resort: still the contract's error shape. Every known bad input is a 4xx
    # before it gets here (tests/integration/test_bad_inputs.py).
    logger.exception("unexpected error", error_type=type(error).__name__)
    return error_response(500, "internal_error", "something went wrong on our side")


# ---------------------------------------------------------------------- campaigns
def _created_campaign(request: CreateCampaignRequest) -> dict[str, Any]:
    record, report = service().create(tenant(), request)
    body = campaign_view(record if report is None else service().get(tenant(), record.campaign_id))
    if report is not None:
        body["contacts_report"] = report.as_dict()
    return body


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Makes a retried create safe (scoped to the tenant, 24 h).",
    ),
]


def _once(
    key: str | None, body: dict[str, Any], make: Callable[[], dict[str, Any]], kind: str = ""
) -> Any:
    """`make()`'s answer, or with an Idempotency-Key the first answer given to that key
    and body (API.md "Conventions"); the same key with another body is a 422. `kind`
    tells apart the creates that share the tenant's keys."""
    if not key:
        return make()
    if len(key) > 255:
        raise ValidationFailed(
            "the request is not valid", [ErrorDetail("Idempotency-Key", "at most 255 characters")]
        )
    settings = _settings()
    config = IdempotencyConfig(
        event_key_jmespath="[tenant, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=24 * 3600,
    )
    config.register_lambda_context(app.lambda_context)
    once = idempotent_function(
        data_keyword_argument="scope",
        config=config,
        persistence_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
    )(lambda scope: make())
    return once(scope={"tenant": tenant(), "key": kind + key, "body": body})


@route(
    "POST",
    "/batch-calls",
    201,
    CreatedCampaign,
    "Created: a draft, or validated and being planned",
    (400, 409, 422),
    summary="Create a campaign",
    description='Without `"status": "draft"` the campaign is validated (agent, outbound '
    "numbers, at least one contact) and planned at once: `immediate` becomes `active`, "
    "`scheduled` becomes `scheduled`. Contacts are judged row by row (`contacts_report`). "
    "An `Idempotency-Key` header (at most 255 characters) makes a retry return the first "
    "answer for 24 hours; the same key with another body is a 422.",
    tags=["campaigns"],
)
def create_campaign(
    request: Annotated[CreateCampaignRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[Any]:
    body = _once(
        idempotency_key, request.model_dump(mode="json"), lambda: _created_campaign(request)
    )
    return json_response(201, body)


@route(
    "GET",
    "/batch-calls",
    200,
    CampaignPage,
    "A page of campaigns, newest first",
    (400, 422),
    summary="List campaigns",
    tags=["campaigns"],
)
def list_campaigns(
    status: Annotated[CampaignStatus | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    page = service().list_campaigns(tenant(), status, tag, limit, cursor)
    return {"items": [campaign_view(r) for r in page.items], "next_cursor": page.next_cursor}


@route(
    "GET",
    "/batch-calls/<campaign_id>",
    200,
    Campaign,
    "The campaign with its contact counts",
    (404,),
    summary="Get a campaign",
    tags=["campaigns"],
)
def get_campaign(campaign_id: str) -> dict[str, Any]:
    return campaign_view(service().get(tenant(), campaign_ref(campaign_id)))


@route(
    "PATCH",
    "/batch-calls/<campaign_id>",
    200,
    Campaign,
    "The campaign as changed",
    (400, 404, 409, 422),
    summary="Change a campaign",
    description="Only the fields given change; `null` clears one. In `scheduled`, `active` "
    "or `paused`, a change of a scheduling field re-plans the contacts not yet queued.",
    tags=["campaigns"],
)
def patch_campaign(
    campaign_id: str, changes: Annotated[PatchCampaignRequest, Body()]
) -> dict[str, Any]:
    return campaign_view(service().patch(tenant(), campaign_ref(campaign_id), changes))


@route(
    "DELETE",
    "/batch-calls/<campaign_id>",
    204,
    None,
    "Deleted",
    (404, 409),
    summary="Delete a draft",
    tags=["campaigns"],
)
def delete_campaign(campaign_id: str) -> Response[Any]:
    service().delete(tenant(), campaign_ref(campaign_id))
    return Response(status_code=204, body="")


def _control(action: str, campaign_id: str) -> Response[Any]:
    record = getattr(service(), action)(tenant(), campaign_ref(campaign_id))
    body = campaign_view(record)
    return json_response(202 if action in ("schedule", "resume") else 200, body)


@route(
    "POST",
    "/batch-calls/<campaign_id>/schedule",
    202,
    Campaign,
    "Validated; planning goes on in the background (`planning`)",
    (404, 409, 422),
    summary="Schedule a draft",
    tags=["campaigns"],
)
def schedule_campaign(campaign_id: str) -> Response[Any]:
    return _control("schedule", campaign_id)


@route(
    "POST",
    "/batch-calls/<campaign_id>/pause",
    200,
    Campaign,
    "Paused: no call not yet dialled is placed",
    (404, 409),
    summary="Pause",
    tags=["campaigns"],
)
def pause_campaign(campaign_id: str) -> Response[Any]:
    return _control("pause", campaign_id)


@route(
    "POST",
    "/batch-calls/<campaign_id>/resume",
    202,
    Campaign,
    "Resumed; what fell due while paused is re-planned",
    (404, 409),
    summary="Resume",
    tags=["campaigns"],
)
def resume_campaign(campaign_id: str) -> Response[Any]:
    return _control("resume", campaign_id)


@route(
    "POST",
    "/batch-calls/<campaign_id>/cancel",
    200,
    Campaign,
    "Cancelled, with every call not yet dialled",
    (404, 409),
    summary="Cancel",
    tags=["campaigns"],
)
def cancel_campaign(campaign_id: str) -> Response[Any]:
    return _control("cancel", campaign_id)


@route(
    "POST",
    "/batch-calls/<campaign_id>/preview",
    200,
    PlanPreview,
    "What planning the campaign now would do; nothing is written",
    (400, 404, 422),
    summary="Preview the plan",
    description="With no body (or `{}`), the campaign's own settings; with settings in the "
    "body, those instead (as a PATCH would set them). Every rule planning applies is "
    "applied: the window, working days, blackout dates and holiday calendars, the caps and "
    "rate, the legal-hours guard, state rules and the do-not-call list. The answer is the "
    "plan that scheduling (or re-planning) at this moment would make.",
    tags=["campaigns"],
)
def preview_campaign(
    campaign_id: str, request: Annotated[PreviewRequest | None, Body()] = None
) -> dict[str, Any]:
    return service().preview(tenant(), campaign_ref(campaign_id), request)


@route(
    "GET",
    "/batch-calls/<campaign_id>/analytics",
    200,
    CampaignAnalytics,
    "The campaign's figures",
    (404,),
    summary="Campaign analytics",
    description="Contacts by status, attempts by outcome and per contact, the answer rate, "
    "call durations (mean, p50, p95 from a fixed histogram), calls planned, placed and "
    "completed per local day and hour of the campaign's timezone, the finish estimate and "
    "webhook delivery counts. Answered from counters kept as calls happen, never from a "
    "read of the contacts.",
    tags=["campaigns"],
)
def campaign_analytics(campaign_id: str) -> dict[str, Any]:
    return analytics_service().of(tenant(), campaign_ref(campaign_id))


# ---------------------------------------------------------------------- contacts
@route(
    "POST",
    "/batch-calls/<campaign_id>/contacts",
    200,
    ContactsReport,
    "How the rows were judged; accepted ones are stored (and planned if the campaign is)",
    (400, 404, 409, 422),
    summary="Add contacts",
    tags=["contacts"],
)
def add_contacts(
    campaign_id: str, request: Annotated[AddContactsRequest, Body()]
) -> dict[str, Any]:
    return service().add_contacts(tenant(), campaign_ref(campaign_id), request.contacts).as_dict()


@route(
    "GET",
    "/batch-calls/<campaign_id>/contacts",
    200,
    ContactPage,
    "A page of contacts in the order they were added",
    (400, 404, 422),
    summary="List contacts",
    tags=["contacts"],
)
def list_contacts(
    campaign_id: str,
    status: ContactStatus | None = None,
    reason: ContactReason | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    campaign, page = service().list_contacts(
        tenant(), campaign_ref(campaign_id), status, limit, cursor, reason
    )
    timezone = campaign.settings["timezone"]
    return {
        "items": [contact_view(c, timezone) for c in page.items],
        "next_cursor": page.next_cursor,
    }


@route(
    "GET",
    "/batch-calls/<campaign_id>/contacts/<contact_id>",
    200,
    Contact,
    "The contact",
    (404,),
    summary="Get a contact",
    tags=["contacts"],
)
def get_contact(campaign_id: str, contact_id: str) -> dict[str, Any]:
    campaign, contact = service().get_contact(
        tenant(), campaign_ref(campaign_id), contact_ref(contact_id)
    )
    return contact_view(contact, campaign.settings["timezone"])


@route(
    "DELETE",
    "/batch-calls/<campaign_id>/contacts/<contact_id>",
    200,
    Contact,
    "The contact, now `cancelled`",
    (404, 409),
    summary="Cancel a contact not yet queued",
    tags=["contacts"],
)
def cancel_contact(campaign_id: str, contact_id: str) -> dict[str, Any]:
    campaign, contact = service().cancel_contact(
        tenant(), campaign_ref(campaign_id), contact_ref(contact_id)
    )
    return contact_view(contact, campaign.settings["timezone"])


# ---------------------------------------------------------------------- contact files
@route(
    "POST",
    "/batch-calls/<campaign_id>/contact-files",
    201,
    ContactFileUpload,
    "A pending import and a presigned PUT (15 minutes) for exactly its key",
    (400, 404, 409, 422),
    summary="Upload a contact file",
    description="PUT the file's bytes to `upload_url` (no other header needed); the import "
    "starts when the file arrives and shows in the campaign's `imports` and at "
    "`GET .../imports/{import_id}`. CSV with a header row or JSONL, optionally gzipped: "
    'see the README\'s "Contact files".',
    tags=["contacts"],
)
def create_contact_file(
    campaign_id: str, request: Annotated[ContactFileRequest, Body()]
) -> dict[str, Any]:
    return import_service().start_upload(
        tenant(), campaign_ref(campaign_id), request.filename, request.default_region
    )


@route(
    "GET",
    "/batch-calls/<campaign_id>/imports/<import_id>",
    200,
    ContactImportDetail,
    "The import: status, counts, and its error report (key and a presigned GET)",
    (404,),
    summary="Get an import",
    tags=["contacts"],
)
def get_import(campaign_id: str, import_id: str) -> dict[str, Any]:
    return import_service().get(tenant(), campaign_ref(campaign_id), import_id)


# ---------------------------------------------------------------------- do-not-call list
@cache
def suppression_service() -> SuppressionService:
    _settings()  # binds the tables
    return SuppressionService(current_clock())


@route(
    "POST",
    "/suppressions",
    200,
    SuppressionsReport,
    "How the numbers were judged; the valid ones are on the list",
    (400, 422),
    summary="Suppress numbers",
    description="Up to 10,000 numbers per request. A suppressed number is never called by "
    "any campaign of the tenant: skipped at planning, and checked again in the very step "
    "that starts a call (a call whose check cannot be made is not placed).",
    tags=["suppressions"],
)
def suppress_numbers(request: Annotated[SuppressRequest, Body()]) -> dict[str, Any]:
    return suppression_service().add(tenant(), request.phone_numbers).as_dict()


@route(
    "GET",
    "/suppressions",
    200,
    SuppressionPage,
    "A page of the tenant's suppressed numbers, in number order",
    (400, 422),
    summary="List suppressed numbers",
    tags=["suppressions"],
)
def list_suppressions(limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    page = suppression_service().page(tenant(), limit, cursor)
    return {"items": [s.view() for s in page.items], "next_cursor": page.next_cursor}


@route(
    "DELETE",
    "/suppressions/<phone_number>",
    204,
    None,
    "Taken off the list (contacts skipped for it stay skipped)",
    (404,),
    summary="Call a number again",
    tags=["suppressions"],
)
def unsuppress_number(phone_number: str) -> Response[Any]:
    suppression_service().remove(tenant(), unquote(phone_number))
    return Response(status_code=204, body="")


# ---------------------------------------------------------------------- tenant settings
@cache
def tenant_settings() -> TenantSettingsStore:
    _settings()  # binds the tables
    return TenantSettingsStore()


@route(
    "GET",
    "/settings",
    200,
    TenantSettings,
    "The tenant's settings",
    (),
    summary="Get the tenant's settings",
    tags=["settings"],
)
def get_tenant_settings() -> dict[str, Any]:
    return tenant_settings().get(tenant())


@route(
    "PATCH",
    "/settings",
    200,
    TenantSettings,
    "The tenant's settings, changed",
    (400, 422),
    summary="Change the tenant's settings",
    description="Applies to every call dialled from now on, in every campaign of the tenant.",
    tags=["settings"],
)
def patch_tenant_settings(request: Annotated[TenantSettingsRequest, Body()]) -> dict[str, Any]:
    current = tenant_settings().get(tenant())
    changed = {**current, **{name: getattr(request, name) for name in request.model_fields_set}}
    tenant_settings().save(tenant(), changed)
    return changed


# ---------------------------------------------------------------------- event destinations
_destination_service_override: EventDestinationService | None = None


def use_destination_service(candidate: EventDestinationService | None) -> None:
    """Tests may hand in a service with fakes (e.g. an EventBridge that fails midway)."""
    global _destination_service_override
    _destination_service_override = candidate


def destination_service() -> EventDestinationService:
    if _destination_service_override is not None:
        return _destination_service_override
    return _default_destination_service()


@cache
def _default_destination_service() -> EventDestinationService:
    settings = _settings()
    bridge = EventBridgeDestinations(
        TargetSetting(
            bus_name=settings.event_bus_name,
            role_arn=settings.event_destinations_role_arn,
            dead_letter_arn=settings.event_destinations_dead_letter_arn,
            rate_per_second=INVOCATION_RATE_PER_SECOND,
        )
    )
    return EventDestinationService(
        current_clock(),
        DestinationStore(),
        bridge,
        settings.event_destinations_prefix,
        TenantCampaigns(),
        resolve_host,
        local_sink_url=settings.local_sink_url,
    )


def destination_ref(destination_id: str) -> str:
    if not is_destination_id(destination_id):
        raise NotFound("no such event destination")
    return destination_id


@route(
    "POST",
    "/event-destinations",
    201,
    EventDestination,
    "Created: the connection, API destination and rule exist (`active`)",
    (400, 409, 422),
    summary="Register an event destination",
    description="An HTTPS endpoint of the tenant becomes an EventBridge target: every event "
    "of the tenant (or of the given `events` and `batch_ids`) is POSTed to it as its "
    "`detail`, with the auth header, retried by EventBridge for 24 hours, then kept in a "
    "dead-letter queue. At most 10 per tenant (409); 409 too when the deployment's "
    "EventBridge quota is reached. An `Idempotency-Key` header makes a retry return the "
    'first answer for 24 hours. See the README\'s "Event destinations".',
    tags=["events"],
)
def create_event_destination(
    request: Annotated[CreateEventDestinationRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[Any]:
    def create() -> dict[str, Any]:
        new = NewDestination(
            url=request.url,
            auth_header_name=request.auth_header_name,
            auth_header_value=request.auth_header_value,
            events=list(request.events) if request.events else None,
            batch_ids=list(request.batch_ids) if request.batch_ids else None,
        )
        return destination_service().create(tenant(), new).view()

    body = request.model_dump(mode="json")
    return json_response(201, _once(idempotency_key, body, create, "event-destinations:"))


@route(
    "GET",
    "/event-destinations",
    200,
    EventDestinationPage,
    "The tenant's event destinations, oldest first (auth values are never shown)",
    (),
    summary="List event destinations",
    tags=["events"],
)
def list_event_destinations() -> dict[str, Any]:
    found = destination_service().list(tenant())
    return {"items": [d.view() for d in found], "next_cursor": None}


@route(
    "DELETE",
    "/event-destinations/<destination_id>",
    204,
    None,
    "Deleted: its target, rule, API destination and connection are gone",
    (404,),
    summary="Delete an event destination",
    tags=["events"],
)
def delete_event_destination(destination_id: str) -> Response[Any]:
    destination_service().delete(tenant(), destination_ref(destination_id))
    return Response(status_code=204, body="")


# ---------------------------------------------------------------------- webhooks
DeliveryStatus = Annotated[
    str,
    Query(pattern="^(pending|succeeded|failed)$", description="Only deliveries in this status."),
]


@cache
def webhook_service() -> WebhookService:
    settings = _settings()  # binds the tables
    return WebhookService(current_clock(), WebhookQueue(settings.webhook_queue_url))


@route(
    "GET",
    "/batch-calls/<campaign_id>/webhook-deliveries",
    200,
    WebhookDeliveryPage,
    "A page of the campaign's webhook deliveries, newest first, each with every attempt",
    (400, 404, 422),
    summary="List webhook deliveries",
    description="Deliveries are kept 30 days after their last attempt. With `status`, a page "
    "may hold fewer than `limit` items and still have a `next_cursor`.",
    tags=["webhooks"],
)
def list_webhook_deliveries(
    campaign_id: str,
    status: DeliveryStatus | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    campaign = service().campaigns.get(tenant(), campaign_ref(campaign_id))
    page = webhook_service().page(tenant(), campaign.campaign_id, status, limit, cursor)
    return {"items": [delivery_view(i) for i in page.items], "next_cursor": page.next_cursor}


@route(
    "POST",
    "/batch-calls/<campaign_id>/webhook-deliveries/<delivery_id>/replay",
    202,
    ReplayAccepted,
    "Accepted: the delivery is sent again (same `webhook-id`, a new signature and timestamp)",
    (404,),
    summary="Replay a webhook delivery",
    description="In any campaign state. A failed or succeeded delivery becomes pending with "
    "a new round of retries; a pending one is on its way already.",
    tags=["webhooks"],
)
def replay_webhook_delivery(campaign_id: str, delivery_id: str) -> Response[Any]:
    campaign = service().campaigns.get(tenant(), campaign_ref(campaign_id))
    webhook_service().replay(tenant(), campaign.campaign_id, delivery_id)
    return json_response(202, {"id": delivery_id, "status": "pending"})


@route(
    "GET",
    "/webhook-secret",
    200,
    WebhookSecret,
    "The tenant's webhook signing secret (made on first use)",
    (),
    summary="Get the webhook signing secret",
    description="Every webhook carries `webhook-signature` (Standard Webhooks) made with it.",
    tags=["webhooks"],
)
def get_webhook_secret() -> dict[str, Any]:
    now_ms = to_epoch_ms(current_clock().now())
    return secret_view(webhook_service().secrets.get(tenant(), now_ms), now_ms)


@route(
    "POST",
    "/webhook-secret/rotate",
    200,
    WebhookSecret,
    "The new secret; the previous one signs too for 24 hours",
    (),
    summary="Rotate the webhook signing secret",
    description="Until `previous_valid_until` each webhook carries both signatures "
    "(space-separated in `webhook-signature`), so receivers can switch at their pace.",
    tags=["webhooks"],
)
def rotate_webhook_secret() -> dict[str, Any]:
    now_ms = to_epoch_ms(current_clock().now())
    return secret_view(webhook_service().secrets.rotate(tenant(), now_ms), now_ms)


# ---------------------------------------------------------------------- the rest
@app.post(
    "/provider/events",
    status_code=200,
    responses={
        200: {
            "description": "Recorded (once per call_id; a repeat is answered the same)",
            "content": {"application/json": {"model": OutcomeRecorded}},
        },
        **{
            status: {
                "description": ERROR_CODES[status],
                "content": {"application/json": {"model": ErrorResponse}},
            }
            for status in (400, 401, 422)
        },
    },
    security=[{"providerSignature": []}],
    summary="A call outcome from the voice provider",
    description="Served by the provider callbacks function (API Gateway routes it there); "
    "listed here so the document covers the whole HTTP API. Signed with `X-Signature`.",
    tags=["provider"],
)
def provider_events_elsewhere(outcome: Annotated[ProviderOutcome, Body()]) -> Response[Any]:
    # Never reached through API Gateway: the route belongs to ProviderEventsFunction.
    return error_response(404, "not_found", "provider callbacks are served by another function")


@app.get(
    "/openapi.json",
    responses={
        200: {
            "description": "This document (OpenAPI 3.1)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        413: {
            "description": ERROR_CODES[413],
            "content": {"application/json": {"model": ErrorResponse}},
        },
    },
    summary="The OpenAPI document (no key needed)",
    tags=["documentation"],
)
def openapi_document() -> Response[Any]:
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=_openapi_json()
    )


API_DESCRIPTION = """Batch outbound calls for AI voice agents: campaigns, their contacts and
their schedules.

- Every field is accepted in snake_case and in camelCase (and `scheduled_start_time` for
  `scheduled_at`); the document lists both. Unknown fields, and one field given twice
  under two spellings, are a 422. Answers are snake_case.
- Every path but this document takes an API key: `Authorization: Bearer <key>` or
  `x-api-key: <key>`. A key belongs to one tenant; another tenant's ids are unknown (404).
- Errors: `{"error": {"code", "message", "details": [{"field", "problem"}]}}` with
  `invalid_json`/`invalid_cursor` 400, `unauthorized` 401, `not_found` 404,
  `method_not_allowed` 405 (any method a path does not take), `conflict` 409,
  `payload_too_large` 413, `validation_error` 422. No input gives a 5xx.
- Limits: bodies up to 5 MB, nested at most 32 levels, numbers of at most 100 digits;
  10,000 contacts per request; a contact's name up to 200 characters and its variables
  up to 100 names of 1..100 characters with values up to 4,000 characters, 32,768 bytes
  of UTF-8 in all (so a stored contact always fits); dates in 2000..2099.
- Lists answer `{"items", "next_cursor"}`; pass `?cursor=<next_cursor>` for the next
  page, `?limit=` 1..1000 (default 100).
"""


@cache
def _openapi_json() -> str:
    """Generated from the routes by Powertools; then Powertools' own 422 schema
    (`HTTPValidationError`, not this API's error shape) is dropped where an operation
    did not list 422 itself, and with it its component."""
    document = json.loads(
        app.get_openapi_json_schema(
            title="Batch calls API",
            version="1.0.0",
            description=API_DESCRIPTION,
            security_schemes=_security_schemes(),
        )
    )
    for operations in document["paths"].values():
        for operation in operations.values():
            validation = operation["responses"].get("422", {})
            if "HTTPValidationError" in json.dumps(validation):
                del operation["responses"]["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        if f"#/components/schemas/{name}" not in json.dumps(document["paths"]):
            schemas.pop(name, None)
    return json.dumps(document)


def _method_not_allowed(**_: Any) -> Response[Any]:
    return error_response(405, "method_not_allowed", "this path does not take that method")


@cache
def _path_patterns() -> tuple[re.Pattern[str], ...]:
    """Each route's path as a regex, `<name>` matching one segment."""
    return tuple(
        re.compile(
            "/".join(
                "[^/]+" if part.startswith("<") else re.escape(part) for part in path.split("/")
            )
        )
        for path in _methods_by_path
    )


for _path, _methods in _methods_by_path.items():
    _others = [m for m in ALL_METHODS if m not in _methods]
    app.route(_path, method=_others, include_in_schema=False, enable_validation=False)(
        _method_not_allowed
    )


# ---------------------------------------------------------------------- entry point
def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode())


def _api_key(headers: dict[str, str]) -> str:
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    else:
        key = headers.get("x-api-key", "").strip()
    # Keys are printable ASCII; anything else (even a lone surrogate) matches no key.
    return key if key.isascii() and key.isprintable() else ""


def route_path(event: dict[str, Any]) -> str:
    """The path routes match: rawPath less the stage (`/prod/openapi.json` on a named
    stage is `/openapi.json`), exactly as the resolver reads it."""
    return APIGatewayProxyEventV2(event).path


def _refusal(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps(ErrorBody(code, message).as_dict()),
        "isBase64Encoded": False,
    }


def _gatekeeper(event: dict[str, Any]) -> dict[str, Any] | None:
    """What is refused before any route runs: oversized bodies and missing or unknown keys."""
    if _body_size(event) > _settings().max_body_bytes:
        return _refusal(
            413,
            "payload_too_large",
            "bodies are limited to 5 MB; send larger lists as contact files",
        )
    if route_path(event) == "/openapi.json":
        return None
    tenant_id = tenant_for_key(_api_key(event["headers"]))
    if tenant_id is None:
        return _refusal(
            401, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)"
        )
    app.append_context(tenant_id=tenant_id)
    return None


def _as_json_request(event: dict[str, Any]) -> dict[str, Any]:
    """The API speaks JSON only: every body is read as JSON whatever its Content-Type
    (curl -d sends form encoding by default), and headers are matched case-insensitively."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    headers["content-type"] = "application/json"
    body = event.get("body")
    if not isinstance(body, str | None):
        body = "\x00"  # not what API Gateway sends: refused as malformed JSON
    elif event.get("isBase64Encoded") and body:
        try:
            body = base64.b64decode(body, validate=True).decode()
        except (binascii.Error, ValueError):
            body = "\x00"  # not base64 or not UTF-8: refused as malformed JSON
    return {**event, "headers": headers, "body": body, "isBase64Encoded": False}


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event = _as_json_request(event)
    app.clear_context()
    refused = _gatekeeper(event)
    if refused is not None:
        return refused
    return app.resolve(event, context)

"""provider_events function: POST /provider/events, the signed call outcomes of the
voice provider (API.md "Provider"). Idempotent on call_id."""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchcalls.adapters.provider_http import ProviderSecret
from batchcalls.clock import current_clock
from batchcalls.domain.outcomes import signature_problem
from batchcalls.errors import ErrorBody, ErrorDetail
from batchcalls.models.json_body import parse_json_body
from batchcalls.models.provider import OutcomeRecorded, ProviderOutcome
from batchcalls.observability import logger, metrics, tracer
from batchcalls.services.delivery import DeliveryService
from batchcalls.services.delivery_wiring import delivery_service_from_environment, provider_secret
from batchcalls.settings import DeliverySettings, load_settings
from pydantic import ValidationError

app = APIGatewayHttpResolver()
_service_override: DeliveryService | None = None


def use_service(candidate: DeliveryService | None) -> None:
    """Tests may hand in their own service (e.g. with fakes)."""
    global _service_override
    _service_override = candidate


@cache
def _default_service() -> DeliveryService:
    return delivery_service_from_environment()


@cache
def _secret() -> ProviderSecret:
    return provider_secret(load_settings(DeliverySettings))


def service() -> DeliveryService:
    return _service_override or _default_service()


def _error(status: int, code: str, message: str, details: list[ErrorDetail] | None = None):
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(ErrorBody(code, message, details or []).as_dict()),
    )


def _raw_body(event: dict[str, Any]) -> bytes | None:
    """The body's bytes exactly as signed; None when API Gateway's base64 is broken."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            return None
    return body.encode("utf-8", "surrogatepass")


def _header(name: str) -> str | None:
    for key, value in (app.current_event.get("headers") or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


@app.not_found
def _not_found(_: NotFoundError) -> Response[Any]:
    if app.current_event.path == "/provider/events":
        return _error(405, "method_not_allowed", "this path takes POST only")
    return _error(404, "not_found", "no such resource")


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response[Any]:
    # Last resort, still in the contract's error shape (the provider retries a 5xx).
    logger.exception("unexpected error", error_type=type(error).__name__)
    return _error(500, "internal_error", "something went wrong on our side")


@app.post("/provider/events")
def provider_events() -> Response[Any]:
    raw_bytes = _raw_body(app.current_event.raw_event)
    if raw_bytes is None:
        return _error(400, "invalid_json", "the body is not valid base64")
    now_seconds = current_clock().now().timestamp()
    problem = signature_problem(
        _secret().accepted(), _header("x-signature"), raw_bytes, now_seconds
    )
    if problem is not None:
        logger.warning("provider callback refused", problem=problem)
        return _error(401, "unauthorized", problem)
    try:
        body = parse_json_body(raw_bytes or b"null")
    except json.JSONDecodeError as error:
        return _error(400, "invalid_json", f"the body is not valid JSON: {error.msg}")
    try:
        outcome = ProviderOutcome.model_validate(body)
    except ValidationError as error:
        details = [
            ErrorDetail(".".join(str(p) for p in e["loc"]) or "body", e["msg"])
            for e in error.errors()
        ]
        return _error(422, "validation_error", "the outcome is not valid", details)
    known = service().handle_outcome(
        outcome.call_id,
        outcome.status,
        outcome.duration_seconds,
        outcome.summary,
        outcome.opt_out,
    )
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=OutcomeRecorded(call_id=outcome.call_id, recorded=known).model_dump_json(),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""The OpenAPI document (GET /openapi.json) describes every answer the API gives: each
status an operation answers is listed with a schema the body matches, the key is
required everywhere but on the document itself, on any stage."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from tests.integration.conftest import TENANT_A_KEY
from tests.support.api import ApiClient, LambdaContextStub, Reply, http_event

READY = {
    "agent_id": "agent_123",
    "phone_numbers": ["+14155550100"],
    "schedule_type": "scheduled",
    "scheduled_at": "2026-12-01T09:00:00",
    "timezone": "America/New_York",
}


@pytest.fixture
def document(api: ApiClient) -> dict[str, Any]:
    reply = api.get("/openapi.json", key=None)
    assert reply.status == 200
    return reply.body


def operation_of(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, operations in document["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    raise AssertionError(f"{method} {path} is not in the document")


def assert_documented(document: dict[str, Any], method: str, path: str, reply: Reply) -> None:
    """The status is listed for the operation and the body matches its schema."""
    responses = operation_of(document, method, path)["responses"]
    assert str(reply.status) in responses, (method, path, reply.status, sorted(responses))
    content = responses[str(reply.status)].get("content", {})
    if reply.status == 204:
        assert reply.body is None and content == {}
        return
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    jsonschema.validate(reply.body, schema, cls=jsonschema.Draft202012Validator)


def call(
    api: ApiClient, document: dict[str, Any], method: str, path: str, *args: Any, **kwargs: Any
) -> Reply:
    reply = api.request(method, path, *args, **kwargs)
    assert_documented(document, method, path, reply)
    return reply


def test_every_answer_of_a_campaigns_life_is_documented_with_its_schema(api, document):
    # Given a draft created with contacts (one invalid), and one ready to schedule
    created = call(
        api,
        document,
        "POST",
        "/batch-calls",
        {"status": "draft", "name": "doc", "contacts": [{"phone_number": "+12125550104"}, {}]},
    )
    assert created.status == 201 and created.body["contacts_report"]["accepted"] == 1
    campaign = f"/batch-calls/{created.body['id']}"
    ready = call(api, document, "POST", "/batch-calls", {**READY, "status": "draft"}).body["id"]
    # When it goes through every operation, successes and errors alike
    statuses = [created.status]
    for method, path, body in [
        ("GET", "/batch-calls", None),
        ("GET", campaign, None),
        ("PATCH", campaign, {"name": "renamed", "max_calls_per_day": 10}),
        ("POST", f"{campaign}/contacts", {"contacts": [{"phone_number": "+13125550188"}]}),
        ("GET", f"{campaign}/contacts", None),
        ("POST", f"{campaign}/schedule", None),  # 422: no agent
        ("POST", f"{campaign}/pause", None),  # 409: a draft
        (
            "POST",
            f"/batch-calls/{ready}/contacts",
            {"contacts": [{"phone_number": "+12125550104"}]},
        ),
        ("POST", f"/batch-calls/{ready}/schedule", None),
        ("POST", f"/batch-calls/{ready}/pause", None),
        ("POST", f"/batch-calls/{ready}/resume", None),
        ("POST", f"/batch-calls/{ready}/cancel", None),
        ("POST", f"/batch-calls/{ready}/cancel", None),  # 409
        ("DELETE", f"/batch-calls/{ready}", None),  # 409: not a draft
        ("GET", "/batch-calls/batch_0000000000000000zz", None),  # 404
        ("PATCH", campaign, {"max_calls_per_second": 99}),  # 422
        ("GET", "/batch-calls", {"cursor": "%%%"}),  # 400
    ]:
        if method == "GET" and body is not None:
            reply = call(api, document, method, path, query=body)
        else:
            reply = call(api, document, method, path, body)
        statuses.append(reply.status)
    contact = api.get(f"{campaign}/contacts").body["items"][0]["id"]
    statuses.append(call(api, document, "GET", f"{campaign}/contacts/{contact}").status)
    statuses.append(call(api, document, "DELETE", f"{campaign}/contacts/{contact}").status)
    statuses.append(call(api, document, "POST", "/batch-calls", raw_body="[").status)
    statuses.append(call(api, document, "GET", campaign, key=None).status)
    statuses.append(call(api, document, "POST", "/batch-calls", raw_body=" " * 6_000_000).status)
    statuses.append(call(api, document, "DELETE", campaign).status)
    # Then each answer was listed with a schema that its body matches
    assert set(statuses) == {200, 201, 202, 204, 400, 401, 404, 409, 413, 422}


def test_every_operation_lists_its_errors_in_the_error_shape(document):
    error_schema = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {s for s in responses if s.startswith("4")}
            expected = {"413"} if path == "/openapi.json" else {"401"}
            assert expected <= errors, (method, path)
            if path not in ("/openapi.json", "/provider/events"):
                assert "413" in errors, (method, path)
            if "{campaign_id}" in path:
                assert "404" in errors, (method, path)
            if "requestBody" in operation or any(
                p["name"] in ("limit", "cursor") for p in operation.get("parameters", [])
            ):
                assert {"400", "422"} <= errors, (method, path)
            for status in errors:
                assert responses[status]["content"]["application/json"]["schema"] == error_schema
            success = [s for s in responses if s.startswith("2")]
            assert len(success) == 1, (method, path)
            if success[0] != "204":
                assert responses[success[0]]["content"]["application/json"], (method, path)


def test_the_key_is_required_everywhere_but_on_the_document(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <api key>`",
    }
    assert (schemes["apiKeyAuth"]["in"], schemes["apiKeyAuth"]["name"]) == ("header", "x-api-key")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path == "/openapi.json":
                assert "security" not in operation
            elif path == "/provider/events":
                assert operation["security"] == [{"providerSignature": []}]
            else:
                assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}], (
                    method,
                    path,
                )
    assert "security" not in document


def test_the_seed_examples_are_in_the_document_and_valid_against_it(document):
    schemas = document["components"]["schemas"]
    create = schemas["CreateCampaignRequest"]
    assert len(create["examples"]) >= 2
    seed_003 = next(e for e in create["examples"] if "options" in e)
    assert seed_003["agentId"] == "agent_123" and seed_003["options"]["retryStrategy"] == {
        "maxAttempts": 3,
        "noAnswerDelay": 3600000,
        "busyDelay": 300000,
    }
    for schema in schemas.values():
        for example in schema.get("examples", []):
            root = {**schema, "components": document["components"]}
            jsonschema.validate(example, root, cls=jsonschema.Draft202012Validator)


def test_the_seed_examples_are_accepted_by_the_api(api, document):
    for example in document["components"]["schemas"]["CreateCampaignRequest"]["examples"]:
        reply = api.post("/batch-calls", example)
        assert reply.status == 201, (example, reply.body)
        assert_documented(document, "POST", "/batch-calls", reply)


def test_the_contact_limits_are_stated_in_the_document(document):
    text = json.dumps(document)
    assert "32,768 bytes of UTF-8" in text
    contact = document["components"]["schemas"]["AddContactsRequest"]["properties"]["contacts"]
    variables = contact["items"]["properties"]["variables"]["anyOf"][0]
    assert (variables["maxProperties"], variables["additionalProperties"]["maxLength"]) == (
        100,
        4000,
    )


def staged(method: str, path: str, stage: str, key: str | None) -> dict[str, Any]:
    """An HTTP API event on a named stage: rawPath carries the stage, as on AWS."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    event = http_event(method, f"/{stage}{path}", headers=headers)
    event["requestContext"]["stage"] = stage
    return event


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_the_document_needs_no_key_on_a_named_stage(api, stage):
    from functions.api import app

    # Given the HTTP API's stage in rawPath (/prod/openapi.json)
    answer = app.lambda_handler(staged("GET", "/openapi.json", stage, None), LambdaContextStub())
    # Then the document is served without a key
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["info"]["title"] == "Batch calls API"


def test_every_other_route_resolves_under_the_stage_and_still_needs_a_key(api):
    from functions.api import app

    refused = app.lambda_handler(staged("GET", "/batch-calls", "prod", None), LambdaContextStub())
    assert refused["statusCode"] == 401
    # A path that only looks like the document is not let through either
    for path in ("/prod/openapi.json", "/openapi.json/x"):
        sneaky = app.lambda_handler(staged("GET", path, "prod", None), LambdaContextStub())
        assert sneaky["statusCode"] == 401
    listed = app.lambda_handler(
        staged("GET", "/batch-calls", "prod", TENANT_A_KEY), LambdaContextStub()
    )
    assert listed["statusCode"] == 200
    assert json.loads(listed["body"])["items"] == []

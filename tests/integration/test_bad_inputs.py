"""Inputs that once answered 500, and their kin: each is a 4xx in API.md's error shape
and stores nothing (issue 11, item 4). The api and provider_events handlers run under
moto with the template's tables and queues."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from batchcalls.domain.outcomes import sign
from batchcalls.models.campaign import MAX_VARIABLES_BYTES
from batchcalls.settings import reset_settings

from tests.support.api import ApiClient, LambdaContextStub, Reply, http_event, load_event

PROVIDER_SECRET = "provider-test-secret"
DEEP = "[" * 100_000
HUGE_INTEGER = "9" * 5_000
YEAR_9999 = "9999-12-31T23:30:00-05:00"
READY = {
    "agent_id": "agent_123",
    "phone_numbers": ["+14155550100"],
    "contacts": [{"phone_number": "+12125550104"}],
}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def raw_cursor(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def stored_items() -> dict[str, int]:
    """Items in every table and messages in every queue: what a request may have stored."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    counts = {
        name: dynamodb.scan(TableName=name, Select="COUNT")["Count"]
        for name in dynamodb.list_tables()["TableNames"]
    }
    sqs = boto3.client("sqs", region_name="us-east-1")
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        counts[url] = sum(int(v) for v in attributes.values())
    return counts


@pytest.fixture
def campaign_id(api: ApiClient) -> str:
    reply = api.post("/batch-calls", {"status": "draft", "name": "bad inputs"})
    assert reply.status == 201, reply.body
    return reply.body["id"]


def assert_error_shape(reply: Reply) -> None:
    assert set(reply.body) == {"error"}, reply.body
    error = reply.body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert all(set(d) == {"field", "problem"} for d in error["details"])


def base64_event(method: str, path: str, body: str) -> Callable[[ApiClient], Reply]:
    def send(api: ApiClient) -> Reply:
        event = http_event(method, path, headers={"authorization": f"Bearer {api.api_key}"})
        event["body"], event["isBase64Encoded"] = body, True
        answer = api.handler(event, LambdaContextStub())
        return Reply(answer["statusCode"], json.loads(answer["body"]), answer["headers"])

    return send


# (what is sent, expected status, expected code); `{id}` is a stored draft campaign.
API_CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    # issue 11, item 4
    "body of 100,000 [": (
        {"method": "POST", "path": "/batch-calls", "raw_body": DEEP},
        400,
        "invalid_json",
    ),
    "integer of 5,000 digits": (
        {
            "method": "POST",
            "path": "/batch-calls",
            "raw_body": f'{{"max_calls_per_day": {HUGE_INTEGER}}}',
        },
        400,
        "invalid_json",
    ),
    "scheduled_at in year 9999 with an offset": (
        {
            "method": "POST",
            "path": "/batch-calls",
            "body": {
                **READY,
                "schedule_type": "scheduled",
                "scheduled_at": YEAR_9999,
                "timezone": "America/New_York",
            },
        },
        422,
        "validation_error",
    ),
    "contacts cursor whose after_seq is '²'": (
        {
            "method": "GET",
            "path": "/batch-calls/{id}/contacts",
            "query": {"cursor": cursor_of({"after_seq": "²"})},
        },
        400,
        "invalid_cursor",
    ),
    # the same kinds of input elsewhere
    "array nested 50 deep inside a field": (
        {
            "method": "POST",
            "path": "/batch-calls",
            "raw_body": '{"contacts": ' + "[" * 50 + "]" * 50 + "}",
        },
        400,
        "invalid_json",
    ),
    "object nested 10,000 deep": (
        {
            "method": "POST",
            "path": "/batch-calls/{id}/contacts",
            "raw_body": '{"a":' * 10_000 + "1" + "}" * 10_000,
        },
        400,
        "invalid_json",
    ),
    "negative integer of 5,000 digits in a nested field": (
        {
            "method": "PATCH",
            "path": "/batch-calls/{id}",
            "raw_body": f'{{"retry_strategy": {{"max_attempts": -{HUGE_INTEGER}}}}}',
        },
        400,
        "invalid_json",
    ),
    "integer of 5,000 digits inside a contact": (
        {
            "method": "POST",
            "path": "/batch-calls/{id}/contacts",
            "raw_body": f'{{"contacts": [{{"phone_number": {HUGE_INTEGER}}}]}}',
        },
        400,
        "invalid_json",
    ),
    "float beyond double range": (
        {
            "method": "POST",
            "path": "/batch-calls",
            "raw_body": '{"status": "draft", "max_calls_per_day": 1e400}',
        },
        422,
        "validation_error",
    ),
    "integer of 30 digits": (
        {
            "method": "POST",
            "path": "/batch-calls",
            "raw_body": '{"status": "draft", "priority": ' + "9" * 30 + "}",
        },
        422,
        "validation_error",
    ),
    "scheduled_at in year 1 (converting it to UTC underflows)": (
        {
            "method": "POST",
            "path": "/batch-calls",
            "body": {"status": "draft", "scheduled_at": "0001-01-01T00:30:00+05:00"},
        },
        422,
        "validation_error",
    ),
    "scheduledStartTime in year 9999 under options": (
        {
            "method": "POST",
            "path": "/batch-calls",
            "body": {**READY, "options": {"scheduledStartTime": "9999-12-31T23:59:59"}},
        },
        422,
        "validation_error",
    ),
    "PATCH scheduled_at in year 9999": (
        {
            "method": "PATCH",
            "path": "/batch-calls/{id}",
            "body": {"schedule_type": "scheduled", "scheduled_at": YEAR_9999},
        },
        422,
        "validation_error",
    ),
    "scheduled_at as a huge unix time": (
        {"method": "PATCH", "path": "/batch-calls/{id}", "body": {"scheduled_at": 10**15}},
        422,
        "validation_error",
    ),
    "blackout date in year 9999": (
        {
            "method": "PATCH",
            "path": "/batch-calls/{id}",
            "body": {"blackout_dates": ["9999-12-31"]},
        },
        422,
        "validation_error",
    ),
    "limit of 5,000 digits": (
        {"method": "GET", "path": "/batch-calls/{id}/contacts", "query": {"limit": HUGE_INTEGER}},
        422,
        "validation_error",
    ),
    "limit written as a float": (
        {"method": "GET", "path": "/batch-calls", "query": {"limit": "1e3"}},
        422,
        "validation_error",
    ),
    "contacts cursor with a negative seq": (
        {
            "method": "GET",
            "path": "/batch-calls/{id}/contacts",
            "query": {"cursor": cursor_of({"after_seq": -1})},
        },
        400,
        "invalid_cursor",
    ),
    "contacts cursor with a seq of 40 digits": (
        {
            "method": "GET",
            "path": "/batch-calls/{id}/contacts",
            "query": {"cursor": cursor_of({"after_seq": 10**40})},
        },
        400,
        "invalid_cursor",
    ),
    "contacts cursor with a boolean seq": (
        {
            "method": "GET",
            "path": "/batch-calls/{id}/contacts",
            "query": {"cursor": cursor_of({"after_seq": True})},
        },
        400,
        "invalid_cursor",
    ),
    "contacts cursor of another list": (
        {
            "method": "GET",
            "path": "/batch-calls/{id}/contacts",
            "query": {"cursor": cursor_of({"after": "batch_0000000000000000aa"})},
        },
        400,
        "invalid_cursor",
    ),
    "cursor that is deeply nested JSON": (
        {
            "method": "GET",
            "path": "/batch-calls/{id}/contacts",
            "query": {"cursor": raw_cursor(b"[" * 1400)},
        },
        400,
        "invalid_cursor",
    ),
    "cursor that is not UTF-8": (
        {"method": "GET", "path": "/batch-calls", "query": {"cursor": raw_cursor(b"\xff\xfe{}")}},
        400,
        "invalid_cursor",
    ),
    "campaigns cursor with a 1,400-character id": (
        {
            "method": "GET",
            "path": "/batch-calls",
            "query": {"cursor": cursor_of({"after": "x" * 1400})},
        },
        400,
        "invalid_cursor",
    ),
    "campaigns cursor with an empty id": (
        {"method": "GET", "path": "/batch-calls", "query": {"cursor": cursor_of({"after": ""})}},
        400,
        "invalid_cursor",
    ),
    "campaign id of 5,000 characters": (
        {"method": "GET", "path": "/batch-calls/" + "x" * 5_000},
        404,
        "not_found",
    ),
    "contact id of 5,000 characters": (
        {"method": "DELETE", "path": "/batch-calls/{id}/contacts/" + "c" * 5_000},
        404,
        "not_found",
    ),
    "campaign id with a slash-free unicode name": (
        {"method": "POST", "path": "/batch-calls/batch_é²/pause"},
        404,
        "not_found",
    ),
    "form-encoded body (curl -d without JSON)": (
        {"method": "POST", "path": "/batch-calls", "raw_body": "name=x&agent_id=y"},
        400,
        "invalid_json",
    ),
    "lone surrogate escaped in a string": (
        {
            "method": "POST",
            "path": "/batch-calls",
            "raw_body": '{"status": "draft", "name": "\\ud800"}',
        },
        422,
        "validation_error",
    ),
    "JSON array as the body": (
        {"method": "POST", "path": "/batch-calls", "raw_body": "[1, 2]"},
        422,
        "validation_error",
    ),
    "empty body where one is required": (
        {"method": "POST", "path": "/batch-calls/{id}/contacts", "raw_body": ""},
        422,
        "validation_error",
    ),
    "Idempotency-Key of 300 characters": (
        {
            "method": "POST",
            "path": "/batch-calls",
            "body": {"status": "draft"},
            "headers": {"idempotency-key": "k" * 300},
        },
        422,
        "validation_error",
    ),
    "API key with a lone surrogate": (
        {
            "method": "GET",
            "path": "/batch-calls",
            "key": None,
            "headers": {"authorization": "Bearer \ud800"},
        },
        401,
        "unauthorized",
    ),
    "API key in x-api-key with non-ASCII": (
        {"method": "GET", "path": "/batch-calls", "key": None, "headers": {"x-api-key": "clé"}},
        401,
        "unauthorized",
    ),
    "body over 5 MB": (
        {"method": "POST", "path": "/batch-calls", "raw_body": " " * (5 * 1024 * 1024 + 1)},
        413,
        "payload_too_large",
    ),
    "a method no route takes": (
        {"method": "PUT", "path": "/batch-calls/{id}"},
        405,
        "method_not_allowed",
    ),
    "a method HTTP does not define": (
        {"method": "BREW", "path": "/batch-calls"},
        405,
        "method_not_allowed",
    ),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_a_bad_input_is_a_4xx_in_the_error_shape_and_stores_nothing(api, campaign_id, case):
    # Given a stored draft campaign and everything stored so far
    request, status, code = API_CASES[case]
    request = {**request, "path": request["path"].replace("{id}", campaign_id)}
    before = stored_items()
    # When the bad input arrives
    reply = api.request(**request)
    # Then it is refused with the contract's status, code and shape, and nothing is stored
    assert (reply.status, reply.body["error"]["code"]) == (status, code), reply.body
    assert_error_shape(reply)
    assert stored_items() == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("not base64!", 400),
        (base64.b64encode(b"\xff\xfe\x00 not utf-8").decode(), 400),
        (base64.b64encode(DEEP.encode()).decode(), 400),
    ],
)
def test_a_base64_body_that_is_not_json_is_refused(api, body, status):
    before = stored_items()
    reply = base64_event("POST", "/batch-calls", body)(api)
    assert (reply.status, reply.body["error"]["code"]) == (status, "invalid_json")
    assert_error_shape(reply)
    assert stored_items() == before


def test_the_invalid_json_message_says_which_limit(api):
    reply = api.post("/batch-calls", raw_body=DEEP)
    assert "nested deeper than 32 levels" in reply.body["error"]["message"]
    reply = api.post("/batch-calls", raw_body=f'{{"priority": {HUGE_INTEGER}}}')
    assert "more than 100 digits" in reply.body["error"]["message"]


def test_variables_past_the_size_limit_refuse_the_contact_and_store_nothing(api, campaign_id):
    # Given a contact whose variables would not fit a DynamoDB item (450 KB)
    big = {f"v{i}": "x" * 1_000 for i in range(450)}
    over_bytes = {f"k{i}": "é" * 2_000 for i in range(9)}  # 36,018 bytes of UTF-8
    before = stored_items()
    # When it is added beside one with few variables but too many bytes
    reply = api.post(
        f"/batch-calls/{campaign_id}/contacts",
        {
            "contacts": [
                {"phone_number": "+12125550104", "variables": big},
                {"phone_number": "+12125550105", "variables": over_bytes},
            ]
        },
    )
    # Then both rows are refused with the limit named, and nothing is stored
    assert reply.status == 200, reply.body
    assert (reply.body["accepted"], [row["index"] for row in reply.body["invalid"]]) == (0, [0, 1])
    assert "at most 100" in reply.body["invalid"][0]["problem"]
    assert f"at most {MAX_VARIABLES_BYTES}" in reply.body["invalid"][1]["problem"]
    assert stored_items() == before


def test_variables_at_the_size_limit_are_stored_and_read_back(api, campaign_id):
    # Given variables just under the byte limit, two-byte characters included
    variables = {"notes": "é" * 4_000, **{f"k{i}": "y" * 3_000 for i in range(8)}}
    assert (
        32_000
        < sum(len(k.encode()) + len(v.encode()) for k, v in variables.items())
        <= (MAX_VARIABLES_BYTES)
    )
    # When the contact is added
    reply = api.post(
        f"/batch-calls/{campaign_id}/contacts",
        {"contacts": [{"phone_number": "+12125550104", "variables": variables}]},
    )
    # Then it is accepted and reads back whole
    assert reply.body["accepted"] == 1, reply.body
    listed = api.get(f"/batch-calls/{campaign_id}/contacts").body["items"]
    assert listed[0]["variables"] == variables


# ---------------------------------------------------------------------- provider callbacks
@pytest.fixture
def provider_events(aws, clock, monkeypatch):
    from functions.provider_events import app

    monkeypatch.setenv("PROVIDER_SECRET", PROVIDER_SECRET)
    reset_settings()
    app._secret.cache_clear()

    def post(
        body: str | None = None,
        signature: str | None = None,
        *,
        signed: bool = False,
        method: str = "POST",
        base64_body: str | None = None,
    ) -> Reply:
        event = load_event("provider_events_completed.json")
        event["requestContext"]["http"]["method"] = method
        if body is not None:
            event["body"] = body
        if base64_body is not None:
            event["body"], event["isBase64Encoded"] = base64_body, True
        if signed:
            raw = base64.b64decode(base64_body) if base64_body else event["body"].encode()
            signature = sign(PROVIDER_SECRET, int(clock.now().timestamp()), raw)
        if signature is not None:
            event["headers"]["x-signature"] = signature
        answer = app.lambda_handler(event, LambdaContextStub())
        return Reply(answer["statusCode"], json.loads(answer["body"]), answer["headers"])

    yield post
    app._secret.cache_clear()
    reset_settings()


PROVIDER_CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    "t= followed by 400 digits": (
        {"signature": "t=" + "9" * 400 + ",v1=" + "0" * 64},
        401,
        "unauthorized",
    ),
    "t= in superscript digits": ({"signature": "t=²³,v1=" + "0" * 64}, 401, "unauthorized"),
    "v1 with non-ASCII characters": (
        {"signature": "t=1796047200,v1=" + "é" * 64},
        401,
        "unauthorized",
    ),
    "a header of 100,000 characters": ({"signature": "t=1," * 25_000}, 401, "unauthorized"),
    "a header with a lone surrogate": ({"signature": "t=\ud800"}, 401, "unauthorized"),
    "a body that is not base64": ({"base64_body": "%%%"}, 400, "invalid_json"),
    "signed: 100,000 [": ({"body": DEEP, "signed": True}, 400, "invalid_json"),
    "signed: an integer of 5,000 digits": (
        {
            "body": f'{{"call_id": "c", "status": "busy", "duration_seconds": {HUGE_INTEGER}}}',
            "signed": True,
        },
        400,
        "invalid_json",
    ),
    "signed: duration of 30 digits": (
        {
            "body": '{"call_id": "c", "status": "busy", "duration_seconds": ' + "9" * 30 + "}",
            "signed": True,
        },
        422,
        "validation_error",
    ),
    "signed: a body that is not UTF-8": (
        {"base64_body": base64.b64encode(b'{"call_id": "\xff"}').decode(), "signed": True},
        400,
        "invalid_json",
    ),
    "signed: a JSON string": ({"body": '"completed"', "signed": True}, 422, "validation_error"),
    "GET instead of POST": ({"method": "GET"}, 405, "method_not_allowed"),
}


@pytest.mark.parametrize("case", sorted(PROVIDER_CASES))
def test_a_bad_provider_callback_is_a_4xx_in_the_error_shape_and_stores_nothing(
    provider_events, case
):
    request, status, code = PROVIDER_CASES[case]
    before = stored_items()
    reply = provider_events(**request)
    assert (reply.status, reply.body["error"]["code"]) == (status, code), reply.body
    assert_error_shape(reply)
    assert stored_items() == before

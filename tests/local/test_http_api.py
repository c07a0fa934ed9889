"""HTTP API routes, events and responses as API Gateway (HTTP API, payload 2.0) makes them."""

import base64
import json
from datetime import UTC, datetime

import pytest

from local_stack.http_api import (
    BadFunctionResponse,
    HttpRequest,
    RouteTable,
    build_event,
    to_response,
)
from local_stack.template import HttpRoute

ROUTES = RouteTable(
    [
        HttpRoute("Api", "ANY", "/batch-calls"),
        HttpRoute("Api", "ANY", "/batch-calls/{proxy+}"),
        HttpRoute("One", "GET", "/batch-calls/{id}"),
        HttpRoute("Stats", "GET", "/batch-calls/stats"),
        HttpRoute("Events", "POST", "/provider/events"),
    ]
)
NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def route_of(method: str, path: str):
    match = ROUTES.match(method, path)
    return (
        None
        if match is None
        else (match.route.function, match.route.route_key, match.path_parameters)
    )


def test_an_exact_path_wins_over_a_parameter_and_a_parameter_over_a_greedy_path():
    assert route_of("GET", "/batch-calls/stats") == ("Stats", "GET /batch-calls/stats", {})
    assert route_of("GET", "/batch-calls/b1") == ("One", "GET /batch-calls/{id}", {"id": "b1"})
    assert route_of("DELETE", "/batch-calls/b1") == (
        "Api",
        "ANY /batch-calls/{proxy+}",
        {"proxy": "b1"},
    )
    assert route_of("GET", "/batch-calls/b1/contacts/c1") == (
        "Api",
        "ANY /batch-calls/{proxy+}",
        {"proxy": "b1/contacts/c1"},
    )


def test_a_greedy_route_needs_at_least_one_segment_and_methods_must_match():
    assert route_of("PATCH", "/batch-calls") == ("Api", "ANY /batch-calls", {})
    assert route_of("GET", "/provider/events") is None
    assert route_of("GET", "/nowhere") is None
    assert route_of("GET", "/") is None


def test_path_parameters_are_decoded():
    assert route_of("GET", "/batch-calls/%2B15550100")[2] == {"id": "+15550100"}


def test_a_payload_v2_event_carries_what_api_gateway_sends():
    # Given
    request = HttpRequest(
        method="POST",
        path="/batch-calls/b1",
        query_string="tag=a&tag=b&empty=",
        headers=[
            ("Content-Type", "application/json"),
            ("X-Api-Key", "k"),
            ("Cookie", "a=1; b=2"),
        ],
        body=b'{"name": "x"}',
        source_ip="127.0.0.1",
        host="127.0.0.1:3000",
    )
    # When
    event = build_event(ROUTES.match("POST", "/batch-calls/b1"), request, NOW)
    # Then
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /batch-calls/{proxy+}"
    assert event["rawPath"] == "/batch-calls/b1"
    assert event["rawQueryString"] == "tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"tag": "a,b", "empty": ""}
    assert event["pathParameters"] == {"proxy": "b1"}
    assert event["headers"] == {"content-type": "application/json", "x-api-key": "k"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["path"] == "/batch-calls/b1"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["timeEpoch"] == int(NOW.timestamp() * 1000)
    assert event["body"] == '{"name": "x"}'
    assert event["isBase64Encoded"] is False


def test_a_binary_body_is_base64_encoded_and_an_empty_one_is_absent():
    match = ROUTES.match("POST", "/batch-calls")
    binary = HttpRequest(
        "POST",
        "/batch-calls",
        "",
        [("Content-Type", "application/gzip")],
        b"\x1f\x8b\x00",
        "::1",
        "h",
    )
    event = build_event(match, binary, NOW)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x1f\x8b\x00"
    empty = HttpRequest("GET", "/batch-calls", "", [], b"", "::1", "h")
    assert "body" not in build_event(ROUTES.match("GET", "/batch-calls"), empty, NOW)


def test_responses_are_shaped_as_api_gateway_does():
    answer = to_response(
        {"statusCode": 201, "headers": {"X-A": "1"}, "body": '{"id": "b1"}', "cookies": ["s=1"]}
    )
    assert (answer.status, answer.body) == (201, b'{"id": "b1"}')
    assert ("X-A", "1") in answer.headers and ("Set-Cookie", "s=1") in answer.headers
    encoded = to_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    assert encoded.body == b"\x00\x01"
    plain = to_response({"items": []})
    assert (plain.status, json.loads(plain.body)) == (200, {"items": []})
    with pytest.raises(BadFunctionResponse):
        to_response({"statusCode": "teapot"})

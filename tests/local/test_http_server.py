"""The local API over real HTTP: the template's routes, /_local, and errors (mini template)."""

import json
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def call(stack, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(
        stack.base_url + path, data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as failure:
        return failure.code, dict(failure.headers), failure.read()


def echoed(stack, method: str, path: str, **kwargs) -> dict:
    status, _, body = call(stack, method, path, **kwargs)
    assert status == 200, body
    return json.loads(body)["event"]


def test_a_request_reaches_the_most_specific_route_as_a_v2_event(mini_stack):
    assert echoed(mini_stack, "GET", "/items")["routeKey"] == "GET /items"
    one = echoed(mini_stack, "GET", "/items/abc?x=1&x=2")
    assert one["routeKey"] == "GET /items/{item_id}"
    assert one["pathParameters"] == {"item_id": "abc"}
    assert one["queryStringParameters"] == {"x": "1,2"}
    deleted = echoed(mini_stack, "DELETE", "/items/abc/parts/7")
    assert deleted["routeKey"] == "ANY /items/{proxy+}"
    assert deleted["pathParameters"] == {"proxy": "abc/parts/7"}
    assert deleted["requestContext"]["http"]["method"] == "DELETE"


def test_the_body_headers_and_source_reach_the_function(mini_stack):
    event = echoed(
        mini_stack,
        "POST",
        "/echo",
        body=b'{"a": 1}',
        headers={"Content-Type": "application/json", "X-Api-Key": "k1"},
    )
    assert event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False
    assert event["headers"]["x-api-key"] == "k1"
    assert event["rawPath"] == "/echo"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"


def test_the_http_api_url_in_the_configuration_is_the_local_one(mini_stack):
    _, _, body = call(mini_stack, "GET", "/items")
    assert json.loads(body)["api_url"] == mini_stack.base_url


def test_function_results_become_responses_as_api_gateway_makes_them(mini_stack):
    assert call(mini_stack, "GET", "/answer/plain")[::2] == (200, b'{"plain": true}')
    status, headers, body = call(mini_stack, "GET", "/answer/binary")
    assert (status, body, headers["content-type"]) == (
        201,
        b"\x00\x01\x02",
        "application/octet-stream",
    )


@pytest.mark.parametrize("kind", ["raise", "bad"])
def test_a_failing_function_answers_500_in_the_error_shape_without_a_traceback(mini_stack, kind):
    status, _, body = call(mini_stack, "GET", f"/answer/{kind}")
    assert status == 500
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert b"Traceback" not in body


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("POST", "/items"), ("GET", "/_local/nothing"), ("GET", "/")],
)
def test_anything_else_is_a_404_in_the_error_shape(mini_stack, method, path):
    status, _, body = call(mini_stack, method, path)
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"


def test_the_clock_endpoints_read_and_advance_the_simulated_clock(mini_stack):
    assert (
        call(mini_stack, "GET", "/_local/clock")[2]
        == b'{"now": "2026-11-30T14:00:00.000Z", "mode": "simulated"}'
    )
    status, _, body = call(mini_stack, "POST", "/_local/clock/advance", b'{"seconds": 90}')
    assert status == 200
    assert json.loads(body)["now"] == "2026-11-30T14:01:30.000Z"
    assert mini_stack.now().isoformat() == "2026-11-30T14:01:30+00:00"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "invalid_json"),
        (b'{"seconds": -1}', "validation_error"),
        (b'{"seconds": "10"}', "validation_error"),
        (b'{"seconds": true}', "validation_error"),
        (b'{"seconds": 1e400}', "validation_error"),
        (b'{"seconds": 1, "extra": 2}', "validation_error"),
        (b"[]", "validation_error"),
        (b"", "validation_error"),
    ],
)
def test_a_bad_advance_is_a_400_and_moves_nothing(mini_stack, body, code):
    status, _, answer = call(mini_stack, "POST", "/_local/clock/advance", body)
    assert (status, json.loads(answer)["error"]["code"]) == (400, code)
    assert mini_stack.now().isoformat() == "2026-11-30T14:00:00+00:00"


def test_a_wrong_method_on_a_local_endpoint_is_a_405(mini_stack):
    status, headers, body = call(mini_stack, "DELETE", "/_local/clock")
    assert status == 405 and json.loads(body)["error"]["code"] == "method_not_allowed"
    assert headers["Allow"] == "GET"


def test_the_webhook_sink_records_any_method_and_can_fail_on_demand(mini_stack):
    # When
    call(mini_stack, "PUT", "/_local/webhook-sink/a/b?x=1", b'{"k": "v"}', {"X-Sig": "s"})
    status, _, _ = call(mini_stack, "POST", "/_local/webhook-sink/status/502/c", b"plain text")
    # Then
    assert status == 502
    _, _, listed = call(mini_stack, "GET", "/_local/webhooks")
    first, second = json.loads(listed)["items"]
    assert first["url"] == f"{mini_stack.base_url}/_local/webhook-sink/a/b?x=1"
    assert (first["method"], first["body"], first["headers"]["x-sig"]) == ("PUT", {"k": "v"}, "s")
    assert second["body"] == "plain text"
    assert call(mini_stack, "DELETE", "/_local/webhooks")[0] == 204
    assert mini_stack.webhooks == []

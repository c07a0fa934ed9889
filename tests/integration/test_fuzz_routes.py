"""Whatever arrives at any route (methods, paths, query strings, headers, bodies of any
shape or bytes, cursors, signatures), the answer is never a 5xx, and every error is in
API.md's shape. Random requests go to the api and provider_events handlers under moto,
as API Gateway routes them."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from batchcalls.domain.outcomes import sign
from batchcalls.settings import reset_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import TENANT_A_KEY
from tests.support.api import LambdaContextStub, http_event

PROVIDER_SECRET = "provider-fuzz-secret"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
ROUTES = [
    ("POST", "/batch-calls"),
    ("GET", "/batch-calls"),
    ("GET", "/batch-calls/{campaign}"),
    ("PATCH", "/batch-calls/{campaign}"),
    ("DELETE", "/batch-calls/{campaign}"),
    ("POST", "/batch-calls/{campaign}/contacts"),
    ("GET", "/batch-calls/{campaign}/contacts"),
    ("GET", "/batch-calls/{campaign}/contacts/{contact}"),
    ("DELETE", "/batch-calls/{campaign}/contacts/{contact}"),
    ("POST", "/batch-calls/{campaign}/schedule"),
    ("POST", "/batch-calls/{campaign}/pause"),
    ("POST", "/batch-calls/{campaign}/resume"),
    ("POST", "/batch-calls/{campaign}/cancel"),
    ("GET", "/openapi.json"),
    ("POST", "/provider/events"),
]
# The routes that take a body, twice more: most of what can go wrong is in bodies.
ROUTES += [route for route in ROUTES if route[0] in ("POST", "PATCH")][:3] * 2
PATHS = [
    "/batch-calls",
    "/batch-calls/{campaign}",
    "/batch-calls/{campaign}/contacts",
    "/batch-calls/{campaign}/contacts/{contact}",
    "/batch-calls/{campaign}/schedule",
    "/batch-calls/{campaign}/pause",
    "/batch-calls/{campaign}/resume",
    "/batch-calls/{campaign}/cancel",
    "/openapi.json",
    "/provider/events",
    "/{campaign}",
    "/",
]
FIELDS = [
    "name",
    "agent_id",
    "agentId",
    "phone_numbers",
    "contacts",
    "phone_number",
    "variables",
    "options",
    "timezone",
    "start_time",
    "end_time",
    "working_days",
    "blackout_dates",
    "retry_strategy",
    "max_attempts",
    "scheduled_at",
    "scheduledStartTime",
    "schedule_type",
    "max_calls_per_day",
    "max_calls_per_second",
    "max_concurrent_calls",
    "priority",
    "status",
    "tags",
    "webhooks",
    "call_id",
    "duration_seconds",
    "opt_out",
    "summary",
    "after_seq",
    "after",
]
edge_strings = st.sampled_from(
    [
        "",
        "²",
        "9" * 5_000,
        "-1",
        "1e400",
        "9999-12-31T23:30:00-05:00",
        "0001-01-01T00:00:00+05:00",
        "2026-12-01T09:00:00",
        "24:00",
        "America/New_York",
        "+14155550100",
        "\ud800",
        "\x00",
        "https://example.com/hook",
        "[" * 2_000,
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**60)
    | st.floats()
    | st.text(max_size=20)
    | edge_strings
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


def cursors() -> st.SearchStrategy[str]:
    def encode(value: Any) -> str:
        return base64.urlsafe_b64encode(_dumps(value).encode()).decode()

    return (
        st.dictionaries(st.sampled_from(["after_seq", "after"]), scalars, max_size=2).map(encode)
        | json_values.map(encode)
        | st.binary(max_size=30).map(lambda b: base64.urlsafe_b64encode(b).decode())
        | st.text(max_size=30)
    )


json_objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)
contact_rows = st.fixed_dictionaries(
    {"phone_number": st.sampled_from(["+12125550104", "+14155550101", "555", ""]) | scalars},
    optional={
        "name": scalars,
        "timezone": scalars,
        "variables": st.dictionaries(st.text(max_size=5), scalars, max_size=3) | scalars,
        "phone": scalars,
    },
)
# Campaign bodies near the valid ones, so that creates and patches get past validation
# into the service (planning, scheduling checks) and not only into the model.
campaign_bodies = st.fixed_dictionaries(
    {},
    optional={
        "status": st.just("draft"),
        "name": st.text(max_size=30),
        "agent_id": st.just("agent_123"),
        "phone_numbers": st.lists(st.sampled_from(["+14155550100", "+14155550101"]), max_size=2),
        "schedule_type": st.sampled_from(["immediate", "scheduled"]),
        "scheduled_at": st.sampled_from(["2026-12-01T09:00:00", "2026-11-01T09:00:00Z"])
        | edge_strings,
        "timezone": st.sampled_from(["UTC", "America/New_York", "Asia/Kathmandu"]),
        "start_time": st.sampled_from(["00:00", "09:00", "23:59", "24:00"]),
        "end_time": st.sampled_from(["00:00", "09:00", "17:00", "24:00"]),
        "working_days": st.lists(st.integers(min_value=0, max_value=8), max_size=8),
        "blackout_dates": st.lists(st.dates().map(str), max_size=3),
        "max_calls_per_day": st.integers(min_value=-1, max_value=10**8),
        "max_calls_per_second": st.integers(min_value=0, max_value=31),
        "pacing": st.sampled_from(["asap", "spread"]),
        "retry_strategy": st.fixed_dictionaries(
            {}, optional={"max_attempts": st.integers(0, 6), "busy_delay": st.integers(-1, 10**12)}
        ),
        "contacts": st.lists(contact_rows, max_size=3),
    },
)
campaign_json = campaign_bodies.map(lambda v: ("json", _dumps(v)))
bodies = st.one_of(
    json_objects.map(lambda v: ("json", _dumps(v))),
    st.lists(contact_rows, max_size=4).map(lambda rows: ("json", _dumps({"contacts": rows}))),
    json_values.map(lambda v: ("json", _dumps(v))),
    st.text(max_size=60).map(lambda t: ("text", t)),
    st.binary(max_size=60).map(lambda b: ("base64", base64.b64encode(b).decode())),
    st.integers(min_value=30, max_value=3_000).map(lambda n: ("json", "[" * n + "]" * n)),
    st.sampled_from(["not base64!", "@@@="]).map(lambda t: ("base64", t)),
    st.none().map(lambda _: ("none", None)),
)
queries = st.dictionaries(
    st.sampled_from(["limit", "cursor", "status", "tag"]) | st.text(max_size=6),
    st.text(max_size=12) | edge_strings | cursors(),
    max_size=4,
)
header_values = st.text(max_size=40) | edge_strings
headers = st.dictionaries(
    st.sampled_from(["idempotency-key", "x-api-key", "x-signature", "content-type", "accept"])
    | st.text(min_size=1, max_size=12),
    header_values,
    max_size=4,
)
# Mostly authenticated and validly signed, so that most requests get past the gate.
auths = st.one_of(
    st.just("valid"),
    st.just("valid"),
    st.just("x-api-key"),
    st.sampled_from(["none", "wrong"]),
    st.text(max_size=20),
)
signatures = st.one_of(
    st.just("valid"), st.just("valid"), st.sampled_from(["none", "stale"]), header_values
)


@pytest.fixture
def handlers(api, clock, monkeypatch):
    from functions.api import app as api_app
    from functions.provider_events import app as provider_app

    monkeypatch.setenv("PROVIDER_SECRET", PROVIDER_SECRET)
    reset_settings()
    provider_app._secret.cache_clear()

    current: list[tuple[str, str]] = []

    def real_campaign(changed: bool = False) -> tuple[str, str]:
        """A draft with one contact, made again after an example changed it (a delete,
        a cancel, a schedule...), so most examples meet a campaign that exists."""
        if changed:
            current.clear()
            return "", ""
        if not current:
            created = api.post(
                "/batch-calls", {"status": "draft", "contacts": [{"phone_number": "+12125550104"}]}
            ).body
            contact = api.get(f"/batch-calls/{created['id']}/contacts").body["items"][0]
            current.append((created["id"], contact["id"]))
        return current[0]

    yield {
        "api": api_app.lambda_handler,
        "provider": provider_app.lambda_handler,
        "real_campaign": real_campaign,
        "clock": clock,
    }
    provider_app._secret.cache_clear()


def build_event(
    world: dict[str, Any],
    method: str,
    path: str,
    query: dict[str, str],
    extra_headers: dict[str, str],
    auth: str,
    signature: str,
    body: tuple[str, str | None],
) -> dict[str, Any]:
    event = http_event(method, path, headers=extra_headers)
    event["rawQueryString"] = urlencode(query, errors="surrogatepass")
    event["queryStringParameters"] = query or None
    if auth == "valid":
        event["headers"]["authorization"] = f"Bearer {TENANT_A_KEY}"
    elif auth == "x-api-key":
        event["headers"]["x-api-key"] = TENANT_A_KEY
    elif auth == "wrong":
        event["headers"]["authorization"] = "Bearer not-a-key"
    elif auth != "none":
        event["headers"]["authorization"] = auth
    kind, text = body
    event["body"] = text
    event["isBase64Encoded"] = kind == "base64"
    if path.startswith("/provider/"):
        raw = b""
        if kind == "base64":
            try:
                raw = base64.b64decode(text or "", validate=True)
            except ValueError:
                raw = b""
        elif text is not None:
            raw = text.encode("utf-8", "surrogatepass")
        now = int(world["clock"].now().timestamp())
        if signature == "valid":
            event["headers"]["x-signature"] = sign(PROVIDER_SECRET, now, raw)
        elif signature == "stale":
            event["headers"]["x-signature"] = sign(PROVIDER_SECRET, now - 301, raw)
        elif signature != "none":
            event["headers"]["x-signature"] = signature
    return event


def assert_contract_answer(answer: dict[str, Any], described: str) -> None:
    status = answer["statusCode"]
    assert status < 500, (described, answer)
    text = answer.get("body") or ""
    if status == 204:
        assert text == ""
        return
    body = json.loads(text)
    if status >= 400:
        assert set(body) == {"error"}, (described, body)
        assert set(body["error"]) == {"code", "message", "details"}, (described, body)
        assert all(set(d) == {"field", "problem"} for d in body["error"]["details"])


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.one_of(
        st.sampled_from(ROUTES),
        st.sampled_from(ROUTES),
        st.tuples(
            st.sampled_from(METHODS)
            | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8),
            st.sampled_from(PATHS),
        ),
    ),
    campaign=st.one_of(st.just("real"), st.just("real"), st.just("other"), st.text(max_size=12)),
    contact=st.one_of(st.just("real"), st.text(max_size=12)),
    query=queries,
    extra_headers=headers,
    auth=auths,
    signature=signatures,
    data=st.data(),
)
def test_no_request_to_any_route_gets_a_5xx(
    handlers, route, campaign, contact, query, extra_headers, auth, signature, data
):
    method, template = route
    # Creates and patches mostly get campaign-like bodies, to reach past the model.
    campaign_route = template in ("/batch-calls", "/batch-calls/{campaign}")
    body = data.draw(st.one_of(campaign_json, bodies) if campaign_route else bodies, "body")
    # Given any request, with ids that exist or not
    real_campaign, real_contact = handlers["real_campaign"]()
    campaign_id = real_campaign if campaign == "real" else campaign.replace("/", "")
    if campaign == "other":
        campaign_id = "batch_0000000000000000zz"
    contact_id = real_contact if contact == "real" else contact.replace("/", "")
    path = template.format(campaign=campaign_id or "x", contact=contact_id or "x")
    event = build_event(handlers, method, path, query, extra_headers, auth, signature, body)
    # When API Gateway hands it to the function its route belongs to
    handler = handlers["provider"] if path.startswith("/provider/") else handlers["api"]
    answer = handler(event, LambdaContextStub())
    if method != "GET" and answer["statusCode"] < 300 and real_campaign in path:
        handlers["real_campaign"](changed=True)
    # Then it is answered without a 5xx, errors in the contract's shape
    assert_contract_answer(answer, f"{method} {path} {query} {body}")

"""Whatever arrives, the API answers in its error shape and never with a 5xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "agent_id",
                    "agentId",
                    "phone_numbers",
                    "contacts",
                    "options",
                    "timezone",
                    "start_time",
                    "working_days",
                    "retry_strategy",
                    "scheduled_at",
                    "status",
                    "phone_number",
                    "x",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)

PATHS = [
    ("POST", "/batch-calls"),
    ("GET", "/batch-calls"),
    ("PATCH", "/batch-calls/{id}"),
    ("POST", "/batch-calls/{id}/contacts"),
    ("POST", "/batch-calls/{id}/schedule"),
    ("GET", "/batch-calls/{id}/contacts"),
    ("DELETE", "/batch-calls/{id}/contacts/{id}"),
    ("PUT", "/batch-calls/{id}"),
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(PATHS),
    body=json_values | st.text(max_size=30).map(lambda t: {"__raw__": t}),
    ident=st.text(max_size=12),
    query=st.dictionaries(
        st.sampled_from(["limit", "cursor", "status", "tag"]), st.text(max_size=10)
    ),
)
def test_no_input_produces_a_server_error(api, route, body, ident, query):
    method, template = route
    path = template.replace("{id}", ident.replace("/", "") or "x")
    raw = body["__raw__"] if isinstance(body, dict) and "__raw__" in body else json.dumps(body)
    reply = api.request(method, path, raw_body=raw, query=query)
    assert reply.status < 500, (method, path, raw, reply.body)
    if reply.status >= 400:
        assert set(reply.body["error"]) == {"code", "message", "details"}

"""A trace never carries a phone number: the api and provider_events handlers are run
with a recording tracer provider while they answer with contacts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from batchcalls import observability

from tests.support.api import LambdaContextStub, load_event

NUMBERS = ["+12125550104", "+13125550188"]


class RecordingSubsegment:
    def __init__(self, recorded: list[Any]) -> None:
        self.recorded = recorded

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.recorded.append(("metadata", key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        self.recorded.append(("annotation", key, value))

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        self.recorded.append(("exception", repr(exception), stack))


class RecordingProvider:
    """Stands in for the X-Ray recorder; keeps what would be sent."""

    def __init__(self) -> None:
        self.recorded: list[Any] = []

    @contextmanager
    def in_subsegment(self, name: str | None = None, **_: Any) -> Iterator[RecordingSubsegment]:
        self.recorded.append(("subsegment", name, None))
        yield RecordingSubsegment(self.recorded)


@pytest.fixture
def traces(monkeypatch) -> RecordingProvider:
    provider = RecordingProvider()
    monkeypatch.setattr(observability.tracer, "provider", provider)
    return provider


def test_a_trace_of_the_api_never_carries_a_number(api, traces):
    # Given a campaign with two contacts
    created = api.post(
        "/batch-calls",
        {
            "status": "draft",
            "name": "Ada's list",
            "contacts": [{"phone_number": n} for n in NUMBERS],
        },
    )
    campaign = created.body["id"]
    # When its contacts are listed, read one by one and cancelled, all traced
    listed = api.get(f"/batch-calls/{campaign}/contacts")
    assert {c["phone_number"] for c in listed.body["items"]} == set(NUMBERS)
    for contact in listed.body["items"]:
        api.get(f"/batch-calls/{campaign}/contacts/{contact['id']}")
        api.delete(f"/batch-calls/{campaign}/contacts/{contact['id']}")
    # Then every handler run was traced, and no trace holds a number or the name
    assert [r[1] for r in traces.recorded if r[0] == "subsegment"].count("## lambda_handler") >= 6
    written = json.dumps(traces.recorded, default=str)
    for secret in [*(n[2:] for n in NUMBERS), "Ada"]:
        assert secret not in written, secret


def test_a_trace_of_a_provider_callback_never_carries_its_body(aws, traces, monkeypatch):
    from functions.provider_events import app

    monkeypatch.setenv("PROVIDER_SECRET", "s3cret")
    app._secret.cache_clear()
    event = load_event("provider_events_completed.json")
    event["body"] = json.dumps({"call_id": "call_x", "status": "completed", "to": NUMBERS[0]})
    answer = app.lambda_handler(event, LambdaContextStub())
    app._secret.cache_clear()
    assert answer["statusCode"] == 401
    assert any(r[0] == "subsegment" for r in traces.recorded)
    assert NUMBERS[0][2:] not in json.dumps(traces.recorded, default=str)

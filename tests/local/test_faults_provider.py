"""The simulated provider fails on command: 5xx, no answer, dropped or duplicated callbacks."""

import http.client
import json
import urllib.error
import urllib.request

import pytest

from tests.local.helpers import place_call

pytestmark = pytest.mark.slow


def callbacks(stack) -> list[dict]:
    return [w for w in stack.webhooks if w["url"].endswith("/provider")]


def test_provider_5xx_answers_503_for_that_long_and_dials_nothing(mini_stack, faults):
    # Given
    fault = faults.add(kind="provider_5xx", seconds=60)
    # When / Then
    assert place_call(mini_stack, call_id="c1")[0] == 503
    mini_stack.advance(59)
    assert place_call(mini_stack, call_id="c1")[0] == 503
    assert mini_stack.provider.calls() == []
    mini_stack.advance(1)
    assert place_call(mini_stack, call_id="c1") == (200, {"call_id": "c1", "status": "accepted"})
    assert [c["call_id"] for c in mini_stack.provider.calls()] == ["c1"]
    assert fault.fired == 2


def test_provider_timeout_dials_the_call_and_closes_the_connection_without_an_answer(
    mini_stack, faults
):
    # Given
    faults.add(kind="provider_timeout", seconds=30)
    payload = {
        "call_id": "c1",
        "from": "+15550009999",
        "to": "+15550100004",
        "callback_url": f"{mini_stack.base_url}/_local/webhook-sink/provider",
    }
    request = urllib.request.Request(
        f"{mini_stack.provider_url}/calls",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # When / Then the client gets no answer at all
    with pytest.raises((http.client.RemoteDisconnected, urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(request, timeout=30)
    # And yet the call was placed, and ends with its callback
    assert [c["call_id"] for c in mini_stack.provider.calls()] == ["c1"]
    mini_stack.advance(60)
    assert [c["body"]["call_id"] for c in callbacks(mini_stack)] == ["c1"]


def test_dropped_callbacks_lose_only_as_many_outcomes_as_told(mini_stack, faults):
    # Given
    faults.add(kind="provider_drop_callbacks", count=1)
    place_call(mini_stack, call_id="c1")
    place_call(mini_stack, call_id="c2")
    # When
    mini_stack.advance(60)
    # Then
    assert [c["body"]["call_id"] for c in callbacks(mini_stack)] == ["c2"]
    assert [c["callback_status"] for c in mini_stack.provider.calls()] == ["dropped", 200]


def test_a_duplicated_callback_is_posted_twice(mini_stack, faults):
    faults.add(kind="provider_duplicate_callbacks")
    place_call(mini_stack, call_id="c1")
    place_call(mini_stack, call_id="c2")
    mini_stack.advance(60)
    assert [c["body"]["call_id"] for c in callbacks(mini_stack)] == ["c1", "c1", "c2"]


def test_a_callback_without_a_2xx_is_posted_again_on_a_bounded_schedule(mini_stack):
    # Given a receiver that always answers 503
    place_call(mini_stack, callback_url=f"{mini_stack.base_url}/_local/webhook-sink/status/503/x")
    # When two hours pass
    mini_stack.advance(7200)
    # Then attempts came 30 s, 2 min, 10 min and 30 min after the one before, then no more
    [call] = mini_stack.provider.calls()
    attempts = [a["at"] for a in call["callback_attempts"]]
    assert attempts == [
        "2026-11-30T14:01:00.000Z",
        "2026-11-30T14:01:30.000Z",
        "2026-11-30T14:03:30.000Z",
        "2026-11-30T14:13:30.000Z",
        "2026-11-30T14:43:30.000Z",
    ]
    assert {a["status"] for a in call["callback_attempts"]} == {503}

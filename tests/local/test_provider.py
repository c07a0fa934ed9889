"""The simulated voice provider over real HTTP (API.md "Provider"), with the mini stack."""

import json
import urllib.error
import urllib.request

import pytest

from tests.local.helpers import verify_signature

pytestmark = pytest.mark.slow


def place(stack, **fields):
    payload = {
        "call_id": "call_1",
        "agent_id": "agent_1",
        "from": "+15550009999",
        "to": "+15550100004",
        "variables": {"batch_id": "batch_1", "contact_id": "contact_1", "name": "Ada"},
        "callback_url": f"{stack.base_url}/_local/webhook-sink/provider",
    }
    payload.update(fields)
    request = urllib.request.Request(
        f"{stack.provider_url}/calls",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


def callbacks(stack) -> list[dict]:
    return [w for w in stack.webhooks if w["url"].endswith("/provider")]


def test_the_outcome_follows_the_last_digit_and_arrives_after_the_call_length(mini_stack):
    # Given
    for n, number in enumerate(["+15550100001", "+15550100002", "+15550100003", "+15550100004"]):
        assert place(mini_stack, call_id=f"c{n}", to=number)[0] == 200
    # When / Then nothing before 60 s of the simulated clock
    mini_stack.advance(59)
    assert callbacks(mini_stack) == []
    mini_stack.advance(1)
    outcomes = {c["body"]["call_id"]: c["body"]["status"] for c in callbacks(mini_stack)}
    assert outcomes == {"c0": "no_answer", "c1": "busy", "c2": "failed", "c3": "completed"}
    completed = next(c["body"] for c in callbacks(mini_stack) if c["body"]["call_id"] == "c3")
    assert completed["duration_seconds"] == 60 and completed["summary"]


def test_the_callback_is_signed_with_the_provider_secret_and_the_injected_time(mini_stack):
    # Given
    place(mini_stack)
    # When
    mini_stack.advance(60)
    # Then
    [callback] = callbacks(mini_stack)
    timestamp = verify_signature(
        mini_stack.provider_secret, callback["headers"]["x-signature"], callback["raw_body"]
    )
    assert timestamp == int(mini_stack.now().timestamp())
    with pytest.raises(AssertionError):
        verify_signature("another secret", callback["headers"]["x-signature"], callback["raw_body"])


def test_a_repeated_call_id_answers_as_before_without_dialling_again(mini_stack):
    first = place(mini_stack)
    again = place(mini_stack, to="+15550100001")
    mini_stack.advance(60)
    assert again == first
    assert len(mini_stack.provider.calls()) == 1
    assert len(callbacks(mini_stack)) == 1


def test_a_refused_caller_id_answers_from_rejected(mini_stack):
    # Given
    mini_stack.request("POST", "/_local/provider/settings", {"reject_from": ["+15550009999"]})
    # When
    status, body = place(mini_stack)
    # Then
    assert (status, body["error"]["code"]) == (422, "from_rejected")
    assert place(mini_stack, **{"from": "+15550008888"}) == (422, body)  # same call_id: as before
    assert place(mini_stack, call_id="other", **{"from": "+15550008888"})[0] == 200
    mini_stack.advance(60)
    assert [c["call_id"] for c in mini_stack.provider.calls()] == ["other"]


def test_an_unknown_agent_or_refused_credentials_refuse_the_call(mini_stack):
    # Given an agent the provider does not know
    mini_stack.request("POST", "/_local/provider/settings", {"unknown_agents": ["agent_gone"]})
    # When / Then its calls are refused with agent_not_found, other agents' are accepted
    status, body = place(mini_stack, agent_id="agent_gone")
    assert (status, body["error"]["code"]) == (404, "agent_not_found")
    assert place(mini_stack, call_id="other")[0] == 200
    # And with our credentials refused, every call answers 401 unauthorized
    mini_stack.request("POST", "/_local/provider/settings", {"refuse_credentials": True})
    status, body = place(mini_stack, call_id="third")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    mini_stack.advance(60)
    assert [c["call_id"] for c in mini_stack.provider.calls()] == ["other"]


def test_the_calls_are_listed_in_order_with_their_campaign_and_contact(mini_stack):
    place(mini_stack, call_id="a")
    mini_stack.advance(10)
    place(mini_stack, call_id="b", to="+15550100002")
    mini_stack.advance(60)
    listed = mini_stack.request("GET", "/_local/provider/calls").json()["items"]
    assert [(c["call_id"], c["status"]) for c in listed] == [("a", "completed"), ("b", "busy")]
    first = listed[0]
    assert (first["batch_id"], first["contact_id"], first["from"], first["agent_id"]) == (
        "batch_1",
        "contact_1",
        "+15550009999",
        "agent_1",
    )
    assert (first["placed_at"], first["ended_at"]) == (
        "2026-11-30T14:00:00.000Z",
        "2026-11-30T14:01:00.000Z",
    )


def test_dropped_callbacks_end_the_call_without_a_callback(mini_stack):
    mini_stack.provider.settings.drop_callbacks = True
    place(mini_stack)
    mini_stack.advance(120)
    assert callbacks(mini_stack) == []
    [call] = mini_stack.provider.calls()
    assert (call["status"], call["callback_status"]) == ("completed", "dropped")


def test_the_call_length_is_a_setting(mini_stack):
    mini_stack.request("POST", "/_local/provider/settings", {"call_seconds": 5})
    place(mini_stack)
    mini_stack.advance(5)
    assert len(callbacks(mini_stack)) == 1


@pytest.mark.parametrize(
    "payload",
    [{"call_id": "x"}, {"call_id": "x", "from": "+1", "to": 5, "callback_url": "u"}, ["a"]],
)
def test_a_malformed_call_is_a_400(mini_stack, payload):
    request = urllib.request.Request(
        f"{mini_stack.provider_url}/calls", data=json.dumps(payload).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(request, timeout=30)
    assert failure.value.code == 400
    assert json.loads(failure.value.read())["error"]["code"] == "invalid_request"

"""The whole local stack of template.yaml, driven over real HTTP (shared by this module)."""

import json
import urllib.error
import urllib.request

import pytest

from tests.local.helpers import put_event

pytestmark = pytest.mark.slow


def get(stack, path: str, headers: dict | None = None) -> tuple[int, object]:
    request = urllib.request.Request(stack.base_url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


def test_the_openapi_document_needs_no_key(live_stack):
    status, document = get(live_stack, "/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.")
    assert "/batch-calls" in document["paths"]


def test_a_request_without_a_valid_key_is_refused(live_stack):
    status, body = get(live_stack, "/batch-calls")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    status, body = get(live_stack, "/batch-calls", {"Authorization": "Bearer not-a-key"})
    assert status == 401


def test_the_configured_keys_are_registered(live_stack):
    assert get(live_stack, "/batch-calls", {"Authorization": "Bearer key-tenant-a"})[0] == 200
    assert get(live_stack, "/batch-calls", {"x-api-key": "key-tenant-b"})[0] == 200


def test_the_local_endpoints_answer(live_stack):
    assert get(live_stack, "/_local/clock")[1]["mode"] == "simulated"
    assert get(live_stack, "/_local/provider/calls") == (200, {"items": []})
    assert get(live_stack, "/_local/webhooks")[0] == 200
    status, body = get(live_stack, "/_local/unknown")
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_every_name_comes_from_the_deployed_stack(live_stack):
    import os

    assert os.environ["CAMPAIGNS_TABLE"] == live_stack.resource("CampaignsTable")
    assert os.environ["CALL_QUEUE_URL"] == live_stack.resource("CallQueue")
    assert os.environ["PLANNING_QUEUE_URL"] == live_stack.resource("PlanningQueue")
    assert os.environ["EVENT_BUS_NAME"] == live_stack.resource("EventBus")
    assert os.environ["PROVIDER_URL"] == live_stack.provider_url
    assert os.environ["PUBLIC_BASE_URL"] == live_stack.base_url
    assert sorted(live_stack.ledgers) == sorted(
        live_stack.resource(q).rsplit("/", 1)[-1]
        for q in ("CallQueue", "PlanningQueue", "ImportQueue", "WebhookQueue")
    )


def test_moto_runs_no_event_source_mapping_itself(live_stack):
    lam = live_stack.client("lambda")
    for mapping in live_stack.deployment.mappings:
        assert lam.get_event_source_mapping(UUID=mapping.uuid)["State"] == "Disabled"
    caller = next(m for m in live_stack.deployment.mappings if m.function == "CallerFunction")
    assert (caller.batch_size, caller.maximum_concurrency) == (10, 10)
    assert caller.report_batch_item_failures


def test_the_provider_secret_is_in_ssm(live_stack):
    parameter = live_stack.client("ssm").get_parameter(
        Name="/batch-calls/provider-secret", WithDecryption=True
    )["Parameter"]
    assert (parameter["Type"], parameter["Value"]) == ("SecureString", live_stack.provider_secret)


def test_the_dispatcher_runs_once_per_simulated_minute(live_stack):
    dispatcher = live_stack.functions["DispatcherFunction"]
    before = dispatcher.invocations
    live_stack.advance(180)
    assert dispatcher.invocations - before == 3


def test_an_event_on_the_bus_reaches_the_events_webhook(live_stack):
    # Given the template's EventsWebhookUrl points at the local sink
    live_stack.request("DELETE", "/_local/webhooks")
    # When
    put_event(
        live_stack,
        live_stack.resource("EventBus"),
        "batch-calls",
        "call.completed",
        {"event": "call.completed", "batchId": "b1"},
    )
    live_stack.run_due()
    # Then
    [delivered] = live_stack.webhooks
    assert delivered["body"] == {"event": "call.completed", "batchId": "b1"}
    assert delivered["headers"]["x-batch-calls-token"] == "local-webhook-token"


def test_a_provider_callback_reaches_the_provider_events_function(live_stack):
    # Given a call placed with the local API as its callback
    function = live_stack.functions["ProviderEventsFunction"]
    before = function.invocations
    payload = {
        "call_id": "live-call-1",
        "from": "+15550009999",
        "to": "+15550100004",
        "callback_url": f"{live_stack.base_url}/provider/events",
    }
    request = urllib.request.Request(
        f"{live_stack.provider_url}/calls", data=json.dumps(payload).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    # When the call ends
    live_stack.advance(60)
    # Then the signed outcome went through the HTTP API to the function, which answered
    assert function.invocations == before + 1
    [call] = [c for c in live_stack.provider.calls() if c["call_id"] == "live-call-1"]
    assert isinstance(call["callback_status"], int)

"""Campaign webhooks end to end on the local stack: bus -> rule -> webhook queue -> sender
-> the local sink, signed (checked with the `standardwebhooks` library), retried on the
schedule through queue delays on the simulated clock, logged, replayed.

Tests share one stack (module scope); each uses its own sink paths and campaigns."""

from __future__ import annotations

import itertools
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from batchcalls.adapters.webhook_store import webhook_counts
from standardwebhooks import Webhook, WebhookVerificationError

pytestmark = pytest.mark.slow
KEY, OTHER_KEY = "key-tenant-a", "key-tenant-b"


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def sink(stack, path: str) -> str:
    return f"{stack.base_url}/_local/webhook-sink/{path}"


def received(stack, path: str) -> list[dict[str, Any]]:
    wanted = f"/_local/webhook-sink/{path}"
    return [h for h in stack.webhooks if urllib.parse.urlsplit(h["url"]).path == wanted]


def create(stack, webhooks: dict[str, str], phones=("+12025550104",), key=KEY, **extra) -> str:
    body = {
        "agent_id": "agent_1",
        "phone_numbers": ["+12025550100"],
        "timezone": "America/New_York",
        "webhooks": webhooks,
        "contacts": [{"phone_number": p} for p in phones],
        # Calls at any hour: the tests move the shared clock by days.
        "legal_hours_guard": False,
        "state_rules": False,
        **extra,
    }
    answer = stack.request("POST", "/batch-calls", body, api_key=key)
    assert answer.status == 201, answer.json()
    return str(answer.json()["id"])


def deliveries(stack, campaign_id: str, query: str = "", key=KEY) -> list[dict[str, Any]]:
    answer = stack.request(
        "GET", f"/batch-calls/{campaign_id}/webhook-deliveries{query}", api_key=key
    )
    assert answer.status == 200, answer.json()
    return list(answer.json()["items"])


def verify(secret: str, hook: dict[str, Any], monkeypatch) -> Any:
    """Verify as a receiver would; its clock set to the request's (simulated) time."""
    sent = datetime.fromtimestamp(int(hook["headers"]["webhook-timestamp"]), UTC)

    class ReceiverClock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return sent

    with monkeypatch.context() as patch:
        patch.setattr("standardwebhooks.webhooks.datetime", ReceiverClock)
        return Webhook(secret).verify(hook["raw_body"], hook["headers"])


def test_every_campaign_webhook_arrives_signed_and_verifies(live_stack, monkeypatch):
    # Given a campaign of two contacts with a webhook for each call and for its end
    campaign = create(
        live_stack,
        {
            "on_call_complete": sink(live_stack, "signed/call"),
            "on_batch_complete": sink(live_stack, "signed/done"),
        },
        phones=("+12025550104", "+12025550114"),
    )
    # When its calls are made and it completes
    live_stack.advance(5 * 60)
    # Then each event arrived once, signed with the tenant's secret, id = eventId
    secret = live_stack.request("GET", "/webhook-secret", api_key=KEY).json()["secret"]
    hooks = received(live_stack, "signed/call") + received(live_stack, "signed/done")
    assert sorted(h["body"]["event"] for h in hooks) == [
        "batch.completed",
        "call.completed",
        "call.completed",
    ]
    for hook in hooks:
        body = verify(secret, hook, monkeypatch)
        assert body["batchId"] == campaign
        assert hook["headers"]["webhook-id"] == body["eventId"]
        assert "tenantId" not in body and "webhookUrl" not in body
    # And the delivery log lists them newest first, each delivered at its first attempt
    logged = deliveries(live_stack, campaign)
    assert [d["id"] for d in logged] == sorted((d["id"] for d in logged), reverse=True)
    assert {(d["status"], d["attempts"], d["last_status_code"]) for d in logged} == {
        ("succeeded", 1, 200)
    }
    assert {d["event_id"] for d in logged} == {h["headers"]["webhook-id"] for h in hooks}
    assert webhook_counts("tenant_a", campaign) == {
        "sent": 3,
        "succeeded": 3,
        "failed": 0,
        "pending": 0,
    }


def test_a_receiver_failing_three_times_gets_four_attempts_on_the_schedule_in_one_delivery(
    live_stack,
):
    # Given a receiver that answers 500 three times, then 200
    campaign = create(live_stack, {"on_call_complete": sink(live_stack, "fail-3/recovers")})
    # When the call ends and the clock runs past 5 s, 5 min and 30 min
    live_stack.advance(2 * 60)
    live_stack.advance(5 + 300 + 1800 + 60)
    # Then the receiver got 4 requests of one webhook-id, each retry that long after
    hooks = received(live_stack, "fail-3/recovers")
    assert len(hooks) == 4
    assert len({h["headers"]["webhook-id"] for h in hooks}) == 1
    times = [seconds(h["received_at"]) for h in hooks]
    assert [b - a for a, b in itertools.pairwise(times)] == [5, 300, 1800]
    # And the log shows one delivery with the four attempts
    [delivery] = deliveries(live_stack, campaign)
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 4)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500, 200]
    assert delivery["attempt_log"][0]["error"] == "HTTP 500"
    assert webhook_counts("tenant_a", campaign) == {
        "sent": 4,
        "succeeded": 1,
        "failed": 0,
        "pending": 0,
    }
    # And the campaign's analytics show the same counts
    analytics = live_stack.request("GET", f"/batch-calls/{campaign}/analytics", api_key=KEY)
    assert analytics.json()["webhooks"] == {"sent": 4, "succeeded": 1, "failed": 0, "pending": 0}


def test_a_receiver_down_for_good_is_failed_after_the_schedule_and_a_replay_delivers_it(
    live_stack,
):
    # Given a receiver that fails its first 7 requests
    campaign = create(live_stack, {"on_call_complete": sink(live_stack, "fail-7/down")})
    # When the whole schedule passes (about 17.6 hours)
    live_stack.advance(2 * 60)
    live_stack.advance(18 * 3600)
    # Then the delivery is failed after 7 attempts, nothing more is due
    [delivery] = deliveries(live_stack, campaign, "?status=failed")
    assert (delivery["attempts"], delivery["next_attempt_at"]) == (7, None)
    assert deliveries(live_stack, campaign, "?status=pending") == []
    assert webhook_counts("tenant_a", campaign)["failed"] == 1
    # When it is replayed (the campaign is completed: any state is fine)
    path = f"/batch-calls/{campaign}/webhook-deliveries"
    replay = live_stack.request("POST", f"{path}/{delivery['id']}/replay", api_key=KEY)
    assert replay.status == 202
    # Then it is delivered at once, with the same webhook-id
    [replayed] = deliveries(live_stack, campaign)
    assert (replayed["status"], replayed["attempts"]) == ("succeeded", 8)
    hooks = received(live_stack, "fail-7/down")
    assert len(hooks) == 8 and len({h["headers"]["webhook-id"] for h in hooks}) == 1
    assert webhook_counts("tenant_a", campaign) == {
        "sent": 8,
        "succeeded": 1,
        "failed": 0,
        "pending": 0,
    }
    # And an unknown delivery (or one of another tenant) is a 404
    unknown = live_stack.request("POST", f"{path}/whd_0000000000000abc/replay", api_key=KEY)
    assert unknown.status == 404
    foreign = live_stack.request("POST", f"{path}/{delivery['id']}/replay", api_key=OTHER_KEY)
    assert foreign.status == 404


def test_the_previous_secret_signs_too_for_24_hours_after_a_rotation(live_stack, monkeypatch):
    # Given the tenant's secret, then a rotation
    old = live_stack.request("GET", "/webhook-secret", api_key=OTHER_KEY).json()["secret"]
    rotated = live_stack.request("POST", "/webhook-secret/rotate", api_key=OTHER_KEY).json()
    new = rotated["secret"]
    assert new != old and new.startswith("whsec_")
    assert seconds(rotated["previous_valid_until"]) == live_stack.now().timestamp() + 86400
    # When a webhook is sent within the 24 hours
    create(live_stack, {"on_call_complete": sink(live_stack, "rotation/during")}, key=OTHER_KEY)
    live_stack.advance(3 * 60)
    # Then it carries both signatures, and verifies with either secret
    [during] = received(live_stack, "rotation/during")
    assert len(during["headers"]["webhook-signature"].split(" ")) == 2
    assert verify(new, during, monkeypatch) and verify(old, during, monkeypatch)
    # When one is sent after them
    live_stack.advance(24 * 3600)
    assert live_stack.request("GET", "/webhook-secret", api_key=OTHER_KEY).json() == {
        "secret": new,
        "previous_valid_until": None,
    }
    create(live_stack, {"on_call_complete": sink(live_stack, "rotation/after")}, key=OTHER_KEY)
    live_stack.advance(3 * 60)
    # Then only the new secret signs it
    [after] = received(live_stack, "rotation/after")
    assert verify(new, after, monkeypatch)
    with pytest.raises(WebhookVerificationError):
        verify(old, after, monkeypatch)


def test_a_private_address_is_refused_at_create_and_at_send(live_stack, monkeypatch):
    # A literal private address: 422 at create and at patch, nothing stored
    body = {"name": "private", "status": "draft"}
    refused = live_stack.request(
        "POST",
        "/batch-calls",
        {**body, "webhooks": {"on_call_complete": "https://10.0.0.5/hook"}},
        api_key=KEY,
    )
    assert refused.status == 422
    assert [d["field"] for d in refused.json()["error"]["details"]] == ["webhooks.on_call_complete"]
    draft = live_stack.request("POST", "/batch-calls", body, api_key=KEY).json()["id"]
    patched = live_stack.request(
        "PATCH",
        f"/batch-calls/{draft}",
        {"webhooks": {"on_batch_complete": "https://169.254.169.254/latest"}},
        api_key=KEY,
    )
    assert patched.status == 422
    # Given a name that does not resolve yet (accepted), resolving to a private address
    # by the time the webhook is sent
    campaign = create(live_stack, {"on_call_complete": "https://hooks.invalid/calls"})
    monkeypatch.setattr(
        "batchcalls.adapters.webhook_http.resolve_host",
        lambda host: ["10.0.0.7"] if host == "hooks.invalid" else [],
    )
    # When the call ends
    live_stack.advance(3 * 60)
    # Then the attempt is recorded failed, never sent, and not retried
    [delivery] = deliveries(live_stack, campaign)
    assert (delivery["status"], delivery["attempts"], delivery["next_attempt_at"]) == (
        "failed",
        1,
        None,
    )
    assert delivery["last_error"].startswith("refused: hooks.invalid resolves to a non-public")


def test_a_message_delivered_twice_by_sqs_makes_no_extra_attempt(live_stack, faults):
    # Given every batch of the webhook queue delivered twice, and a receiver failing once
    faults.add(kind="duplicate_deliveries", function="WebhookSenderFunction", count=1000)
    campaign = create(live_stack, {"on_call_complete": sink(live_stack, "fail-1/twice")})
    # When the call ends and the retry is due
    live_stack.advance(3 * 60)
    # Then the receiver got two requests (the attempt and its retry), no more
    assert len(received(live_stack, "fail-1/twice")) == 2
    [delivery] = deliveries(live_stack, campaign)
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 2)
    assert sum(f.fired for f in faults.all()) > 0


# Last of the module: each attempt at a hanging receiver takes its 10 s of real time.
def test_a_hanging_receiver_is_timed_out_and_retried_while_other_calls_go_on_time(live_stack):
    # Given a campaign whose receiver never answers, and another campaign starting in 3
    # minutes, one call a second
    hanging = create(live_stack, {"on_call_complete": sink(live_stack, "hang/slow")})
    start = live_stack.now() + timedelta(minutes=3)
    other = create(
        live_stack,
        {},
        phones=("+12025550204", "+12025550214", "+12025550224"),
        schedule_type="scheduled",
        scheduled_at=iso(start),
        max_calls_per_second=1,
    )
    planned = {
        c["phone_number"]: seconds(c["scheduled_at"])
        for c in live_stack.request("GET", f"/batch-calls/{other}/contacts", api_key=KEY).json()[
            "items"
        ]
    }
    # When the clock runs 4 minutes
    live_stack.advance(4 * 60)
    # Then the webhook was tried, timed out after 10 s, and tried again 5 s later
    [delivery] = deliveries(live_stack, hanging)
    assert (delivery["status"], delivery["attempts"]) == ("pending", 2)
    assert [a["error"] for a in delivery["attempt_log"]] == ["no response within 10 s"] * 2
    first, second = (seconds(a["at"]) for a in delivery["attempt_log"])
    assert second - first == 5
    assert seconds(delivery["next_attempt_at"]) == second + 300
    # And the other campaign's calls were placed at their planned seconds
    calls = [
        c
        for c in live_stack.request("GET", "/_local/provider/calls").json()["items"]
        if c["batch_id"] == other
    ]
    assert sorted(seconds(c["placed_at"]) - planned[c["to"]] for c in calls) == [0, 0, 0]

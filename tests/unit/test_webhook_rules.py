"""Campaign webhooks as pure rules: the retry schedule, the Standard Webhooks signature,
the URL rules (no socket: names resolve through a given table)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from batchcalls.domain import webhooks as rules
from standardwebhooks import Webhook

SENT_AT = datetime(2026, 11, 30, 14, 0, 5, tzinfo=UTC)
DETAIL = {
    "event": "call.completed",
    "eventId": "evt_0123456789abcdef01234567",
    "occurredAt": "2026-11-30T14:00:00.000Z",
    "batchId": "batch_x",
    "status": "COMPLETED",
}


def names(table: dict[str, list[str]]):
    return lambda host: table.get(host, [])


def verify_at(secret: str, body: str, headers: dict[str, str], monkeypatch) -> object:
    """standardwebhooks.verify checks the timestamp against its own clock: set it to the
    sending time (the tests' instants are simulated)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return SENT_AT

    monkeypatch.setattr("standardwebhooks.webhooks.datetime", Frozen)
    return Webhook(secret).verify(body, headers)


# ------------------------------------------------------------------ the schedule
def test_failed_attempts_are_retried_5s_5min_30min_2h_5h_10h_after_the_previous_one() -> None:
    delays = [rules.next_delay(n) for n in range(1, 8)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, None]
    assert rules.ATTEMPTS_PER_ROUND == 7
    # a receiver down for good is given up about 17.6 hours after the first attempt
    assert sum(rules.RETRY_DELAYS_SECONDS) == 63_305


def test_only_a_2xx_is_a_success() -> None:
    assert [rules.succeeded(c) for c in (200, 204, 299)] == [True] * 3
    assert [rules.succeeded(c) for c in (None, 199, 301, 302, 400, 500)] == [False] * 6


# ------------------------------------------------------------------ signing
def test_the_body_is_the_detail_and_the_routing_is_in_the_resources() -> None:
    assert json.loads(rules.body_of(DETAIL)) == DETAIL
    resources = ["tenant/tenant_a", "webhook/https://hooks.example.com/calls?x=1"]
    assert rules.routing(resources) == ("tenant_a", "https://hooks.example.com/calls?x=1")
    assert rules.routing(["tenant/tenant_a"]) == ("tenant_a", None)


def test_a_new_secret_is_whsec_and_the_base64_of_32_random_bytes() -> None:
    secret = rules.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert rules.new_secret() != secret


def test_the_signature_verifies_with_the_standardwebhooks_library(monkeypatch) -> None:
    # Given a secret and a body
    secret = rules.new_secret()
    body = rules.body_of(DETAIL)
    # When the headers are made
    headers = rules.headers([secret], DETAIL["eventId"], SENT_AT, body)
    # Then they are Standard Webhooks' and verify
    assert headers["webhook-id"] == DETAIL["eventId"]
    assert headers["webhook-timestamp"] == str(int(SENT_AT.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert verify_at(secret, body, headers, monkeypatch) == json.loads(body)


def test_during_a_rotation_both_secrets_sign_and_either_verifies(monkeypatch) -> None:
    new, old = rules.new_secret(), rules.new_secret()
    body = rules.body_of(DETAIL)
    headers = rules.headers([new, old], DETAIL["eventId"], SENT_AT, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify_at(new, body, headers, monkeypatch)
    assert verify_at(old, body, headers, monkeypatch)


def test_a_changed_body_does_not_verify(monkeypatch) -> None:
    secret = rules.new_secret()
    body = rules.body_of(DETAIL)
    headers = rules.headers([secret], DETAIL["eventId"], SENT_AT, body)
    with pytest.raises(Exception, match="signature"):
        verify_at(secret, body.replace("COMPLETED", "FAILED"), headers, monkeypatch)


def test_delivery_ids_sort_by_the_events_time_and_are_stable() -> None:
    earlier = rules.delivery_id("evt_a", 1_764_511_200_000)
    later = rules.delivery_id("evt_b", 1_764_511_200_001)
    assert earlier < later and rules.is_delivery_id(earlier)
    assert rules.delivery_id("evt_a", 1_764_511_200_000) == earlier
    assert not rules.is_delivery_id("whd_../../x")
    assert rules.occurred_ms(DETAIL, 0) == 1_796_047_200_000


# ------------------------------------------------------------------ URLs
@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/x",
        "https://192.168.1.10:8443/x",
        "https://172.16.0.1/x",
        "https://100.64.0.1/x",
        "https://0.0.0.0/x",
        "https://[::ffff:10.0.0.1]/x",
    ],
)
def test_literal_private_loopback_link_local_and_metadata_addresses_are_refused(url) -> None:
    assert rules.url_problem(url, names({})) is not None


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    resolve = names({"hooks.example.com": ["93.184.216.34", "10.1.2.3"]})
    problem = rules.url_problem("https://hooks.example.com/x", resolve)
    assert problem == "must reach a public address: 10.1.2.3 is not a public address"


def test_a_public_name_a_public_address_and_a_name_not_resolving_yet_are_accepted() -> None:
    resolve = names({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    assert rules.url_problem("https://hooks.example.com/x", resolve) is None
    assert rules.url_problem("https://93.184.216.34/x", resolve) is None
    assert rules.url_problem("https://not-yet.example.com/x", resolve) is None


def test_only_https_is_accepted_and_no_credentials_in_the_url() -> None:
    resolve = names({"hooks.example.com": ["93.184.216.34"]})
    assert rules.url_problem("http://hooks.example.com/x", resolve) == "must be an https:// URL"
    assert rules.url_problem("https://u:p@hooks.example.com/x", resolve) is not None


def test_the_local_sink_is_accepted_only_where_the_local_stack_names_it() -> None:
    sink = "http://127.0.0.1:3000/_local/webhook-sink/"
    url = "http://127.0.0.1:3000/_local/webhook-sink/fail-3/calls"
    # On AWS (no sink set) it is a loopback http URL: refused
    assert rules.url_problem(url, names({})) is not None
    # On the local stack, its own sink only
    assert rules.url_problem(url, names({}), sink) is None
    assert rules.url_problem("http://127.0.0.1:3000/other", names({}), sink) is not None
    assert rules.url_problem("http://127.0.0.1:9999/_local/webhook-sink/x", names({}), sink)

"""Rules the runtime applies as AWS does: partial batch failures, target inputs, signing."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from local_stack.eventbus import target_input
from local_stack.provider import ProviderSettings, outcome_for, sign
from local_stack.queues import LedgerMessage, failed_message_ids
from local_stack.stack import LocalStack, parse_api_keys

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
EVENT = {
    "id": "e1",
    "source": "batch-calls",
    "detail-type": "call.completed",
    "time": "2026-11-30T14:00:00Z",
    "detail": {"batchId": "b1", "status": "COMPLETED"},
}


def message(message_id: str) -> LedgerMessage:
    return LedgerMessage(message_id, "rh", "{}", "md5", {}, {}, None, NOW, NOW, 0)


BATCH = [message("m1"), message("m2")]


@pytest.mark.parametrize(
    ("result", "error", "report", "failed"),
    [
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, None, True, {"m2"}),
        ({"batchItemFailures": []}, None, True, set()),
        (None, None, True, set()),
        ({}, None, True, set()),
        ({"batchItemFailures": [{"itemIdentifier": "other"}]}, None, True, {"m1", "m2"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None, True, {"m1", "m2"}),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, None, False, set()),
        (None, RuntimeError("x"), True, {"m1", "m2"}),
        (None, RuntimeError("x"), False, {"m1", "m2"}),
    ],
)
def test_which_records_of_a_batch_fail_follows_lambda(result, error, report, failed):
    assert failed_message_ids(BATCH, result, error, report) == failed


def test_a_target_receives_the_event_its_input_settings_make():
    assert json.loads(target_input({"Arn": "x"}, EVENT)) == EVENT
    assert json.loads(target_input({"Arn": "x", "InputPath": "$.detail"}, EVENT)) == EVENT["detail"]
    assert target_input({"Arn": "x", "Input": '{"noon": true}'}, EVENT) == '{"noon": true}'
    transformer = {
        "InputPathsMap": {"batch": "$.detail.batchId", "detail": "$.detail"},
        "InputTemplate": '{"batch": "<batch>", "all": <detail>}',
    }
    transformed = json.loads(target_input({"Arn": "x", "InputTransformer": transformer}, EVENT))
    assert transformed == {"batch": "b1", "all": EVENT["detail"]}


def test_the_simulated_outcome_follows_the_last_digit_of_the_number():
    assert [
        outcome_for(n) for n in ("+15550101", "+15550102", "+15550103", "+15550104", "+15550100")
    ] == [
        "no_answer",
        "busy",
        "failed",
        "completed",
        "completed",
    ]


def test_a_signature_is_the_hmac_of_timestamp_dot_body():
    body = b'{"call_id": "c1"}'
    expected = hmac.new(b"s3cret", b"1796047200." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1796047200, body) == f"t=1796047200,v1={expected}"


def test_local_settings_come_from_the_environment():
    options = LocalStack.options_from_env(
        {
            "PORT": "4000",
            "CLOCK": "simulated",
            "CLOCK_START": "2026-11-30T14:00:00Z",
            "API_KEYS": "k1:t1, k2:t2",
            "SIM_PROVIDER_REJECT_FROM": "+15550000,+15550001",
            "SIM_PROVIDER_CALL_SECONDS": "90",
            "SIM_PROVIDER_DROP_CALLBACKS": "true",
        }
    )
    assert options["port"] == 4000 and options["provider_port"] == 4001
    assert options["clock"] == "simulated"
    assert parse_api_keys(options["api_keys"]) == {"k1": "t1", "k2": "t2"}
    assert options["provider"] == ProviderSettings(
        90.0, frozenset({"+15550000", "+15550001"}), True
    )
    with pytest.raises(ValueError):
        parse_api_keys("no-tenant")

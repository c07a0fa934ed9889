"""Rotating the provider secret in SSM drops no callback: with `new,old` in the parameter
the provider_events handler accepts either signature and refuses any other (moto SSM,
the template's parameter name)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.base import clear_caches
from batchcalls.domain.outcomes import sign
from batchcalls.settings import reset_settings

from tests.support.api import LambdaContextStub, load_event

# Signed and well formed, but not an outcome the service takes: the answer is 422 once
# the signature is accepted, 401 if it is not, and nothing is recorded either way.
BODY = json.dumps({"call_id": "call_rotation", "status": "not-an-outcome"})


@pytest.fixture
def secret_parameter(aws, monkeypatch) -> Any:
    from functions.provider_events import app

    monkeypatch.delenv("PROVIDER_SECRET", raising=False)
    name = "/batch-calls/provider-secret"
    monkeypatch.setenv("PROVIDER_SECRET_NAME", name)
    ssm = boto3.client("ssm", region_name="us-east-1")

    def store(value: str) -> None:
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
        clear_caches()  # what max_age (300 s) does on AWS
        reset_settings()
        app._secret.cache_clear()

    yield store
    clear_caches()
    app._secret.cache_clear()


def callback(clock: Any, secret: str) -> int:
    from functions.provider_events import app

    event = load_event("provider_events_completed.json")
    event["body"] = BODY
    event["headers"]["x-signature"] = sign(secret, int(clock.now().timestamp()), BODY.encode())
    return app.lambda_handler(event, LambdaContextStub())["statusCode"]


def test_a_rotation_accepts_both_secrets_then_only_the_new_one(secret_parameter, clock):
    # Given the old secret alone
    secret_parameter("old-secret")
    assert (callback(clock, "old-secret"), callback(clock, "new-secret")) == (422, 401)
    # When the new one is put first, the old one kept after it
    secret_parameter("new-secret,old-secret")
    # Then a callback signed with either is accepted, with a third it is not
    assert callback(clock, "new-secret") == 422
    assert callback(clock, "old-secret") == 422
    assert callback(clock, "third-secret") == 401
    # And once the provider signs with the new one, the old one is dropped
    secret_parameter("new-secret")
    assert (callback(clock, "new-secret"), callback(clock, "old-secret")) == (422, 401)


def test_secrets_one_per_line_work_as_well(secret_parameter, clock):
    secret_parameter("new-secret\nold-secret\n")
    assert (callback(clock, "new-secret"), callback(clock, "old-secret")) == (422, 422)

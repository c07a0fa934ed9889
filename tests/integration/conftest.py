"""Integration fixtures: moto with the template's resources, the api handler, API keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from batchcalls.adapters.api_keys import register_api_key
from batchcalls.adapters.tables import bind_tables
from batchcalls.settings import StorageSettings, load_settings, reset_settings
from moto import mock_aws

from tests.support.api import ApiClient
from tests.support.aws import create_template_resources, environment_for
from tests.support.template import resources_of_type

TENANT_A_KEY = "key-tenant-a"
TENANT_B_KEY = "key-tenant-b"


@pytest.fixture
def aws(clock: Any) -> Iterator[dict[str, str]]:
    with mock_aws():
        physical = create_template_resources()
        saved = dict(os.environ)
        # One process runs every handler here: give it every function's environment.
        for function in resources_of_type("AWS::Serverless::Function"):
            os.environ.update(environment_for(function, physical))
        reset_settings()
        bind_tables(load_settings(StorageSettings))
        try:
            yield physical
        finally:
            os.environ.clear()
            os.environ.update(saved)
            reset_settings()


@pytest.fixture
def api(aws: dict[str, str]) -> Iterator[ApiClient]:
    from functions.api import app

    app._settings.cache_clear()
    app._default_service.cache_clear()
    register_api_key("tenant_a", TENANT_A_KEY)
    register_api_key("tenant_b", TENANT_B_KEY)
    yield ApiClient(app.lambda_handler, TENANT_A_KEY)
    app._settings.cache_clear()
    app._default_service.cache_clear()

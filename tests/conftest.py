"""Shared fixtures: AWS resources from template.yaml under moto, and the api handler."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import botocore.loaders
import botocore.session
import pytest
from batchcalls.clock import SimulatedClock, SystemClock, use_clock

from local_stack import moto_hooks

# Every test runs with fake credentials; nothing reaches a real account.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="1",
    POWERTOOLS_METRICS_NAMESPACE="BatchCallsTests",
    POWERTOOLS_SERVICE_NAME="batch-calls-tests",
    POWERTOOLS_DEV="0",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
# moto's DynamoDB transactions are not safe across threads (the code writes from worker
# threads) and copy whole tables; the local runtime's hook makes them safe and cheap.
moto_hooks.install()
# Each botocore session parses the same JSON models again (endpoints and each service:
# about 0.3 s), and there is a new session per test (mock_aws resets boto3's default one,
# pynamodb makes its own): every session of the test process shares one loader and its
# cache. What the models say is unchanged.
_shared_loader = botocore.loaders.create_loader()
botocore.session.create_loader = lambda search_path_string=None: _shared_loader

FIXED_NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York


@pytest.fixture
def clock() -> Iterator[SimulatedClock]:
    simulated = SimulatedClock(FIXED_NOW)
    use_clock(simulated)
    yield simulated
    use_clock(SystemClock())

"""schemathesis against the local stack (real HTTP, simulated clock): every operation of
the OpenAPI document the stack serves is called with generated requests (the document's
examples, its coverage cases, then random ones), authenticated with a local key, and
every answer must pass not_a_server_error, status_code_conformance and
response_schema_conformance.

Bounded: a fixed seed, 10 random cases per operation after the examples and coverage
phases, no stateful phase; about 40 s on two cores. The ids in paths are those of a real
campaign and contact, so operations reach past the 404 into their logic.

schemathesis runs as its CLI in a child process (its pytest plugin does not load lazy
schemas under pytest 9); the stack serves it on loopback from this process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from local_stack import LocalStack
from tests.local.conftest import LIVE_KEYS

pytestmark = pytest.mark.slow

KEY = next(iter(LIVE_KEYS))
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"


def real_ids(stack: LocalStack) -> tuple[str, str]:
    """A draft ready to be scheduled, with two contacts: the ids schemathesis puts in paths."""
    created = stack.request(
        "POST",
        "/batch-calls",
        {
            "status": "draft",
            "agent_id": "agent_123",
            "phone_numbers": ["+14155550100"],
            "contacts": [{"phone_number": "+12125550104"}, {"phone_number": "+13125550188"}],
        },
        api_key=KEY,
    )
    assert created.status == 201, created.body
    campaign_id = created.json()["id"]
    contacts = stack.request("GET", f"/batch-calls/{campaign_id}/contacts", api_key=KEY).json()
    return campaign_id, contacts["items"][0]["id"]


def test_every_operation_answers_as_its_document_says(live_stack: LocalStack, tmp_path: Path):
    # Given the stack's own document, and a real campaign and contact for the path ids
    campaign_id, contact_id = real_ids(live_stack)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        # No cache: it would be written into the working directory (the repository).
        "[cache]\nenabled = false\n\n"
        f'[parameters]\n"path.campaign_id" = "{campaign_id}"\n"path.contact_id" = "{contact_id}"\n'
    )
    # When schemathesis calls every operation with what it generates
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{live_stack.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {KEY}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "10",
        "--seed",
        "20261130",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    # Then no check failed on any operation
    report = run.stdout[-20_000:] + run.stderr[-5_000:]
    assert run.returncode == 0, report
    # ... and it tested every operation of the document (but the document's own, which
    # schemathesis leaves out)
    paths = live_stack.request("GET", "/openapi.json").json()["paths"]
    operations = sum(len(methods) for path, methods in paths.items() if path != "/openapi.json")
    assert f"{operations} selected / {operations} total" in run.stdout, report
    assert f"Tested: {operations}" in run.stdout, report

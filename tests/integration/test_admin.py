"""The admin command against a CloudFormation stack holding the template's ApiKeys table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from batchcalls.adapters.api_keys import hash_key, tenant_for_key
from moto import mock_aws
from moto.server import ThreadedMotoServer

from tests.support.template import ROOT, load_template
from tools.admin import AdminError, Target, api_keys_table, create_key, main

REGION = "us-east-1"
STACK = "batch-calls-test"


def api_keys_stack_template() -> str:
    """A stack with just the template's ApiKeys table and the output the command reads."""
    template = load_template()
    return json.dumps(
        {
            "Resources": {"ApiKeysTable": template["Resources"]["ApiKeysTable"]},
            "Outputs": {"ApiKeysTableName": template["Outputs"]["ApiKeysTableName"]},
        }
    )


def deploy_api_keys_stack(endpoint_url: str | None = None) -> str:
    cloudformation = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint_url)
    cloudformation.create_stack(StackName=STACK, TemplateBody=api_keys_stack_template())
    outputs = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    return next(o["OutputValue"] for o in outputs if o["OutputKey"] == "ApiKeysTableName")


def table_items(table_name: str, endpoint_url: str | None = None) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint_url)
    return dynamodb.scan(TableName=table_name)["Items"]


@pytest.fixture
def stack() -> Iterator[str]:
    with mock_aws():
        yield deploy_api_keys_stack()


def test_a_created_key_authenticates_as_its_tenant(stack: str) -> None:
    # Given a stack with an ApiKeys table
    target = Target(STACK, REGION)

    # When the admin creates a tenant
    created = create_key(target, "acme", "ops laptop", new_tenant_only=True)

    # Then the key it returns maps to that tenant in the stack's table
    assert created.table_name == stack
    assert created.new_tenant
    with api_keys_table(target, stack):
        assert tenant_for_key(created.api_key) == "acme"
        assert tenant_for_key(created.api_key + "x") is None


def test_only_the_hash_of_a_key_is_stored(stack: str) -> None:
    created = create_key(Target(STACK, REGION), "acme", "ci")

    items = table_items(stack)
    assert len(items) == 1
    assert items[0]["key_hash"] == {"S": hash_key(created.api_key)}
    assert items[0]["tenant_id"] == {"S": "acme"}
    assert items[0]["label"] == {"S": "ci"}
    assert created.api_key not in json.dumps(items)


def test_every_key_is_new_and_a_tenant_may_hold_several(stack: str) -> None:
    target = Target(STACK, REGION)
    first = create_key(target, "acme", new_tenant_only=True)

    second = create_key(target, "acme")

    assert first.api_key != second.api_key
    assert not second.new_tenant
    with api_keys_table(target, stack):
        assert tenant_for_key(first.api_key) == tenant_for_key(second.api_key) == "acme"


def test_create_tenant_refuses_a_tenant_that_already_has_a_key(stack: str) -> None:
    # Given a tenant with a key
    target = Target(STACK, REGION)
    create_key(target, "acme", new_tenant_only=True)

    # When the admin tries to create it again
    with pytest.raises(AdminError, match="tenant 'acme' already exists"):
        create_key(target, "acme", new_tenant_only=True)

    # Then no second key was stored: "new tenant" never silently joins an existing one
    assert len(table_items(stack)) == 1


def test_the_command_prints_only_the_key_on_stdout(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["create-tenant", "--name", "acme", "--stack-name", STACK, "--region", REGION])

    out, err = capsys.readouterr()
    api_key = out.strip()
    assert code == 0
    assert out == api_key + "\n"
    assert "cannot be recovered" in err
    assert table_items(stack)[0]["key_hash"] == {"S": hash_key(api_key)}


def test_an_unknown_stack_is_one_line_on_stderr_and_exit_code_1(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["create-key", "--tenant", "acme", "--stack-name", "nope", "--region", REGION])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == "python -m tools.admin: error: no stack 'nope' in us-east-1\n"
    assert table_items(stack) == []


def test_a_stack_whose_table_is_gone_is_one_line_on_stderr(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=stack)

    code = main(["create-key", "--tenant", "acme", "--stack-name", STACK, "--region", REGION])

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "ResourceNotFoundException" in err


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback, as the local stack runs one."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_the_command_works_against_a_stack_behind_an_endpoint_url(moto_endpoint: str) -> None:
    # Given a stack deployed into a moto server (the local stack's setup)
    table_name = deploy_api_keys_stack(moto_endpoint)

    # When the admin runs the command as documented, with no AWS configuration at all
    environment = {"PYTHONPATH": "layers/common", "PATH": os.environ.get("PATH", "")}
    command = ["create-tenant", "--name", "acme", "--stack-name", STACK]
    result = subprocess.run(
        [sys.executable, "-m", "tools.admin", *command, "--endpoint-url", moto_endpoint],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then the printed key is stored, hashed, in that stack's table
    assert result.returncode == 0, result.stderr
    items = table_items(table_name, moto_endpoint)
    assert [item["key_hash"]["S"] for item in items] == [hash_key(result.stdout.strip())]
    assert items[0]["tenant_id"] == {"S": "acme"}


class _NotAws(BaseHTTPRequestHandler):
    """Answers like the local stack's API does to a path it does not know."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"error": {"code": "not_found", "message": "no route", "details": []}}'
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_an_endpoint_that_is_not_aws_is_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the URL of something else on loopback (e.g. the local stack's API, not moto)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAws)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        # When the admin points the command at it
        code = main(
            ["create-key", "--tenant", "acme", "--stack-name", STACK, "--endpoint-url", url]
        )
    finally:
        server.shutdown()
        server.server_close()

    # Then the command says so on one line instead of a traceback
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        f"python -m tools.admin: error: {url} does not answer as AWS does: "
        "is it the moto server's URL (not the API's)?\n"
    )

"""The admin command against a CloudFormation stack holding the template's ApiKeys table:
creating, listing and revoking keys."""

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
from batchcalls.clock import SimulatedClock
from moto import mock_aws
from moto.server import ThreadedMotoServer

from tests.support.template import ROOT, load_template
from tools.admin import (
    AdminError,
    Target,
    api_keys_table,
    create_key,
    list_keys,
    main,
    revoke_key,
)

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


# ---------------------------------------------------------------------- list-keys
def test_list_keys_shows_each_key_by_tenant_then_creation_time(
    stack: str, clock: SimulatedClock
) -> None:
    # Given keys of two tenants, made a minute apart
    target = Target(STACK, REGION)
    made = []
    for tenant, label in (("zeta", None), ("acme", "laptop"), ("acme", "ci")):
        made.append(create_key(target, tenant, label))
        clock.advance(60)

    # When the admin lists them
    keys = list_keys(target)

    # Then each key appears once, by tenant then age, with what was stored and no more
    assert [(k.tenant_id, k.label, k.created_at) for k in keys] == [
        ("acme", "laptop", "2026-11-30T14:01:00.000Z"),
        ("acme", "ci", "2026-11-30T14:02:00.000Z"),
        ("zeta", None, "2026-11-30T14:00:00.000Z"),
    ]
    assert [k.key_hash for k in keys] == [hash_key(c.api_key) for c in (made[1], made[2], made[0])]


def test_list_keys_of_one_tenant_leaves_the_others_out(stack: str) -> None:
    target = Target(STACK, REGION)
    create_key(target, "acme")
    create_key(target, "zeta")

    assert [k.tenant_id for k in list_keys(target, "acme")] == ["acme"]
    assert list_keys(target, "nobody") == []


def test_the_listing_never_prints_a_key_or_a_whole_hash(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a key
    created = create_key(Target(STACK, REGION), "acme", "ci")

    # When the admin lists the keys
    code = main(["list-keys", "--stack-name", STACK, "--region", REGION])

    # Then the key's hash prefix is shown, neither the key nor its whole hash
    out, err = capsys.readouterr()
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["HASH_PREFIX", "TENANT", "CREATED_AT", "LABEL"]
    assert row.split()[0] == hash_key(created.api_key)[:12]
    assert row.split()[1] == "acme" and row.split()[3] == "ci"
    assert created.api_key not in out + err
    assert hash_key(created.api_key) not in out + err
    assert err == "1 key(s)\n"


# ---------------------------------------------------------------------- revoke-key
def test_a_key_revoked_by_the_key_itself_no_longer_authenticates(stack: str) -> None:
    # Given two keys of one tenant
    target = Target(STACK, REGION)
    kept = create_key(target, "acme", "kept")
    revoked = create_key(target, "acme", "lost laptop")

    # When the admin revokes one by the key itself
    result = revoke_key(target, api_key=revoked.api_key)

    # Then that key no longer maps to the tenant; the other still does
    assert result.key.label == "lost laptop"
    assert result.keys_left == 1
    with api_keys_table(target, stack):
        assert tenant_for_key(revoked.api_key) is None
        assert tenant_for_key(kept.api_key) == "acme"


def test_a_key_is_revoked_by_the_hash_prefix_list_keys_shows(stack: str) -> None:
    # Given a key and the prefix the listing shows for it
    target = Target(STACK, REGION)
    created = create_key(target, "acme")
    prefix = list_keys(target)[0].hash_prefix

    # When the admin revokes it by that prefix
    result = revoke_key(target, key_hash=prefix)

    # Then it is gone, and the tenant has no key left
    assert result.key.key_hash == hash_key(created.api_key)
    assert result.keys_left == 0
    assert table_items(stack) == []


def test_an_unknown_key_is_an_error_and_deletes_nothing(stack: str) -> None:
    target = Target(STACK, REGION)
    create_key(target, "acme")

    with pytest.raises(AdminError, match="no key with hash"):
        revoke_key(target, key_hash="0" * 64)
    with pytest.raises(AdminError, match="no key whose hash starts with 0123456789ab"):
        revoke_key(target, key_hash="0123456789ab")
    with pytest.raises(AdminError, match="no such key"):
        revoke_key(target, api_key="bc_not-a-key")
    assert len(table_items(stack)) == 1


def test_a_prefix_shared_by_two_keys_revokes_neither(stack: str) -> None:
    # Given two keys whose hashes start alike (stored directly: real hashes rarely do)
    target = Target(STACK, REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for key_hash in ("abcdef12" + "0" * 56, "abcdef12" + "1" * 56):
        dynamodb.put_item(
            TableName=stack,
            Item={
                "key_hash": {"S": key_hash},
                "tenant_id": {"S": "acme"},
                "created_at": {"S": "2026-11-30T14:00:00.000Z"},
            },
        )

    # When the admin names the shared prefix
    with pytest.raises(AdminError, match="2 keys have a hash starting with abcdef12"):
        revoke_key(target, key_hash="abcdef12")

    # Then both keys remain
    assert len(table_items(stack)) == 2


def test_revoke_key_on_the_command_line_reports_on_stderr_only(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    created = create_key(Target(STACK, REGION), "acme", "ci")
    prefix = hash_key(created.api_key)[:12]

    code = main(["revoke-key", "--key-hash", prefix, "--stack-name", STACK, "--region", REGION])

    out, err = capsys.readouterr()
    assert code == 0
    assert out == ""
    assert err.startswith(f"key {prefix} of tenant 'acme' (ci) revoked in {stack}")
    assert err.endswith("the tenant has 0 key(s) left\n")
    assert table_items(stack) == []

    again = main(["revoke-key", "--key-hash", prefix, "--stack-name", STACK, "--region", REGION])

    assert again == 1
    assert capsys.readouterr().err == (
        f"python -m tools.admin: error: no key whose hash starts with {prefix}\n"
    )


def test_the_api_refuses_a_revoked_key_on_its_next_request(api: Any) -> None:
    # Given the API's own ApiKeys table behind a stack output, and a key made by the admin
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(
            {
                "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"ApiKeysTableName": {"Value": "ApiKeysTable"}},
            }
        ),
    )
    target = Target(STACK, REGION)
    created = create_key(target, "acme")
    assert api.get("/batch-calls", key=created.api_key).status == 200

    # When the admin revokes it
    revoke_key(target, api_key=created.api_key)

    # Then the very next request with it is refused, and other keys still work
    refused = api.get("/batch-calls", key=created.api_key)
    assert refused.status == 401
    assert refused.body["error"]["code"] == "unauthorized"
    assert api.get("/batch-calls").status == 200

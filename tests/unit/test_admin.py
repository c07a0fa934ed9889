"""The admin command's rules that need no AWS: tenant ids, usage errors, stack outputs,
how keys are listed."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from batchcalls.adapters.tables import ApiKeyRecord
from botocore.exceptions import ClientError

from tests.support.template import ROOT
from tools.admin import (
    AdminError,
    KeyInfo,
    Target,
    api_keys_table,
    api_keys_table_name,
    check_tenant_id,
    format_keys,
    is_loopback,
    main,
    resolve_region,
    revoke_key,
)

TARGET = Target(stack_name="batch-calls", region="eu-west-1")


class StubCloudFormation:
    """Answers describe_stacks like CloudFormation, from a fixed list of stacks."""

    def __init__(self, stacks: dict[str, dict[str, Any]]) -> None:
        self.stacks = stacks

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName not in self.stacks:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        return {"Stacks": [{"StackName": StackName, **self.stacks[StackName]}]}


def stack_with_outputs(**outputs: str) -> dict[str, Any]:
    return {
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
    }


@pytest.mark.parametrize("tenant", ["acme", "a1", "acme-corp_2", "0tenant", "a" * 63])
def test_tenant_ids_of_lowercase_letters_digits_dash_and_underscore_are_accepted(
    tenant: str,
) -> None:
    assert check_tenant_id(tenant) == tenant


@pytest.mark.parametrize(
    "tenant",
    ["", "a", "Acme", "-acme", "_acme", "acme corp", "acme/x", "acme\n", "ácme", "a" * 64],
)
def test_other_tenant_ids_are_refused(tenant: str) -> None:
    with pytest.raises(AdminError, match="invalid tenant id"):
        check_tenant_id(tenant)


def test_a_bad_tenant_id_is_a_usage_error_on_one_line_with_exit_code_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a tenant id with an upper-case letter
    argv = ["create-key", "--tenant", "Acme", "--stack-name", "batch-calls"]

    # When the command parses it
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    # Then it stops before touching AWS, with exit code 2 and one line on stderr
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "invalid tenant id 'Acme'" in err


def test_a_missing_stack_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["create-tenant", "--name", "acme"])

    assert exit_info.value.code == 2
    assert "--stack-name" in capsys.readouterr().err


def test_an_overlong_label_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["create-key", "--tenant", "acme", "--stack-name", "s", "--label", "x" * 201])

    assert exit_info.value.code == 2
    assert "label" in capsys.readouterr().err


def test_the_table_name_comes_from_the_stacks_api_keys_table_output() -> None:
    cloudformation = StubCloudFormation(
        {"batch-calls": stack_with_outputs(ApiUrl="https://x", ApiKeysTableName="bc-ApiKeys-1")}
    )

    assert api_keys_table_name(TARGET, cloudformation) == "bc-ApiKeys-1"


def test_an_unknown_stack_is_reported_by_name() -> None:
    with pytest.raises(AdminError, match="no stack 'batch-calls' in eu-west-1"):
        api_keys_table_name(TARGET, StubCloudFormation({}))


def test_a_stack_without_the_output_is_reported_with_its_status() -> None:
    cloudformation = StubCloudFormation({"batch-calls": stack_with_outputs(ApiUrl="https://x")})

    with pytest.raises(AdminError, match=r"CREATE_COMPLETE.*has no output ApiKeysTableName"):
        api_keys_table_name(TARGET, cloudformation)


def test_binding_the_api_keys_table_is_undone_afterwards() -> None:
    # Given the model as the application bound it
    meta: Any = ApiKeyRecord.Meta  # pynamodb adds region and host to Meta at class creation
    before = (meta.table_name, meta.region, meta.host)
    target = Target("s", "eu-west-1", "http://127.0.0.1:5000")

    # When the admin command binds it to a stack's table
    with api_keys_table(target, "s-ApiKeysTable-1"):
        bound = (meta.table_name, meta.region, meta.host)

    # Then it pointed at that table and endpoint only for the duration
    assert bound == ("s-ApiKeysTable-1", "eu-west-1", "http://127.0.0.1:5000")
    assert (meta.table_name, meta.region, meta.host) == before


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://localhost:4566", True),
        ("http://[::1]:5000", True),
        ("https://dynamodb.eu-west-1.amazonaws.com", False),
        ("http://10.0.0.5:5000", False),
        (None, False),
    ],
)
def test_only_loopback_endpoints_count_as_local(url: str | None, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_a_loopback_endpoint_without_a_configured_region_uses_us_east_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")

    assert resolve_region(None, "http://127.0.0.1:5000") == "us-east-1"
    with pytest.raises(AdminError, match="no AWS region"):
        resolve_region(None, None)
    assert resolve_region("eu-west-1", None) == "eu-west-1"


@pytest.mark.parametrize(
    "argv",
    [
        ["revoke-key", "--stack-name", "s"],
        ["revoke-key", "--stack-name", "s", "--key", "k", "--key-hash", "a" * 12],
    ],
    ids=["neither", "both"],
)
def test_revoke_key_names_the_key_exactly_once(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # When the key to revoke is named by neither or by both of --key and --key-hash
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    # Then it is a usage error, before AWS is reached
    assert exit_info.value.code == 2
    assert "--key" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["abc", "1234567", "xyz12345678", "a" * 65, "3f2a 9c1d7e"])
def test_a_key_hash_is_8_to_64_hex_digits(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["revoke-key", "--key-hash", value, "--stack-name", "s"])

    assert exit_info.value.code == 2
    assert "8 to 64 hex digits" in capsys.readouterr().err


def test_revoke_key_without_a_key_is_refused_before_aws() -> None:
    # No CloudFormation stub is needed: the call must stop before reaching AWS.
    with pytest.raises(AdminError, match="exactly one of --key-hash and --key"):
        revoke_key(TARGET)


def test_a_bad_tenant_filter_of_list_keys_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["list-keys", "--tenant", "Acme", "--stack-name", "s"])

    assert exit_info.value.code == 2
    assert "invalid tenant id 'Acme'" in capsys.readouterr().err


def test_listed_keys_show_a_hash_prefix_tenant_creation_time_and_label_in_columns() -> None:
    # Given two keys, one without a label
    first = KeyInfo("ab" * 32, "acme", "ops laptop", "2026-11-30T14:00:00.000Z")
    second = KeyInfo("cd" * 32, "acme-corp_2", None, "2026-12-01T09:30:00.000Z")

    # When they are formatted
    lines = format_keys([first, second]).splitlines()

    # Then each shows 12 digits of its hash, never the whole hash, under a header
    assert lines == [
        "HASH_PREFIX   TENANT       CREATED_AT                LABEL",
        "abababababab  acme         2026-11-30T14:00:00.000Z  ops laptop",
        "cdcdcdcdcdcd  acme-corp_2  2026-12-01T09:30:00.000Z  -",
    ]


def test_no_keys_is_the_header_alone() -> None:
    assert format_keys([]) == "HASH_PREFIX  TENANT  CREATED_AT  LABEL\n"


def test_the_module_runs_as_a_command_and_documents_every_command() -> None:
    # The documented way to run it: from the repository root, the layer on PYTHONPATH.
    result = subprocess.run(
        [sys.executable, "-m", "tools.admin", "--help"],
        cwd=ROOT,
        env={"PYTHONPATH": "layers/common", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    for command in ("create-tenant", "create-key", "list-keys", "revoke-key"):
        assert command in result.stdout

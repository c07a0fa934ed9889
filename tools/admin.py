"""Admin command: creates tenants and their API keys in a deployed (or local) stack.

Tenants and API keys are never made over the public API. This command finds the stack's
ApiKeys table through its CloudFormation output `ApiKeysTableName`, stores a new key there
as its SHA-256 and prints the key once: it cannot be recovered afterwards.

Run it from the repository root with the shared layer on the path, as Lambda has it in
/opt/python:

    PYTHONPATH=layers/common .venv/bin/python -m tools.admin create-tenant \\
        --name acme --stack-name batch-calls [--label "ops laptop"] [--region eu-west-1]
    PYTHONPATH=layers/common .venv/bin/python -m tools.admin create-key \\
        --tenant acme --stack-name batch-calls [--label "ci"]

Commands:
  create-tenant --name T   a new tenant and its first key; refused if T already has a key
  create-key --tenant T    another key for tenant T (a tenant with no key yet is created)

Both take --stack-name (required), --endpoint-url (the local stack's moto server; default:
AWS itself), --region (default: the AWS configuration, or us-east-1 for a loopback
endpoint) and --label (a note stored next to the key).

A tenant id is 2 to 63 characters of a-z, 0-9, "_" and "-", starting with a letter or
digit. Only the key goes to stdout, so `KEY=$(python -m tools.admin ...)` captures it;
notes go to stderr. Exit codes: 0 done, 1 the stack or table refused, 2 a usage error.
A loopback endpoint with no AWS credentials configured gets moto's fake ones.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import boto3
from batchcalls.adapters.api_keys import new_api_key, register_api_key
from batchcalls.adapters.tables import ApiKeyRecord
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from pynamodb.exceptions import PynamoDBException

TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{1,62}")
TABLE_OUTPUT = "ApiKeysTableName"
MAX_LABEL = 200
LOCAL_REGION = "us-east-1"
EXAMPLES = """\
Only the new key is printed on stdout; it cannot be shown again.

examples (from the repository root; the layer package must be importable):
  PYTHONPATH=layers/common .venv/bin/python -m tools.admin create-tenant \\
      --name acme --stack-name batch-calls --region eu-west-1
  PYTHONPATH=layers/common .venv/bin/python -m tools.admin create-key \\
      --tenant acme --label ci --stack-name batch-calls-local \\
      --endpoint-url http://127.0.0.1:<moto port>

A tenant id is 2-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit.
Exit codes: 0 done, 1 the stack or its table refused, 2 a usage error."""


class AdminError(Exception):
    """A user error: reported as one line on stderr, never as a traceback."""


@dataclass(frozen=True)
class Target:
    """Where the stack lives: its name, and the endpoint and region of its account."""

    stack_name: str
    region: str
    endpoint_url: str | None = None


def check_tenant_id(value: str) -> str:
    # fullmatch, not `$`: "acme\n" must not pass.
    if not TENANT_ID.fullmatch(value):
        raise AdminError(
            f"invalid tenant id {value!r}: 2-63 characters of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit"
        )
    return value


def _tenant_argument(value: str) -> str:
    try:
        return check_tenant_id(value)
    except AdminError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _label_argument(value: str) -> str:
    if len(value) > MAX_LABEL:
        raise argparse.ArgumentTypeError(f"the label is longer than {MAX_LABEL} characters")
    return value


def is_loopback(endpoint_url: str | None) -> bool:
    host = urlsplit(endpoint_url or "").hostname
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_region(region: str | None, endpoint_url: str | None) -> str:
    chosen = region or boto3.session.Session().region_name
    if chosen:
        return chosen
    if is_loopback(endpoint_url):
        return LOCAL_REGION
    raise AdminError("no AWS region: pass --region or set AWS_REGION")


def api_keys_table_name(target: Target, cloudformation: Any | None = None) -> str:
    """The physical name of the stack's ApiKeys table, from its `ApiKeysTableName` output."""
    client = cloudformation or boto3.client(
        "cloudformation", region_name=target.region, endpoint_url=target.endpoint_url
    )
    try:
        stacks = client.describe_stacks(StackName=target.stack_name)["Stacks"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationError":
            raise AdminError(
                f"no stack {target.stack_name!r} in {target.region}"
                + (f" at {target.endpoint_url}" if target.endpoint_url else "")
            ) from None
        raise
    if not stacks:
        raise AdminError(f"no stack {target.stack_name!r} in {target.region}")
    stack = stacks[0]
    for output in stack.get("Outputs") or []:
        if output.get("OutputKey") == TABLE_OUTPUT and output.get("OutputValue"):
            return str(output["OutputValue"])
    raise AdminError(
        f"stack {target.stack_name!r} ({stack.get('StackStatus', 'unknown status')}) "
        f"has no output {TABLE_OUTPUT}: is it a batch-calls stack, fully deployed?"
    )


@contextmanager
def api_keys_table(target: Target, table_name: str) -> Iterator[None]:
    """Point ApiKeyRecord at the stack's table for the duration, then restore its binding."""
    meta: Any = ApiKeyRecord.Meta  # pynamodb adds region and host to Meta at class creation
    saved = (meta.table_name, meta.region, meta.host, ApiKeyRecord._connection)
    meta.table_name = table_name
    meta.region = target.region
    meta.host = target.endpoint_url  # None: the AWS endpoint of the region
    ApiKeyRecord._connection = None  # forget a connection made for another table or host
    try:
        yield
    finally:
        meta.table_name, meta.region, meta.host, ApiKeyRecord._connection = saved


def tenant_has_key(tenant_id: str) -> bool:
    """Whether any key of the tenant exists (a scan: the table holds keys only, few of them)."""
    found = ApiKeyRecord.scan(ApiKeyRecord.tenant_id == tenant_id, attributes_to_get=["key_hash"])
    return next(iter(found), None) is not None


@dataclass(frozen=True)
class CreatedKey:
    api_key: str
    tenant_id: str
    table_name: str
    new_tenant: bool


def create_key(
    target: Target,
    tenant_id: str,
    label: str | None = None,
    *,
    new_tenant_only: bool = False,
    cloudformation: Any | None = None,
) -> CreatedKey:
    """Create and store (hashed) a key of `tenant_id`; the raw key is only in the result."""
    check_tenant_id(tenant_id)
    table_name = api_keys_table_name(target, cloudformation)
    with api_keys_table(target, table_name):
        existed = tenant_has_key(tenant_id)
        if new_tenant_only and existed:
            raise AdminError(
                f"tenant {tenant_id!r} already exists; use create-key to give it another key"
            )
        api_key = new_api_key()
        register_api_key(tenant_id, api_key, label)
    return CreatedKey(api_key, tenant_id, table_name, new_tenant=not existed)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m tools.admin",
        description="Create tenants and API keys in a batch-calls stack (keys are stored hashed).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--label", type=_label_argument, help="a note stored with the key")
        sub.add_argument("--stack-name", required=True, help="the CloudFormation stack")
        sub.add_argument(
            "--endpoint-url",
            help="endpoint of the stack's account, e.g. the local stack's moto server "
            "(default: AWS)",
        )
        sub.add_argument(
            "--region",
            help="AWS region (default: the AWS configuration; us-east-1 on a loopback endpoint)",
        )

    tenant = commands.add_parser(
        "create-tenant",
        help="a new tenant with its first key",
        description="Create a new tenant and its first API key; refused if the tenant has a key.",
    )
    tenant.add_argument(
        "--name", dest="tenant", required=True, type=_tenant_argument, help="the new tenant's id"
    )
    add_common(tenant)

    key = commands.add_parser(
        "create-key",
        help="another key for a tenant",
        description="Create an API key for a tenant (creating the tenant if it has no key yet).",
    )
    key.add_argument("--tenant", required=True, type=_tenant_argument, help="the tenant's id")
    add_common(key)
    return parser


def _use_fake_credentials_on_loopback(endpoint_url: str | None) -> None:
    # The local stack's moto server accepts any credentials; never send fake ones to AWS.
    if is_loopback(endpoint_url) and boto3.session.Session().get_credentials() is None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _use_fake_credentials_on_loopback(args.endpoint_url)
        target = Target(
            stack_name=args.stack_name,
            region=resolve_region(args.region, args.endpoint_url),
            endpoint_url=args.endpoint_url,
        )
        created = create_key(
            target, args.tenant, args.label, new_tenant_only=args.command == "create-tenant"
        )
    except AdminError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    except ResponseParserError:
        print(
            f"{parser.prog}: error: {args.endpoint_url or 'the endpoint'} does not answer "
            "as AWS does: is it the moto server's URL (not the API's)?",
            file=sys.stderr,
        )
        return 1
    except (ClientError, BotoCoreError, PynamoDBException) as error:
        print(f"{parser.prog}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    kind = "new tenant" if created.new_tenant else "tenant"
    print(
        f"API key for {kind} {created.tenant_id!r} stored (hashed) in {created.table_name}. "
        "It is printed once and cannot be recovered:",
        file=sys.stderr,
    )
    print(created.api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())

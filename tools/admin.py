"""Admin command: tenants and their API keys in a deployed (or local) stack.

Tenants and API keys are never made over the public API. This command finds the stack's
ApiKeys table through its CloudFormation output `ApiKeysTableName`, stores a new key there
as its SHA-256 and prints the key once: it cannot be recovered afterwards. It also lists
the keys (never the key itself: a prefix of its hash, tenant, label, creation time) and
revokes one (the item is deleted; the API looks a key up on every request, so it is
refused from then on).

Run it from the repository root with the shared layer on the path, as Lambda has it in
/opt/python:

    PYTHONPATH=layers/common .venv/bin/python -m tools.admin create-tenant \\
        --name acme --stack-name batch-calls [--label "ops laptop"] [--region eu-west-1]
    PYTHONPATH=layers/common .venv/bin/python -m tools.admin create-key \\
        --tenant acme --stack-name batch-calls [--label "ci"]

    PYTHONPATH=layers/common .venv/bin/python -m tools.admin list-keys \\
        --stack-name batch-calls [--tenant acme]
    PYTHONPATH=layers/common .venv/bin/python -m tools.admin revoke-key \\
        --key-hash 3f2a9c1d7e4b --stack-name batch-calls

Commands:
  create-tenant --name T   a new tenant and its first key; refused if T already has a key
  create-key --tenant T    another key for tenant T (a tenant with no key yet is created)
  list-keys [--tenant T]   the keys: hash prefix, tenant, label, created_at (never a key)
  revoke-key --key-hash H | --key K
                           delete one key, named by its hash (or a unique prefix of at
                           least 8 hex digits, as list-keys shows it) or by the key itself

All take --stack-name (required), --endpoint-url (the local stack's moto server; default:
AWS itself) and --region (default: the AWS configuration, or us-east-1 for a loopback
endpoint); the create commands take --label (a note stored next to the key).

A tenant id is 2 to 63 characters of a-z, 0-9, "_" and "-", starting with a letter or
digit. Only the key goes to stdout, so `KEY=$(python -m tools.admin ...)` captures it;
notes go to stderr. Exit codes: 0 done, 1 the stack or table refused (or no such key to
revoke), 2 a usage error.
A loopback endpoint with no AWS credentials configured gets moto's fake ones.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import boto3
from batchcalls.adapters.api_keys import hash_key, new_api_key, register_api_key
from batchcalls.adapters.tables import ApiKeyRecord
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from pynamodb.exceptions import DeleteError, PynamoDBException

TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{1,62}")
TABLE_OUTPUT = "ApiKeysTableName"
MAX_LABEL = 200
LOCAL_REGION = "us-east-1"
# list-keys shows this much of a key's hash: enough to tell keys apart and to revoke one.
HASH_PREFIX = 12
MIN_HASH_PREFIX = 8
HASH_TEXT = re.compile(rf"[0-9a-f]{{{MIN_HASH_PREFIX},64}}")
EXAMPLES = """\
Only the new key is printed on stdout; it cannot be shown again.

examples (from the repository root; the layer package must be importable):
  PYTHONPATH=layers/common .venv/bin/python -m tools.admin create-tenant \\
      --name acme --stack-name batch-calls --region eu-west-1
  PYTHONPATH=layers/common .venv/bin/python -m tools.admin create-key \\
      --tenant acme --label ci --stack-name batch-calls-local \\
      --endpoint-url http://127.0.0.1:<moto port>
  PYTHONPATH=layers/common .venv/bin/python -m tools.admin list-keys \\
      --tenant acme --stack-name batch-calls
  PYTHONPATH=layers/common .venv/bin/python -m tools.admin revoke-key \\
      --key-hash 3f2a9c1d7e4b --stack-name batch-calls

A tenant id is 2-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit.
Exit codes: 0 done, 1 the stack or its table refused (or no such key), 2 a usage error."""


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


def _key_hash_argument(value: str) -> str:
    text = value.strip().lower()
    if not HASH_TEXT.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"a key hash is {MIN_HASH_PREFIX} to 64 hex digits (as list-keys shows it)"
        )
    return text


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


@dataclass(frozen=True)
class KeyInfo:
    """What list-keys shows of a key: never the key, only a prefix of its hash."""

    key_hash: str
    tenant_id: str
    label: str | None
    created_at: str

    @property
    def hash_prefix(self) -> str:
        return self.key_hash[:HASH_PREFIX]


def list_keys(
    target: Target, tenant_id: str | None = None, *, cloudformation: Any | None = None
) -> list[KeyInfo]:
    """Every key of the stack (or of one tenant), by tenant then creation time."""
    if tenant_id is not None:
        check_tenant_id(tenant_id)
    table_name = api_keys_table_name(target, cloudformation)
    with api_keys_table(target, table_name):
        condition = None if tenant_id is None else ApiKeyRecord.tenant_id == tenant_id
        keys = [
            KeyInfo(record.key_hash, record.tenant_id, record.label, record.created_at)
            for record in ApiKeyRecord.scan(condition)
        ]
    return sorted(keys, key=lambda k: (k.tenant_id, k.created_at, k.key_hash))


@dataclass(frozen=True)
class RevokedKey:
    key: KeyInfo
    table_name: str
    keys_left: int  # keys the tenant still holds


def _the_key(hash_or_prefix: str) -> ApiKeyRecord:
    """The one key whose hash is this, or starts with it; AdminError if none or several."""
    if len(hash_or_prefix) == 64:
        try:
            return ApiKeyRecord.get(hash_or_prefix, consistent_read=True)
        except ApiKeyRecord.DoesNotExist:
            raise AdminError(f"no key with hash {hash_or_prefix[:HASH_PREFIX]}...") from None
    found = list(ApiKeyRecord.scan(ApiKeyRecord.key_hash.startswith(hash_or_prefix)))
    if not found:
        raise AdminError(f"no key whose hash starts with {hash_or_prefix}")
    if len(found) > 1:
        raise AdminError(
            f"{len(found)} keys have a hash starting with {hash_or_prefix}: give more digits"
        )
    return found[0]


def revoke_key(
    target: Target,
    *,
    key_hash: str | None = None,
    api_key: str | None = None,
    cloudformation: Any | None = None,
) -> RevokedKey:
    """Delete one key, named by its hash (or a unique prefix) or by the key itself."""
    if (key_hash is None) == (api_key is None):
        raise AdminError("name the key by exactly one of --key-hash and --key")
    wanted = hash_key(api_key) if api_key is not None else str(key_hash).lower()
    table_name = api_keys_table_name(target, cloudformation)
    with api_keys_table(target, table_name):
        try:
            record = _the_key(wanted)
        except AdminError:
            if api_key is None:
                raise
            raise AdminError("no such key (revoked already, or never made here)") from None
        info = KeyInfo(record.key_hash, record.tenant_id, record.label, record.created_at)
        try:
            # Conditional: two admins revoking the same key do not both report success.
            record.delete(condition=ApiKeyRecord.key_hash.exists())
        except DeleteError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise AdminError(f"key {info.hash_prefix}... was already revoked") from None
            raise
        left = ApiKeyRecord.scan(
            ApiKeyRecord.tenant_id == info.tenant_id, attributes_to_get=["key_hash"]
        )
        keys_left = sum(1 for _ in left)
    return RevokedKey(info, table_name, keys_left)


def format_keys(keys: Iterable[KeyInfo]) -> str:
    """Aligned columns with a header; `-` for a key without a label."""
    rows = [("HASH_PREFIX", "TENANT", "CREATED_AT", "LABEL")]
    rows += [(k.hash_prefix, k.tenant_id, k.created_at, k.label or "-") for k in keys]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        + "\n"
        for row in rows
    )


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m tools.admin",
        description="Create, list and revoke API keys of a batch-calls stack (stored hashed).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_common(sub: argparse.ArgumentParser, label: bool = True) -> None:
        if label:
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

    listing = commands.add_parser(
        "list-keys",
        help="the keys, never the keys themselves",
        description="List the API keys: a prefix of each key's hash, its tenant, creation "
        "time and label. The keys themselves are not stored, so they cannot be shown.",
    )
    listing.add_argument("--tenant", type=_tenant_argument, help="only this tenant's keys")
    add_common(listing, label=False)

    revoke = commands.add_parser(
        "revoke-key",
        help="delete a key; the API refuses it from then on",
        description="Delete one API key. Name it by its hash (or a unique prefix of at least "
        f"{MIN_HASH_PREFIX} hex digits, as list-keys shows it) or by the key itself.",
    )
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--key-hash", type=_key_hash_argument, help="the key's hash or prefix")
    which.add_argument("--key", help="the key itself (read from the command line)")
    add_common(revoke, label=False)
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
        return _run(args, target)
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


def _run(args: argparse.Namespace, target: Target) -> int:
    if args.command == "list-keys":
        keys = list_keys(target, args.tenant)
        sys.stdout.write(format_keys(keys))
        print(f"{len(keys)} key(s)", file=sys.stderr)
        return 0
    if args.command == "revoke-key":
        revoked = revoke_key(target, key_hash=args.key_hash, api_key=args.key)
        key = revoked.key
        print(
            f"key {key.hash_prefix} of tenant {key.tenant_id!r} ({key.label or 'no label'}) "
            f"revoked in {revoked.table_name}; the tenant has {revoked.keys_left} key(s) left",
            file=sys.stderr,
        )
        return 0
    created = create_key(
        target, args.tenant, args.label, new_tenant_only=args.command == "create-tenant"
    )
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

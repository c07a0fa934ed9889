"""Campaign webhooks: the retry schedule, the signing (Standard Webhooks), the URL rules.

Pure: no clock, no network. What needs either (the resolver, the instant) is a parameter.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook

from batchcalls.domain.event_destinations import TENANT_RESOURCE_PREFIX
from batchcalls.domain.public_urls import (
    address_problem,
    https_url_problem,
    public_url_problem,
    url_host,
)

# After a failed attempt (no 2xx within the timeout), the next one this long after it;
# after the last, the delivery is `failed` (replayable). API.md "Events".
RETRY_DELAYS_SECONDS: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000)
ATTEMPTS_PER_ROUND = len(RETRY_DELAYS_SECONDS) + 1
TIMEOUT_SECONDS = 10
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ROTATION_OVERLAP_SECONDS = 24 * 3600
KEEP_DELIVERIES_SECONDS = 30 * 86_400

# On the bus, the campaign webhook that wants an event is named in its `resources`
# (`webhook/<url>`, beside `tenant/<id>`); its detail is the body, unchanged.
WEBHOOK_RESOURCE_PREFIX = "webhook/"

# Which campaign webhook wants which event.
WEBHOOK_FOR_EVENT = {
    "call.completed": "on_call_complete",
    "batch.completed": "on_batch_complete",
    "batch.failed": "on_batch_failed",
}

Resolver = Callable[[str], list[str]]


def next_delay(attempts_in_round: int) -> int | None:
    """Seconds to wait after the `attempts_in_round`-th failed attempt of a round (1 for
    the first), or None when that was the last one."""
    if 1 <= attempts_in_round <= len(RETRY_DELAYS_SECONDS):
        return RETRY_DELAYS_SECONDS[attempts_in_round - 1]
    return None


def succeeded(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


# ------------------------------------------------------------------------- signing
def new_secret(random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    return SECRET_PREFIX + base64.b64encode(random_bytes(SECRET_BYTES)).decode()


def body_of(detail: dict[str, Any]) -> str:
    """The webhook body: the event's detail, as JSON."""
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False)


def routing(resources: list[str]) -> tuple[str | None, str | None]:
    """(tenant, webhook URL) named in a bus event's `resources`."""
    tenant = next(
        (
            r[len(TENANT_RESOURCE_PREFIX) :]
            for r in resources
            if r.startswith(TENANT_RESOURCE_PREFIX)
        ),
        None,
    )
    url = next(
        (
            r[len(WEBHOOK_RESOURCE_PREFIX) :]
            for r in resources
            if r.startswith(WEBHOOK_RESOURCE_PREFIX)
        ),
        None,
    )
    return tenant, url


def signature_header(
    secrets_in_use: Iterable[str], message_id: str, timestamp: datetime, body: str
) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, space-separated (the current
    one first; during a rotation the previous one too)."""
    return " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets_in_use)


def headers(
    secrets_in_use: Iterable[str], message_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "batch-calls-webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(secrets_in_use, message_id, timestamp, body),
    }


# ------------------------------------------------------------------------- URL rules
_LOCAL_SINK_PATH = re.compile(r"^/_local/webhook-sink(/|$)")


def is_local_sink(url: str, local_sink: str) -> bool:
    """The local stack's sink (`local_sink` is its base URL; empty everywhere else)."""
    if not local_sink:
        return False
    sink = urllib.parse.urlsplit(local_sink)
    parts = urllib.parse.urlsplit(url)
    return (
        parts.scheme == "http"
        and parts.netloc == sink.netloc
        and sink.hostname == "127.0.0.1"
        and _LOCAL_SINK_PATH.match(parts.path) is not None
    )


def url_problem(url: str, resolve: Resolver, local_sink: str = "") -> str | None:
    """Why `url` may not receive webhooks, or None: the rules of every URL the service
    sends events to (domain/public_urls), with the local stack's sink as the one
    exception. `resolve` gives a name's addresses ([] when it does not resolve: accepted
    at create, the send will fail and be retried)."""
    if is_local_sink(url, local_sink):
        return None
    problem = https_url_problem(url)
    if problem:
        return problem
    host = url_host(url) or ""
    literal = address_problem(host) is not None or _is_address(host)
    return public_url_problem(url, [] if literal else resolve(host))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def delivery_id(event_id: str, occurred_ms: int) -> str:
    """Begins with the event's time (epoch ms, 13 digits), so ids sort newest last."""
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:12]
    return f"whd_{occurred_ms:013d}{digest}"


def is_delivery_id(value: str) -> bool:
    return re.fullmatch(r"whd_[0-9]{13}[0-9a-f]{12}", value) is not None


def occurred_ms(detail: dict[str, Any], default_ms: int) -> int:
    try:
        return int(datetime.fromisoformat(str(detail["occurredAt"])).timestamp() * 1000)
    except (KeyError, ValueError):
        return default_ms

"""Small helpers for tests that drive a local stack."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from local_stack import LocalStack


def calls_of(stack: LocalStack, function: str) -> list[dict[str, Any]]:
    """What a recorder stub of the mini template received: [{function, event}]."""
    module = stack.functions[function].module
    return list(module.CALLS) if module is not None else []


def sqs_records(stack: LocalStack, function: str) -> list[list[dict[str, Any]]]:
    """The SQS batches a recorder stub received, each a list of records."""
    return [c["event"]["Records"] for c in calls_of(stack, function) if "Records" in c["event"]]


def bodies(batches: list[list[dict[str, Any]]]) -> list[list[str]]:
    return [[r["body"] for r in batch] for batch in batches]


def verify_signature(secret: str, header: str, raw_body: str) -> int:
    """Check an `X-Signature: t=..,v1=..` header; returns t, raises AssertionError."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.{raw_body}".encode(), hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"]), "the signature does not match"
    return int(parts["t"])


def put_event(stack: LocalStack, bus: str, source: str, detail_type: str, detail: Any) -> None:
    entries = [
        {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "EventBusName": bus,
        }
    ]
    answer = stack.client("events").put_events(Entries=entries)
    assert answer["FailedEntryCount"] == 0, answer

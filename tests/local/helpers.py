"""Small helpers for tests that drive a local stack."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from typing import Any

from local_stack import LocalStack
from local_stack.aws_requests import AwsRequest


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


def act(stack: LocalStack, *steps: dict[str, Any], fail: bool = False) -> list[Any]:
    """Invoke the mini template's ActorFunction directly with these steps; its results."""
    answer = stack.invoke("ActorFunction", {"steps": list(steps), "fail": fail})
    return list(answer["results"])


def send_act(stack: LocalStack, *steps: dict[str, Any], fail: bool = False) -> str:
    """Send the ActorFunction a message (ActorQueue) with these steps; its message id."""
    body = json.dumps({"steps": list(steps), "fail": fail})
    sqs = stack.client("sqs")
    return str(
        sqs.send_message(QueueUrl=stack.resource("ActorQueue"), MessageBody=body)["MessageId"]
    )


def actor_results(stack: LocalStack) -> list[list[Any]]:
    """The results of every ActorFunction run that got to its end, in order."""
    return [c["results"] for c in actor_runs(stack)]


def actor_runs(stack: LocalStack) -> list[dict[str, Any]]:
    """Every ActorFunction run that got to its end: {source, script, results}; the source
    of an SQS record is "sqs <message id> receive <count>"."""
    module = stack.functions["ActorFunction"].module
    return list(module.CALLS) if module is not None else []


def item(stack: LocalStack, pk: str, sk: str = "-") -> dict[str, Any] | None:
    """An item of the mini template's ItemsTable, read consistently from outside."""
    found = stack.client("dynamodb").get_item(
        TableName=stack.resource("ItemsTable"),
        Key={"pk": {"S": pk}, "sk": {"S": sk}},
        ConsistentRead=True,
    )
    return found.get("Item")


def place_call(stack: LocalStack, **fields: Any) -> tuple[int, Any]:
    """POST a call to the simulated provider: (status, JSON body)."""
    payload = {
        "call_id": "call_1",
        "agent_id": "agent_1",
        "from": "+15550009999",
        "to": "+15550100004",
        "variables": {"batch_id": "batch_1", "contact_id": "contact_1"},
        "callback_url": f"{stack.base_url}/_local/webhook-sink/provider",
        **fields,
    }
    request = urllib.request.Request(
        f"{stack.provider_url}/calls",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


# The fields of a call.completed body (API.md "Events").
CALL_COMPLETED_FIELDS = {
    "event",
    "eventId",
    "occurredAt",
    "batchId",
    "callId",
    "contactId",
    "phoneNumber",
    "status",
    "attempt",
    "duration",
    "summary",
}


class BusEvents:
    """Every event the stack puts on its bus (an aws_requests listener)."""

    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def before(self, request: AwsRequest) -> None:
        if (request.service, request.operation) == ("events", "PutEvents"):
            with self.lock:
                self.details += [json.loads(e["Detail"]) for e in request.params["Entries"]]

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        return None

    def of_import(self, import_id: str) -> list[dict[str, Any]]:
        return [d for d in self.details if d.get("importId") == import_id]

    def of_campaign(self, campaign_id: str, event: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                d
                for d in self.details
                if d.get("batchId") == campaign_id and event in (None, d.get("event"))
            ]

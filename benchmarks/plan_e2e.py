"""One campaign of N contacts (default 1,000,000) planned end to end through the planner
function, against a local moto server, with the latency model: modelled AWS time,
requests per 1,000 contacts by operation, peak memory.

Run: .venv/bin/python benchmarks/plan_e2e.py [--contacts N]

- moto runs in a child process (with local_stack's moto hooks). This process creates
  the campaign as a client would: a draft, its contacts added 10,000 a request (the
  API's limit) through the campaign service, then scheduled.
- The plan runs in another child process, a fresh interpreter like a Lambda execution
  environment: the planner function's handler (`functions/planner/app.py`) is invoked
  with an SQS event holding the plan request, then with each chunk message it put on
  the planning queue (read back from moto's queue), until the chain ends. Its resident
  memory is sampled throughout; the figure is the handler's memory at a cold start
  (fresh interpreter) plus what the plan added, as in `import_contacts.py`.
- Every request the invocations make is counted (BatchWriteItem split into full and
  partial batches) and timed by the latency model (local_stack/latency.py): *modelled
  AWS time* is the sum of the invocations' critical paths, one chunk after the other
  (the chain is sequential: chunk k+1 needs chunk k's planner state). The hop between
  chunks (SQS to Lambda's poller) is not modelled.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

from benchmarks.import_contacts import (  # noqa: E402
    RESULT,
    PeakRss,
    handler_rss_mb,
    moto_in_child,
    result_of_child,
    rss_mb,
)
from local_stack import aws_requests  # noqa: E402
from local_stack.aws_requests import AwsRequest  # noqa: E402
from local_stack.latency import LatencyModel  # noqa: E402

TENANT = "tenant_bench"
START = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York
PER_REQUEST = 10_000  # contacts per add-contacts request (the API's limit)


def number(i: int) -> str:
    areas = ("212", "415", "305", "646", "718", "312", "617", "713", "206", "404")
    return f"+1{areas[i % 10]}{200 + (i // 10) // 10000:03d}{(i // 10) % 10000:04d}"


def prepare(contacts: int) -> dict[str, Any]:
    """Tables and queues, and a scheduled campaign of `contacts` contacts (this process)."""
    from batchcalls.adapters.campaign_store import CampaignStore
    from batchcalls.adapters.tables import bind_tables
    from batchcalls.clock import SimulatedClock, use_clock
    from batchcalls.models.campaign import CreateCampaignRequest
    from batchcalls.services.campaigns import CampaignService
    from batchcalls.settings import StorageSettings, load_settings

    from tests.support.aws import create_template_resources, environment_for

    physical = create_template_resources()
    environment = environment_for("PlannerFunction", physical)
    os.environ.update(environment)
    bind_tables(load_settings(StorageSettings))
    clock = SimulatedClock(START)
    use_clock(clock)
    api = CampaignService(clock)
    body = {
        "status": "draft",
        "agent_id": "a",
        "phone_numbers": ["+14155550100", "+14155550101"],
        "timezone": "America/New_York",
        "start_time": "09:00",
        "end_time": "17:00",
        # Tomorrow: the plan alone, no call due before the next minute tick (those would
        # be handed to delivery by the planner, which is delivery's work, not planning's).
        "schedule_type": "scheduled",
        "scheduled_at": "2026-12-01T09:00:00",
    }
    campaign, _ = api.create(TENANT, CreateCampaignRequest.model_validate(body))
    began = time.perf_counter()
    for first in range(0, contacts, PER_REQUEST):
        rows = [
            {"phone_number": number(i)} for i in range(first, min(contacts, first + PER_REQUEST))
        ]
        api.add_contacts(TENANT, campaign.campaign_id, rows)
    seeded = time.perf_counter() - began
    api.schedule(TENANT, campaign.campaign_id)
    version = int(CampaignStore().get(TENANT, campaign.campaign_id).plan_version)
    return {
        "campaign_id": campaign.campaign_id,
        "plan_version": version,
        "environment": environment,
        "seed_seconds": seeded,
    }


class Requests:
    """Every request an invocation makes, by operation (BatchWriteItem: full or partial)."""

    def __init__(self) -> None:
        self.counted: Counter[str] = Counter()
        self._lock = threading.Lock()

    def before(self, request: AwsRequest) -> None:
        label = request.operation
        if label == "BatchWriteItem":
            items = sum(len(v) for v in request.params["RequestItems"].values())
            label = "BatchWriteItem (full)" if items == 25 else "BatchWriteItem (partial)"
        with self._lock:
            self.counted[label] += 1

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        return None


def sqs_event(body: str, n: int) -> dict[str, Any]:
    record = json.loads((ROOT / "events" / "planner_plan_chunk.json").read_text())["Records"][0]
    return {"Records": [{**record, "messageId": f"bench-{n}", "body": body}]}


def plan_only(spec: dict[str, Any]) -> dict[str, Any]:
    """The plan, invocation after invocation of the planner function (this is the child
    process: its memory is the planner's)."""
    import boto3
    from batchcalls.adapters.contact_moves import ContactCounts
    from batchcalls.clock import SimulatedClock, use_clock

    os.environ.update(spec["environment"])
    use_clock(SimulatedClock(START))
    from functions.planner import app
    from tests.support.api import LambdaContextStub

    queue_url = spec["environment"]["PLANNING_QUEUE_URL"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    first = {
        "kind": "plan",
        "tenant_id": TENANT,
        "campaign_id": spec["campaign_id"],
        "plan_version": spec["plan_version"],
    }
    bodies = [json.dumps(first)]
    aws_requests.install()
    model = LatencyModel()
    requests = Requests()
    aws_requests.add_listener(requests)
    invocations = 0
    rss_before = rss_mb()
    began = time.perf_counter()
    with PeakRss() as rss, model:
        while bodies:
            body = bodies.pop()
            with aws_requests.invocation("PlannerFunction"):
                answer = app.lambda_handler(sqs_event(body, invocations), LambdaContextStub())
            invocations += 1
            if answer["batchItemFailures"]:
                raise SystemExit(f"chunk {invocations} failed: {body}")
            # The next chunk, as Lambda's poller would hand it over (not counted).
            received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            for message in received.get("Messages", []):
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    seconds = time.perf_counter() - began
    aws_requests.remove_listener(requests)
    counts = ContactCounts().totals(TENANT, spec["campaign_id"])
    return {
        "wall_seconds": seconds,
        "invocations": invocations,
        "counted": dict(requests.counted),
        "contacts_by_status": counts,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss.peak,
        "modelled_aws_seconds": model.seconds,
        "modelled_serial_seconds": model.serial_seconds,
        "max_invocation_modelled_seconds": max(
            (t.seconds for t in model.invocations.values()), default=0.0
        ),
    }


def plan_in_child(spec: dict[str, Any]) -> dict[str, Any]:
    return result_of_child(str(Path(__file__).resolve()), "--plan-only", spec)


def measure(contacts: int = 1_000_000) -> dict[str, Any]:
    """One campaign of `contacts` contacts planned end to end, as data."""
    began = time.perf_counter()
    with moto_in_child():
        spec = prepare(contacts)
        result = plan_in_child(spec)
        handler_mb = handler_rss_mb("planner")
    counted = result["counted"]
    per_thousand = 1000 / contacts
    return {
        "contacts": contacts,
        "chunks": result["invocations"],
        "scheduled": result["contacts_by_status"].get("scheduled", 0),
        "contacts_by_status": {k: v for k, v in result["contacts_by_status"].items() if v},
        "per_1000": {
            op: n * per_thousand for op, n in sorted(counted.items(), key=lambda kv: -kv[1])
        },
        "total_per_1000": sum(counted.values()) * per_thousand,
        "requests": sum(counted.values()),
        "modelled_aws_seconds": result["modelled_aws_seconds"],
        "modelled_serial_seconds": result["modelled_serial_seconds"],
        "max_invocation_modelled_seconds": result["max_invocation_modelled_seconds"],
        "handler_rss_mb": handler_mb,
        "plan_growth_mb": result["rss_peak_mb"] - result["rss_before_mb"],
        "planner_rss_mb": handler_mb + result["rss_peak_mb"] - result["rss_before_mb"],
        "seed_seconds": spec["seed_seconds"],
        "plan_wall_seconds": result["wall_seconds"],
        "total_wall_seconds": time.perf_counter() - began,
    }


def report(f: dict[str, Any]) -> None:
    print(
        f"One campaign of {f['contacts']:,} contacts planned through the planner function "
        f"({f['chunks']} invocations): {f['scheduled']:,} scheduled"
    )
    print(
        f"  modelled AWS time   {f['modelled_aws_seconds']:8.1f} s = {f['modelled_aws_seconds'] / 60:.2f} min "
        f"(every request in a row {f['modelled_serial_seconds']:.1f} s; slowest invocation "
        f"{f['max_invocation_modelled_seconds']:.2f} s)"
    )
    print(
        f"  planner's memory    {f['planner_rss_mb']:8.0f} MB (handler {f['handler_rss_mb']:.0f} MB "
        f"+ the plan {f['plan_growth_mb']:.0f} MB)"
    )
    print(f"  requests per 1,000 contacts ({f['total_per_1000']:.1f}):")
    for operation, n in f["per_1000"].items():
        print(f"    {operation:26s} {n:8.2f}")
    print(
        f"  wall: contacts added in {f['seed_seconds']:.0f} s, planned in {f['plan_wall_seconds']:.0f} s under moto"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--plan-only", help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.plan_only:
        print(RESULT + json.dumps(plan_only(json.loads(args.plan_only))), flush=True)
        return
    report(measure(args.contacts))


if __name__ == "__main__":
    main()

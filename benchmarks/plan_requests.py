"""DynamoDB (and SQS) requests the planner function makes per 1,000 contacts planned.

Run: .venv/bin/python benchmarks/plan_requests.py [--contacts N] [--tenant-cap N]

Plans N contacts (default 5,000, one chunk) of one campaign under moto, in process, with
the tables of template.yaml, and counts every AWS request made while planning, by
operation. BatchWriteItem requests are split into full (25 items) and partial ones.
Each kind of request that is not part of a full batch is listed with its reason.
`--tenant-cap` sets the tenant's `max_calls_per_number_per_24h`, so every number has a
frequency limit and planning reads the tenant's call log for each (100 numbers a read).
With the local runtime's latency model (local_stack/latency.py, AWS's typical figures),
the modelled AWS time of the planner's invocation (its critical path, parallel writes
overlapping) is printed beside the measured wall time under moto.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import botocore.client
from moto import mock_aws

from local_stack import aws_requests, moto_hooks
from local_stack.latency import LatencyModel

REASONS = {
    "TransactWriteItems": "contacts moved to `scheduled` with their counters, up to 50 of one "
    "shard per transaction (conditional: a contact queued meanwhile must not be re-planned)",
    "UpdateItem": "bookings of the minutes the plan fills, and the plan's progress",
    "Query": "reads of the contacts to plan and of those that stay (per shard and status, 1 MB pages)",
    "GetItem": "the campaign, the chunk's saved start and the tenant's settings (once per chunk)",
    "BatchGetItem": "the do-not-call list (and, for numbers with a frequency limit, their "
    "call log), 100 numbers per request",
    "PutItem": "the chunk's resumable planner state",
    "BatchWriteItem (partial)": "the last batch of each chunk and of each slot deletion",
    "SendMessage": "the next chunk of the plan",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--tenant-cap", type=int, default=None)
    args = parser.parse_args()
    figures = measure(args.contacts, args.tenant_cap)
    print(f"AWS requests while planning {args.contacts:,} contacts (per 1,000 contacts):")
    for operation, n in figures["per_1000"].items():
        reason = REASONS.get(operation, "full batches of 25 items" if "full" in operation else "")
        print(f"  {operation:28s} {n:9.1f}   {reason}")
    print(f"  {'total':28s} {figures['total_per_1000']:9.1f}")
    print(
        f"planning took {figures['wall_seconds']:.2f} s under moto in process; modelled AWS "
        f"time {figures['modelled_aws_seconds']:.2f} s (every request in a row: "
        f"{figures['modelled_serial_seconds']:.2f} s)"
    )


def measure(contacts: int = 5000, tenant_cap: int | None = None) -> dict[str, Any]:
    """Plan `contacts` contacts under a fresh moto: requests per 1,000 contacts by
    operation, the planning's wall time, and its modelled AWS time."""
    aws_requests.install()  # before counting_requests wraps the same entry point
    moto_hooks.install()  # moto's transactions are not safe across the planner's threads
    model = LatencyModel()
    with mock_aws(), model:
        began = time.perf_counter()
        counts = run(contacts, tenant_cap)
        wall = time.perf_counter() - began
    per_thousand = 1000 / contacts
    return {
        "contacts": contacts,
        "per_1000": {
            operation: n * per_thousand
            for operation, n in sorted(counts.items(), key=lambda kv: -kv[1])
        },
        "total_per_1000": sum(counts.values()) * per_thousand,
        "wall_seconds": wall,  # campaign creation included
        "modelled_aws_seconds": model.seconds,
        "modelled_serial_seconds": model.serial_seconds,
    }


@contextmanager
def counting_requests() -> Iterator[Counter[str]]:
    """Every AWS request made inside, by operation (BatchWriteItem: full or partial)."""
    counted: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        label = operation
        if operation == "BatchWriteItem":
            items = sum(len(v) for v in params["RequestItems"].values())
            label = "BatchWriteItem (full)" if items == 25 else "BatchWriteItem (partial)"
        counted[label] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def run(contacts: int, tenant_cap: int | None = None) -> Counter[str]:
    """Plan `contacts` contacts in one chunk (call inside `mock_aws`); the requests made."""
    with counting_requests() as counted:
        plan_campaign(contacts, counted, tenant_cap)
    return counted


def plan_campaign(
    contacts: int, counted: Counter[str] | None = None, tenant_cap: int | None = None
) -> tuple[Any, str, str]:
    """A campaign of `contacts` contacts planned from Monday 2026-11-30 09:00 New York at
    10 calls a second: (the clock, tenant id, campaign id). Call inside `mock_aws`."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    # Imported inside the mock so that every client is made against moto.
    from batchcalls.adapters.campaign_store import CampaignStore
    from batchcalls.adapters.tables import bind_tables
    from batchcalls.clock import SimulatedClock, use_clock
    from batchcalls.models.campaign import CreateCampaignRequest
    from batchcalls.services.campaigns import CampaignService
    from batchcalls.services.planning import PlanningService
    from batchcalls.settings import StorageSettings, load_settings

    from tests.support.aws import create_template_resources, environment_for

    physical = create_template_resources()
    os.environ.update(environment_for("PlannerFunction", physical))
    bind_tables(load_settings(StorageSettings))
    clock = SimulatedClock(datetime(2026, 11, 30, 14, 0, tzinfo=UTC))
    use_clock(clock)
    sent_chunks = counted if counted is not None else Counter()

    class ChunkQueue:
        def send_chunk(self, message: dict[str, Any]) -> None:
            sent_chunks["SendMessage"] += 1

    api = CampaignService(clock)
    rows = [
        {"phone_number": f"+1212{200 + i // 10000:03d}{i % 10000:04d}"} for i in range(contacts)
    ]
    body = {
        "agent_id": "a",
        "phone_numbers": ["+14155550100"],
        "timezone": "America/New_York",
        "start_time": "09:00",
        "end_time": "17:00",
        "contacts": rows,
    }
    if tenant_cap is not None:
        from batchcalls.adapters.number_calls import TenantSettingsStore

        TenantSettingsStore().save("tenant_bench", {"max_calls_per_number_per_24h": tenant_cap})
    campaign, _ = api.create("tenant_bench", CreateCampaignRequest.model_validate(body))
    if counted is not None:
        counted.clear()  # only the planner's own requests count
    planner = PlanningService(clock, ChunkQueue(), chunk_size=contacts)
    # The plan the create requested (through the outbox): its version is the campaign's.
    version = int(CampaignStore().get("tenant_bench", campaign.campaign_id).plan_version)
    with aws_requests.invocation("PlannerFunction"):  # seen by a latency model, if any
        planner.start_plan("tenant_bench", campaign.campaign_id, version)
    return clock, "tenant_bench", campaign.campaign_id


if __name__ == "__main__":
    main()

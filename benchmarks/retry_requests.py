"""AWS requests to plan one retry, by campaign size: the count must not grow with it.

Run: .venv/bin/python benchmarks/retry_requests.py [--sizes 1000 10000]

For each size N, under moto in process: a campaign of N contacts is planned from Monday
2026-11-30 09:00 New York at 10 calls a second (10,000 contacts fill 09:00-09:16:40),
then one retry of its first contact is planned as a `no_answer` outcome plans it, from a
start inside the stretch the plan packed (09:01, when N reaches it). Prints the requests
by operation per size and the ratio of the largest size's total to the smallest's.
(Wall times under moto are left out: moto scans its whole table per query.) With the
local runtime's latency model, the modelled AWS time of planning the retry.
"""

from __future__ import annotations

import argparse
from collections import Counter
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from moto import mock_aws

from benchmarks.plan_requests import counting_requests, plan_campaign
from local_stack import aws_requests, moto_hooks
from local_stack.latency import LatencyModel

RETRY_FROM = datetime.fromisoformat("2026-11-30T14:01:00+00:00")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    figures = measure(args.sizes)
    for size, one in figures["sizes"].items():
        operations = ", ".join(f"{op} {n}" for op, n in one["requests_by_operation"].items())
        print(
            f"{size:>9,} contacts: {one['requests']:3d} requests ({operations}); retry due "
            f"{one['due']}; modelled AWS time {one['modelled_aws_seconds'] * 1000:.0f} ms"
        )
    smallest, largest = min(args.sizes), max(args.sizes)
    print(f"requests per retry, {largest:,} vs {smallest:,} contacts: ratio {figures['ratio']:.2f}")


def measure(sizes: list[int] | None = None) -> dict[str, Any]:
    """Per campaign size: the retry's requests by operation and modelled AWS time; the
    ratio of the largest size's request count to the smallest's."""
    sizes = sizes or [1000, 10000]
    aws_requests.install()  # before counting_requests wraps the same entry point
    moto_hooks.install()  # moto's transactions are not safe across threads
    results: dict[int, dict[str, Any]] = {}
    for size in sizes:
        model = LatencyModel()
        with mock_aws():
            counted, due = retry_requests(size, model)
        results[size] = {
            "requests": sum(counted.values()),
            "requests_by_operation": dict(sorted(counted.items())),
            "due": due,
            "modelled_aws_seconds": model.seconds,
        }
    smallest, largest = min(sizes), max(sizes)
    return {
        "sizes": results,
        "ratio": results[largest]["requests"] / results[smallest]["requests"],
    }


def retry_requests(contacts: int, model: LatencyModel | None = None) -> tuple[Counter[str], str]:
    """The requests of planning one retry (and the model's modelled time of them)."""
    from batchcalls.adapters.campaign_store import CampaignStore, settings_of
    from batchcalls.adapters.contact_store import ContactStore
    from batchcalls.clock import to_epoch_ms, to_iso
    from batchcalls.services.delivery import DeliveryConfig, DeliveryService

    clock, tenant_id, campaign_id = plan_campaign(contacts)
    campaign = CampaignStore().get(tenant_id, campaign_id)
    contact = next(iter(ContactStore().iter_of_statuses(tenant_id, campaign_id, ("scheduled",))))
    service = DeliveryService(
        clock,
        DeliveryConfig(100, 600, "https://api.example.com"),
        queue=None,  # type: ignore[arg-type]
    )
    with (
        model if model is not None else nullcontext(),
        counting_requests() as counted,
        aws_requests.invocation("ProviderEventsFunction"),  # where outcomes plan retries
    ):
        planned = service.replanning.next_call(
            campaign, settings_of(campaign), contact, 2, to_epoch_ms(RETRY_FROM)
        )
    assert planned is not None
    return counted, to_iso(datetime.fromtimestamp(planned.due_ms / 1000, tz=RETRY_FROM.tzinfo))


if __name__ == "__main__":
    main()

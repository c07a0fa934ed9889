"""AWS requests to plan one retry, by campaign size: the count must not grow with it.

Run: .venv/bin/python benchmarks/retry_requests.py [--sizes 1000 10000]

For each size N, under moto in process: a campaign of N contacts is planned from Monday
2026-11-30 09:00 New York at 10 calls a second (10,000 contacts fill 09:00-09:16:40),
then one retry of its first contact is planned as a `no_answer` outcome plans it, from a
start inside the stretch the plan packed (09:01, when N reaches it). Prints the requests
by operation per size and the ratio of the largest size's total to the smallest's.
(Wall times under moto are left out: moto scans its whole table per query.)
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime

from moto import mock_aws

from benchmarks.plan_requests import counting_requests, plan_campaign
from local_stack import moto_hooks

RETRY_FROM = datetime.fromisoformat("2026-11-30T14:01:00+00:00")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    totals: dict[int, int] = {}
    moto_hooks.install()  # moto's transactions are not safe across threads
    for size in args.sizes:
        with mock_aws():
            counted, due = retry_requests(size)
        totals[size] = sum(counted.values())
        operations = ", ".join(f"{op} {n}" for op, n in sorted(counted.items()))
        print(f"{size:>9,} contacts: {totals[size]:3d} requests ({operations}); retry due {due}")
    smallest, largest = min(args.sizes), max(args.sizes)
    ratio = totals[largest] / totals[smallest]
    print(f"requests per retry, {largest:,} vs {smallest:,} contacts: ratio {ratio:.2f}")


def retry_requests(contacts: int) -> tuple[Counter[str], str]:
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
    with counting_requests() as counted:
        planned = service.replanning.next_call(
            campaign, settings_of(campaign), contact, 2, to_epoch_ms(RETRY_FROM)
        )
    assert planned is not None
    return counted, to_iso(datetime.fromtimestamp(planned.due_ms / 1000, tz=RETRY_FROM.tzinfo))


if __name__ == "__main__":
    main()

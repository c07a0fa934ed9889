"""Calls dialled per campaign day: what `max_calls_per_day` counts besides the plan.

`CountItem` `calls#<tenant>#<campaign>` / `day#<date>`, raised in the transaction that
starts a call (adapters/delivery_store.py), so a crash cannot lose a dialled call's count.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from batchcalls.adapters.tables import CountItem
from batchcalls.adapters.transactions import Transaction


def _pk(tenant_id: str, campaign_id: str) -> str:
    return f"calls#{tenant_id}#{campaign_id}"


def count_call(tx: Transaction, tenant_id: str, campaign_id: str, day: date) -> None:
    # Read only while that day's calls are planned: dropped by TTL three days after it.
    expires = int(datetime.combine(day, time(), UTC).timestamp()) + 3 * 86_400
    tx.update(
        CountItem(pk=_pk(tenant_id, campaign_id), sk=f"day#{day.isoformat()}"),
        [CountItem.value.add(1), CountItem.ttl.set(expires)],
        label="day count",
    )


def day_counts(tenant_id: str, campaign_id: str) -> dict[date, int]:
    return {
        date.fromisoformat(item.sk.removeprefix("day#")): int(item.value)
        for item in CountItem.query(
            _pk(tenant_id, campaign_id), CountItem.sk.startswith("day#"), consistent_read=True
        )
    }

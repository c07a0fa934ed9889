"""A campaign's analytics counters (Coordination table), written in the transactions that
change what they count, so a crash or a repeated message can never count twice or miss:

- the start of a call (delivery_store.start): one call placed, in the quarter hour it
  started; a started call that was never placed (its dial given up and planned again,
  or its campaign failed) takes it back;
- the end of an attempt (delivery_store.end, which commits once per attempt): its
  outcome, the contact's latest attempt number (n counted, n-1 uncounted), a completed
  call's duration in the histogram, and a completed call in its quarter hour.

Items are sharded as the contacts are (one per contact shard and quarter hour), so
concurrent transactions of one campaign seldom touch the same item; reading them all is
one query of the campaign's partition (16 items, plus 16 at most per quarter hour with
calls), never a read of the contacts. The figures are made in `domain/analytics.py`.
"""

from __future__ import annotations

from typing import Any

from batchcalls.adapters.tables import AnalyticsItem
from batchcalls.adapters.transactions import Transaction
from batchcalls.domain.analytics import (
    DURATION_EDGES,
    MAX_COUNTED_ATTEMPTS,
    OUTCOMES,
    Counters,
    duration_bucket,
    quarter_of,
)
from batchcalls.ids import contact_shard


def stats_pk(tenant_id: str, campaign_id: str) -> str:
    return f"stats#{tenant_id}#{campaign_id}"


def _attribute(name: str) -> Any:
    return getattr(AnalyticsItem, name)


def _quarter_item(tenant_id: str, campaign_id: str, contact_id: str, at_ms: int) -> Any:
    sk = f"q#{quarter_of(at_ms)}#{contact_shard(contact_id):02d}"
    return AnalyticsItem(pk=stats_pk(tenant_id, campaign_id), sk=sk)


def count_placed(
    tx: Transaction, tenant_id: str, campaign_id: str, contact_id: str, at_ms: int, delta: int = 1
) -> None:
    """A call started at `at_ms` (delta -1: a started call taken back, never placed)."""
    item = _quarter_item(tenant_id, campaign_id, contact_id, at_ms)
    tx.update(item, [_attribute("placed").add(delta)], label="placed count")


def count_ended(
    tx: Transaction,
    tenant_id: str,
    campaign_id: str,
    contact_id: str,
    attempt: int,
    outcome: str,
    duration_seconds: int | None,
    at_ms: int,
    placed_now: bool = False,
) -> None:
    """Attempt `attempt` of the contact ended with `outcome` at `at_ms`; `placed_now`: its
    start had been taken back (a dial given up), the outcome shows it was placed after all."""
    actions = [_attribute(outcome if outcome in OUTCOMES else "unknown").add(1)]
    latest = min(attempt, MAX_COUNTED_ATTEMPTS)
    actions.append(_attribute(f"attempt_{latest}").add(1))
    earlier = min(attempt - 1, MAX_COUNTED_ATTEMPTS)
    if 1 <= earlier != latest:
        actions.append(_attribute(f"attempt_{earlier}").add(-1))
    if outcome == "completed" and duration_seconds is not None:
        bucket = duration_bucket(duration_seconds)
        actions += [
            _attribute(f"d{bucket:02d}").add(1),
            _attribute(f"s{bucket:02d}").add(max(0, duration_seconds)),
        ]
    totals = AnalyticsItem(
        pk=stats_pk(tenant_id, campaign_id), sk=f"totals#{contact_shard(contact_id):02d}"
    )
    tx.update(totals, actions, label="attempt counts")
    quarter = []
    if outcome == "completed":
        quarter.append(_attribute("completed").add(1))
    if placed_now:
        quarter.append(_attribute("placed").add(1))
    if quarter:
        item = _quarter_item(tenant_id, campaign_id, contact_id, at_ms)
        tx.update(item, quarter, label="quarter counts")


class AnalyticsCounters:
    def read(self, tenant_id: str, campaign_id: str) -> Counters:
        """Every counter of the campaign, summed over its shards."""
        counters = Counters()
        for item in AnalyticsItem.query(stats_pk(tenant_id, campaign_id), consistent_read=True):

            def value(name: str, item: Any = item) -> int:
                return int(getattr(item, name) or 0)

            if item.sk.startswith("q#"):
                quarter = item.sk.split("#")[1]
                counts = counters.quarters.setdefault(quarter, [0, 0])
                counts[0] += value("placed")
                counts[1] += value("completed")
                continue
            for outcome in OUTCOMES:
                counters.by_outcome[outcome] += value(outcome)
            for n in range(1, MAX_COUNTED_ATTEMPTS + 1):
                if value(f"attempt_{n}"):
                    counters.latest_attempt[n] = counters.latest_attempt.get(n, 0) + value(
                        f"attempt_{n}"
                    )
            for i in range(len(DURATION_EDGES)):
                counters.duration_counts[i] += value(f"d{i:02d}")
                counters.duration_sums[i] += value(f"s{i:02d}")
        return counters

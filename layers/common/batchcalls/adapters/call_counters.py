"""Calls dialled per campaign-local day: what `max_calls_per_day` counts besides the plan."""

from __future__ import annotations

from datetime import date

from batchcalls.adapters.tables import CoordinationRecord


def _pk(tenant_id: str, campaign_id: str) -> str:
    return f"calls#{tenant_id}#{campaign_id}"


def count_call(tenant_id: str, campaign_id: str, day: date) -> None:
    CoordinationRecord(pk=_pk(tenant_id, campaign_id), sk=f"day#{day.isoformat()}").update(
        actions=[CoordinationRecord.value.add(1)]
    )


def day_counts(tenant_id: str, campaign_id: str) -> dict[date, int]:
    return {
        date.fromisoformat(item.sk.removeprefix("day#")): int(item.value)
        for item in CoordinationRecord.query(
            _pk(tenant_id, campaign_id), CoordinationRecord.sk.startswith("day#")
        )
    }

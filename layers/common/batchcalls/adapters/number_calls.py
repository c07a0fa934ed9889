"""How often each number was called, per tenant, for the frequency limits (API.md
"Frequency"): one item per number (`numbercalls#<tenant>` / `<E.164>`) holding the start
times of its calls in the last 24 hours, across every campaign of the tenant.

The dial reads it, decides (domain/frequency.py), and writes the new list in the very
transaction that starts the call, on the condition that the item is still at the version
it read: two calls to one number at once (two campaigns) cannot both squeeze under the
limit; the loser reads again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from pynamodb.exceptions import DoesNotExist

from batchcalls.adapters.tables import NumberCallsItem, TenantSettingsItem
from batchcalls.adapters.transactions import Transaction, with_retries
from batchcalls.concurrency import parallel_map

KEEP_SECONDS = 2 * 86_400


def number_calls_pk(tenant_id: str) -> str:
    return f"numbercalls#{tenant_id}"


@dataclass(frozen=True)
class NumberCalls:
    calls_ms: tuple[int, ...]  # start times, oldest first
    version: int  # 0: no item yet


class NumberCallLog:
    def recent(self, tenant_id: str, phone_number: str) -> NumberCalls:
        try:
            item = NumberCallsItem.get(
                number_calls_pk(tenant_id), phone_number, consistent_read=True
            )
        except DoesNotExist:
            return NumberCalls((), 0)
        stored = cast(list[float], item.calls_ms or [])  # numbers, as DynamoDB holds them
        return NumberCalls(tuple(int(ms) for ms in stored), int(item.version))

    def recent_of(self, tenant_id: str, phone_numbers: Iterable[str]) -> dict[str, tuple[int, ...]]:
        """The call start times kept for each of these numbers that has any (planning's
        batched read: 100 numbers per request, strongly consistent)."""
        keys = [(number_calls_pk(tenant_id), n) for n in dict.fromkeys(phone_numbers)]

        def read(start: int) -> list[tuple[str, tuple[int, ...]]]:
            return [
                (item.sk, tuple(sorted(int(ms) for ms in cast(list[float], item.calls_ms or []))))
                for item in NumberCallsItem.batch_get(
                    keys[start : start + 100],
                    consistent_read=True,
                    attributes_to_get=["sk", "calls_ms"],
                )
            ]

        # The requests in parallel, as the do-not-call list's (adapters/suppressions).
        found: dict[str, tuple[int, ...]] = {}
        for pairs in parallel_map(read, range(0, len(keys), 100), 16):
            found.update(pairs)
        return found

    @staticmethod
    def record_in(
        tx: Transaction,
        tenant_id: str,
        phone_number: str,
        before: NumberCalls,
        calls_ms: list[int],
    ) -> None:
        """The number's calls become `calls_ms` if and only if `tx` commits and nobody
        wrote them since `before` was read (label `number calls`)."""
        item = NumberCallsItem(
            pk=number_calls_pk(tenant_id),
            sk=phone_number,
            calls_ms=calls_ms,
            version=before.version + 1,
            ttl=max(calls_ms) // 1000 + KEEP_SECONDS,
        )
        condition = (
            NumberCallsItem.sk.does_not_exist()
            if before.version == 0
            else NumberCallsItem.version == before.version
        )
        tx.put(item, condition, label="number calls")


def tenant_settings_pk(tenant_id: str) -> str:
    return f"settings#{tenant_id}"


class TenantSettingsStore:
    """A tenant's settings (`GET/PATCH /settings`)."""

    def get(self, tenant_id: str) -> dict[str, int | None]:
        try:
            item = TenantSettingsItem.get(tenant_settings_pk(tenant_id), "settings")
        except DoesNotExist:
            return {"max_calls_per_number_per_24h": None}
        cap = item.max_calls_per_number_per_24h
        return {"max_calls_per_number_per_24h": None if cap is None else int(cap)}

    def save(self, tenant_id: str, settings: dict[str, int | None]) -> None:
        item = TenantSettingsItem(
            pk=tenant_settings_pk(tenant_id),
            sk="settings",
            max_calls_per_number_per_24h=settings.get("max_calls_per_number_per_24h"),
        )
        with_retries(item.save, "save tenant settings")

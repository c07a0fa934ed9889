"""The tenant's do-not-call list: one item per number in the Coordination table
(`suppressed#<tenant>` / `<E.164>`, with its source and time).

It is read three ways, each failing closed:
- at planning, for a chunk's numbers at once (`suppressed_of`): a suppressed number is
  skipped (`reason: suppressed`);
- at the dial, as a condition of the very transaction that starts the call
  (`require_not_suppressed`): a number suppressed after planning, even while its call
  was queued, is never dialled, and if the check cannot be made, neither is the call;
- written with the outcome that asked for it (`add_in`, `opt_out: true`), so every
  campaign of the tenant stops calling the number from that commit on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batchcalls.adapters.campaign_store import Page, decode_cursor, encode_cursor
from batchcalls.adapters.tables import SuppressionItem
from batchcalls.adapters.transactions import Transaction, conditional, with_retries
from batchcalls.clock import to_iso
from batchcalls.concurrency import parallel_map


def suppressions_pk(tenant_id: str) -> str:
    return f"suppressed#{tenant_id}"


@dataclass(frozen=True)
class Suppression:
    phone_number: str
    source: str  # "api" | "opt_out"
    created_at: str

    def view(self) -> dict[str, Any]:
        return {
            "phone_number": self.phone_number,
            "source": self.source,
            "created_at": self.created_at,
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("+") and 2 < len(value) <= 20


class SuppressionStore:
    # ------------------------------------------------------------------ in transactions
    @staticmethod
    def require_not_suppressed(tx: Transaction, tenant_id: str, phone_number: str) -> None:
        """`tx` commits only while the number is not suppressed (label `suppressed`)."""
        tx.check(
            SuppressionItem,
            suppressions_pk(tenant_id),
            phone_number,
            SuppressionItem.sk.does_not_exist(),
            label="suppressed",
        )

    @staticmethod
    def add_in(
        tx: Transaction, tenant_id: str, phone_number: str, source: str, now: datetime
    ) -> None:
        """The number suppressed if and only if `tx` commits (again: no change of note)."""
        tx.put(_item(tenant_id, phone_number, source, now), label="suppression")

    # ------------------------------------------------------------------ reads
    def suppressed_of(self, tenant_id: str, phone_numbers: Iterable[str]) -> set[str]:
        """Which of these numbers are suppressed (strongly consistent, 100 per request)."""
        keys = [(suppressions_pk(tenant_id), n) for n in dict.fromkeys(phone_numbers)]

        def read(start: int) -> list[str]:
            return [
                item.sk
                for item in SuppressionItem.batch_get(
                    keys[start : start + 100], consistent_read=True, attributes_to_get=["sk"]
                )
            ]

        # The requests in parallel: a planner chunk checks thousands of numbers.
        found: set[str] = set()
        for numbers in parallel_map(read, range(0, len(keys), 100), 16):
            found.update(numbers)
        return found

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> Page:
        """The tenant's list in number order."""
        start = decode_cursor(cursor, after=_is_number)
        query = SuppressionItem.query(
            suppressions_pk(tenant_id),
            SuppressionItem.sk > start["after"] if start else None,
            limit=limit + 1,
            consistent_read=True,
        )
        items = [_suppression(item) for item in query]
        if len(items) > limit:
            items = items[:limit]
            return Page(items, encode_cursor({"after": items[-1].phone_number}))
        return Page(items, None)

    # ------------------------------------------------------------------ writes
    def add_many(
        self, tenant_id: str, phone_numbers: Sequence[str], source: str, now: datetime
    ) -> int:
        """Suppress each number not suppressed yet (a number already there keeps its
        source and time); returns how many were new."""
        present = self.suppressed_of(tenant_id, phone_numbers)
        fresh = [n for n in dict.fromkeys(phone_numbers) if n not in present]
        for start in range(0, len(fresh), 25):

            def write(part: Sequence[str] = fresh[start : start + 25]) -> None:
                with SuppressionItem.batch_write() as batch:
                    for number in part:
                        batch.save(_item(tenant_id, number, source, now))

            with_retries(write, "add suppressions")
        return len(fresh)

    def remove(self, tenant_id: str, phone_number: str) -> bool:
        """Call the number again; False if it was not suppressed."""
        item = SuppressionItem(pk=suppressions_pk(tenant_id), sk=phone_number)
        return conditional(
            lambda: item.delete(condition=SuppressionItem.sk.exists()), "remove suppression"
        )


def _item(tenant_id: str, phone_number: str, source: str, now: datetime) -> SuppressionItem:
    return SuppressionItem(
        pk=suppressions_pk(tenant_id), sk=phone_number, source=source, created_at=to_iso(now)
    )


def _suppression(item: SuppressionItem) -> Suppression:
    return Suppression(item.sk, item.source, item.created_at)

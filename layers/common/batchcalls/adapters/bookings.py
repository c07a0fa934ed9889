"""Calls booked per campaign and UTC minute (what `domain/bookings.py` plans a retry with).

In the Coordination table: pk "bookings#<tenant>#<campaign>", sk the minute
("2026-11-30T14:05"), value the number of the campaign's calls planned or made in it,
kept by atomic ADDs. Whoever writes a slot books its minute first; whoever moves or
drops a call that was not dialled releases it afterwards, so a crash in between leaves
a count one too high (a later call), never one too low (a broken cap). A dialled call
stays booked: it counts towards its day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from batchcalls.adapters.slot_store import SlotStore
from batchcalls.adapters.tables import CountItem
from batchcalls.adapters.transactions import Transaction, with_retries
from batchcalls.concurrency import parallel_map
from batchcalls.domain.bookings import minute_of

WRITE_THREADS = 8
# Planning reads a minute's booking for two days at most (its campaign day's cap);
# analytics read them as the calls planned per day and hour for as long as this.
KEEP_SECONDS = 90 * 86_400


def _pk(tenant_id: str, campaign_id: str) -> str:
    return f"bookings#{tenant_id}#{campaign_id}"


def _expires(minute: str) -> int:
    """A minute's booking is read for its campaign day's cap (a day is at most 25 h), and
    by analytics: it is dropped by TTL 90 days after the minute."""
    start = datetime.strptime(minute, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
    return int(start.timestamp()) + KEEP_SECONDS


class BookingLedger:
    def book(self, tenant_id: str, campaign_id: str, instants_ms: Iterable[int]) -> None:
        """Count these calls in their minutes (before their slots are written)."""
        self._add(tenant_id, campaign_id, Counter(minute_of(ms) for ms in instants_ms))

    def release(self, tenant_id: str, campaign_id: str, instants_ms: Iterable[int]) -> None:
        """Stop counting calls that were moved or dropped undialled (after the change)."""
        counts = Counter(minute_of(ms) for ms in instants_ms)
        self._add(tenant_id, campaign_id, Counter({m: -n for m, n in counts.items()}))

    def _add(self, tenant_id: str, campaign_id: str, deltas: Mapping[str, int]) -> None:
        pk = _pk(tenant_id, campaign_id)

        def add(item: tuple[str, int]) -> None:
            minute, delta = item
            with_retries(
                lambda: CountItem(pk=pk, sk=minute).update(
                    actions=[CountItem.value.add(delta), CountItem.ttl.set(_expires(minute))]
                ),
                "booking",
            )

        changes = sorted((m, d) for m, d in deltas.items() if d)
        parallel_map(add, changes, WRITE_THREADS if len(changes) > 2 else 1)

    def change(
        self,
        tx: Transaction,
        tenant_id: str,
        campaign_id: str,
        booked: Iterable[int],
        released: Iterable[int],
    ) -> None:
        """Book and release calls within a transaction (one update per minute touched)."""
        deltas = Counter(minute_of(ms) for ms in booked)
        deltas.subtract(Counter(minute_of(ms) for ms in released))
        for minute, delta in sorted(deltas.items()):
            if delta:
                tx.update(
                    CountItem(pk=_pk(tenant_id, campaign_id), sk=minute),
                    [CountItem.value.add(delta), CountItem.ttl.set(_expires(minute))],
                    label=f"booking {minute}",
                )

    def booked_minutes(
        self, tenant_id: str, campaign_id: str, first: str, last: str
    ) -> dict[str, int]:
        return {
            item.sk: int(item.value)
            for item in CountItem.query(
                _pk(tenant_id, campaign_id),
                CountItem.sk.between(first, last),
                consistent_read=True,
            )
        }


class CampaignBookings:
    """One campaign's bookings and slots, as `domain.bookings.place_one` reads them."""

    def __init__(
        self,
        tenant_id: str,
        campaign_id: str,
        ledger: BookingLedger | None = None,
        slots: SlotStore | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.campaign_id = campaign_id
        self.ledger = ledger or BookingLedger()
        self.slots = slots or SlotStore()

    def booked_minutes(self, first: str, last: str) -> Mapping[str, int]:
        return self.ledger.booked_minutes(self.tenant_id, self.campaign_id, first, last)

    def calls_in_minute(self, minute: str) -> Sequence[int]:
        return [
            int(slot.due_ms)
            for slot in self.slots.campaign_slots_in_minute(
                self.tenant_id, self.campaign_id, minute
            )
        ]

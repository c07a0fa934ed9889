"""Live-call places, waiting calls, call records and refused caller IDs (Coordination table).

Items (typed models in adapters/tables.py):
- `LiveCallCount` `lease#count` / `provider` and `campaign#<tenant>#<campaign>`: live calls.
- `LeaseItem` `lease#live` / `<lease id>`: one place, `reserved` for a waiting call that
  was admitted, or `live` once the call started. At most the provider-wide limit exist,
  so one partition holds them all.
- `WaitingCallItem` `waiting#<tenant>#<campaign>` / `<due ms>#<contact>#<attempt>` and
  `WaitingIndexItem` `waiting#index` / `<tenant>#<campaign>` (how many wait, so a freed
  place finds them without a scan).
- `CallItem` `call#<call id>` / `call`: which attempt a provider call id is.
- `CountItem` `rate#<tenant>#<campaign>` / `<epoch second>`: calls started in a second.
- `RejectedNumberItem` `rejected#<tenant>#<campaign>` / `<number>`.

A place is taken, turned live and given back only inside the transactions that change the
contact's status (adapters/delivery_store.py), with conditions naming the attempt that
owns it: a duplicate message can neither take a second place nor free another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchcalls.adapters.tables import (
    CallItem,
    CountItem,
    LeaseItem,
    LiveCallCount,
    RejectedNumberItem,
    WaitingCallItem,
    WaitingIndexItem,
)
from batchcalls.adapters.transactions import Transaction, conditional, with_retries

COUNT_PK = "lease#count"
PROVIDER_SK = "provider"
LIVE_PK = "lease#live"
WAITING_INDEX_PK = "waiting#index"
# Items that are done are removed by DynamoDB's TTL this long after.
DONE_KEEP_SECONDS = 2 * 86_400
RATE_KEEP_SECONDS = 3600


def campaign_sk(tenant_id: str, campaign_id: str) -> str:
    return f"campaign#{tenant_id}#{campaign_id}"


def waiting_pk(tenant_id: str, campaign_id: str) -> str:
    return f"waiting#{tenant_id}#{campaign_id}"


def waiting_sk(due_ms: int, contact_id: str, attempt: int) -> str:
    return f"{due_ms:013d}#{contact_id}#{attempt}"


def rate_pk(tenant_id: str, campaign_id: str) -> str:
    return f"rate#{tenant_id}#{campaign_id}"


@dataclass(frozen=True)
class Limits:
    campaign: int
    provider: int


@dataclass(frozen=True)
class WaitingCall:
    tenant_id: str
    campaign_id: str
    sk: str
    message: dict[str, Any]


class LeaseStore:
    # ------------------------------------------------------------------ transaction items
    def take(self, tx: Transaction, lease: LeaseItem, limits: Limits) -> None:
        """A new place: both live counts below their limits, the lease not yet there."""
        value = LiveCallCount.value
        tx.update(
            LiveCallCount(pk=COUNT_PK, sk=PROVIDER_SK),
            [value.add(1)],
            value.does_not_exist() | (value < limits.provider),
            label="provider place",
        )
        tx.update(
            LiveCallCount(pk=COUNT_PK, sk=campaign_sk(lease.tenant_id, lease.campaign_id)),
            [value.add(1)],
            value.does_not_exist() | (value < limits.campaign),
            label="campaign place",
        )
        tx.put(lease, LeaseItem.pk.does_not_exist(), label="lease")

    def go_live(self, tx: Transaction, lease_id: str, attempt: int, actions: list[Any]) -> None:
        """A reserved place becomes the started call's (only the attempt it was given to)."""
        tx.update(
            LeaseItem(pk=LIVE_PK, sk=lease_id),
            [LeaseItem.state.set("live"), *actions],
            (LeaseItem.state == "reserved") & (LeaseItem.attempt == attempt),
            label="lease",
        )

    def give_back(self, tx: Transaction, lease: LeaseItem, state: str) -> None:
        """Free a place, only while it is still in `state` for the same attempt."""
        tx.delete(
            LeaseItem(pk=LIVE_PK, sk=lease.sk),
            (LeaseItem.state == state) & (LeaseItem.attempt == int(lease.attempt)),
            label="lease",
        )
        value = LiveCallCount.value
        tx.update(LiveCallCount(pk=COUNT_PK, sk=PROVIDER_SK), [value.add(-1)], label="provider")
        tx.update(
            LiveCallCount(pk=COUNT_PK, sk=campaign_sk(lease.tenant_id, lease.campaign_id)),
            [value.add(-1)],
            label="campaign",
        )

    def count_second(
        self, tx: Transaction, tenant_id: str, campaign_id: str, second: int, limit: int
    ) -> None:
        """One more call started in this second, below the campaign's calls per second."""
        value = CountItem.value
        tx.update(
            CountItem(pk=rate_pk(tenant_id, campaign_id), sk=f"{second:011d}"),
            [value.add(1), CountItem.ttl.set(second + RATE_KEEP_SECONDS)],
            value.does_not_exist() | (value < limit),
            label="rate",
        )

    def record_call(
        self, tx: Transaction, call_id: str, lease_id: str, message: dict[str, Any], ttl: int
    ) -> None:
        tx.put(
            CallItem(
                pk=f"call#{call_id}",
                sk="call",
                tenant_id=message["tenant_id"],
                campaign_id=message["campaign_id"],
                contact_id=message["contact_id"],
                attempt=int(message["attempt"]),
                lease_id=lease_id,
                ttl=ttl,
            ),
            label="call record",
        )

    def park(self, tx: Transaction, message: dict[str, Any], priority: int) -> None:
        tenant_id, campaign_id = message["tenant_id"], message["campaign_id"]
        tx.put(
            WaitingCallItem(
                pk=waiting_pk(tenant_id, campaign_id),
                sk=waiting_sk(
                    int(message["due_ms"]), message["contact_id"], int(message["attempt"])
                ),
                message={**message, "reserved": False},
            ),
            WaitingCallItem.pk.does_not_exist(),
            label="waiting",
        )
        tx.update(
            WaitingIndexItem(pk=WAITING_INDEX_PK, sk=f"{tenant_id}#{campaign_id}"),
            [WaitingIndexItem.value.add(1), WaitingIndexItem.priority.set(priority)],
            label="waiting index",
        )

    def unpark(self, tx: Transaction, waiting: WaitingCall) -> None:
        tx.delete(
            WaitingCallItem(pk=waiting_pk(waiting.tenant_id, waiting.campaign_id), sk=waiting.sk),
            WaitingCallItem.pk.exists(),
            label="waiting",
        )
        tx.update(
            WaitingIndexItem(pk=WAITING_INDEX_PK, sk=f"{waiting.tenant_id}#{waiting.campaign_id}"),
            [WaitingIndexItem.value.add(-1)],
            label="waiting index",
        )

    # ------------------------------------------------------------------ reads
    def lease(self, lease_id: str) -> LeaseItem | None:
        try:
            return with_retries(
                lambda: LeaseItem.get(LIVE_PK, lease_id, consistent_read=True), "lease read"
            )
        except LeaseItem.DoesNotExist:
            return None

    def leases(self) -> list[LeaseItem]:
        """Every place taken (at most the provider-wide limit of them)."""
        return list(LeaseItem.query(LIVE_PK, consistent_read=True))

    def live_counts(self) -> dict[str, int]:
        """Live calls by counter key (`provider`, `campaign#<tenant>#<campaign>`)."""
        return {
            item.sk: int(item.value or 0)
            for item in LiveCallCount.query(COUNT_PK, consistent_read=True)
        }

    def seconds_used(
        self, tenant_id: str, campaign_id: str, first: int, last: int
    ) -> dict[int, int]:
        """Calls started per second in [first, last] (epoch seconds)."""
        return {
            int(item.sk): int(item.value or 0)
            for item in CountItem.query(
                rate_pk(tenant_id, campaign_id),
                CountItem.sk.between(f"{first:011d}", f"{last:011d}"),
                consistent_read=True,
            )
        }

    def call(self, call_id: str) -> CallItem | None:
        try:
            return with_retries(
                lambda: CallItem.get(f"call#{call_id}", "call", consistent_read=True), "call read"
            )
        except CallItem.DoesNotExist:
            return None

    # ------------------------------------------------------------------ single writes
    def mark_placed(self, lease_id: str, call_id: str, placed_ms: int) -> None:
        """The provider accepted this call id: a message delivered again is not dialled."""
        conditional(
            lambda: LeaseItem(pk=LIVE_PK, sk=lease_id).update(
                actions=[LeaseItem.placed_ms.set(placed_ms)],
                condition=(LeaseItem.state == "live") & (LeaseItem.call_id == call_id),
            ),
            "lease placed",
        )

    def expect_redial(self, lease_id: str, call_id: str, at_ms: int) -> None:
        """A message to dial this call again is on its way, due at `at_ms`."""
        conditional(
            lambda: LeaseItem(pk=LIVE_PK, sk=lease_id).update(
                actions=[LeaseItem.redial_ms.set(at_ms)],
                condition=(LeaseItem.state == "live") & (LeaseItem.call_id == call_id),
            ),
            "lease redial",
        )

    def forget_campaign_counter(self, tenant_id: str, campaign_id: str) -> None:
        conditional(
            lambda: LiveCallCount(pk=COUNT_PK, sk=campaign_sk(tenant_id, campaign_id)).delete(
                condition=LiveCallCount.value == 0
            ),
            "campaign counter",
        )

    # ------------------------------------------------------------------ waiting calls
    def waiting_campaigns(self) -> list[tuple[str, str, int, int]]:
        """(tenant, campaign, waiting count, priority when parked), every index entry."""
        found = []
        for item in WaitingIndexItem.query(WAITING_INDEX_PK, consistent_read=True):
            tenant_id, _, campaign_id = item.sk.partition("#")
            found.append((tenant_id, campaign_id, int(item.value or 0), int(item.priority or 5)))
        return found

    def any_waiting(self) -> bool:
        return any(count > 0 for _, _, count, _ in self.waiting_campaigns())

    def waiting_of(self, tenant_id: str, campaign_id: str, limit: int) -> list[WaitingCall]:
        return [
            WaitingCall(tenant_id, campaign_id, item.sk, dict(item.message or {}))
            for item in WaitingCallItem.query(
                waiting_pk(tenant_id, campaign_id), limit=limit, consistent_read=True
            )
        ]

    def forget_waiting_index(self, tenant_id: str, campaign_id: str) -> None:
        conditional(
            lambda: WaitingIndexItem(pk=WAITING_INDEX_PK, sk=f"{tenant_id}#{campaign_id}").delete(
                condition=WaitingIndexItem.value <= 0
            ),
            "waiting index",
        )

    # ------------------------------------------------------------------ rejected caller IDs
    def reject_number(self, tenant_id: str, campaign_id: str, number: str) -> None:
        conditional(
            lambda: RejectedNumberItem(pk=f"rejected#{tenant_id}#{campaign_id}", sk=number).save(),
            "rejected number",
        )

    def rejected_numbers(self, tenant_id: str, campaign_id: str) -> set[str]:
        return {
            item.sk
            for item in RejectedNumberItem.query(
                f"rejected#{tenant_id}#{campaign_id}", consistent_read=True
            )
        }

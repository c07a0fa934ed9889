"""What the delivery use cases share: their settings, ports, the call message, and reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from batchcalls.adapters.campaign_store import CampaignStore
from batchcalls.adapters.provider_http import CallRequest, PlaceResult
from batchcalls.adapters.tables import CampaignRecord, ContactRecord, SlotRecord
from batchcalls.concurrency import parallel_map
from batchcalls.errors import NotFound

FINISHED = frozenset({"cancelled", "completed", "failed"})
# A reserved place (a waiting call admitted, its message on the way) is given back if the
# call has not started after this long.
RESERVED_PLACE_MS = 10 * 60_000


class CallQueue(Protocol):
    def send(self, messages: Sequence[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
        """Send (message, delay seconds) pairs; returns the messages not sent."""
        ...


class Provider(Protocol):
    def place(self, call: CallRequest, budget_seconds: float) -> PlaceResult:
        """Ask the provider to dial, retrying with the same call id while the budget
        (seconds of real time) lasts; no request may still be under way after it."""
        ...


@dataclass(frozen=True)
class DeliveryConfig:
    provider_wide_call_limit: int
    call_timeout_seconds: int
    public_base_url: str
    # The dispatcher's parallel requests (slot reads, claim transactions and their sends).
    dispatch_workers: int = 16
    # Claims per transaction (at most CLAIMS_PER_TRANSACTION; 1: one claim a transaction).
    claims_per_transaction: int = 32


class Campaigns:
    """Campaign records, read once per invocation."""

    def __init__(self, store: CampaignStore) -> None:
        self.store = store
        self.cache: dict[tuple[str, str], CampaignRecord | None] = {}

    def get(self, tenant_id: str, campaign_id: str) -> CampaignRecord | None:
        key = (tenant_id, campaign_id)
        if key not in self.cache:
            self.cache[key] = self.fresh(tenant_id, campaign_id)
        return self.cache[key]

    def prefetch(self, keys: set[tuple[str, str]], workers: int) -> None:
        """Read these campaigns (not yet read), `workers` at a time."""
        missing = sorted(k for k in keys if k not in self.cache)
        for key, found in zip(
            missing, parallel_map(lambda k: self.fresh(*k), missing, workers), strict=True
        ):
            self.cache[key] = found

    def fresh(self, tenant_id: str, campaign_id: str) -> CampaignRecord | None:
        try:
            return self.store.get(tenant_id, campaign_id)
        except NotFound:
            return None


def call_message(slot: SlotRecord) -> dict[str, Any]:
    """What travels to the caller: the attempt, its plan, its slot."""
    return {
        "tenant_id": slot.tenant_id,
        "campaign_id": slot.campaign_id,
        "contact_id": slot.contact_id,
        "attempt": int(slot.attempt),
        "plan_version": int(slot.plan_version),
        "due_ms": int(slot.due_ms),
        "caller_id": slot.caller_id,
        "priority": int(slot.priority),
        "slot": {"minute_shard": slot.minute_shard, "slot_key": slot.slot_key},
    }


def waits_for(contact: ContactRecord, slot: SlotRecord) -> bool:
    """The contact is scheduled for exactly this slot."""
    return (
        contact.status == "scheduled"
        and int(contact.plan_version) == int(slot.plan_version)
        and int(contact.attempts or 0) == int(slot.attempt) - 1
        and contact.scheduled_at is not None
        and int(contact.scheduled_at) == int(slot.due_ms)
    )


def ahead_of(contact: ContactRecord, slot: SlotRecord) -> bool:
    """A planner wrote the slot and has not moved the contact to it yet: the slot is not
    stale, only early (planners write slots before the contacts that point at them)."""
    return contact.status in ("pending", "scheduled") and int(contact.plan_version) < int(
        slot.plan_version
    )


def on_its_way(contact: ContactRecord, slot: SlotRecord) -> bool:
    """Claimed already (by this slot): its message is travelling or being dialled."""
    return (
        contact.status in ("queued", "in_progress")
        and int(contact.plan_version) == int(slot.plan_version)
        and int(contact.attempts or 0) >= int(slot.attempt) - 1
    )


def queued_for(contact: ContactRecord, message: dict[str, Any]) -> bool:
    return (
        contact.status == "queued"
        and int(contact.plan_version) == int(message["plan_version"])
        and int(contact.attempts or 0) == int(message["attempt"]) - 1
    )


def started_for(contact: ContactRecord, message: dict[str, Any]) -> bool:
    """The attempt was started (by this message, or a copy of it, before a crash)."""
    return (
        contact.status == "in_progress"
        and int(contact.plan_version) == int(message["plan_version"])
        and int(contact.attempts or 0) == int(message["attempt"])
    )

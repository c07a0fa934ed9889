"""The dispatcher's use case: each minute, due slots are claimed once and sent to the caller.

Steps of a tick:
1. Read every minute from the watermark (however far back: a dispatcher that did not run
   for days loses nothing) through the end of the next minute (a rule fires anywhere in
   its minute), an hour of minutes at a time.
2. For each planned slot, judge it against its campaign and contact (read strongly
   consistent): a slot its contact waits for is claimed (slot and contact queued, the
   claim in transit: one transaction); a slot of a finished campaign, or whose contact
   moved on, is stale and deleted; a slot written by a planner that has not yet moved its
   contact to it is *early*, not stale: left for the planner to hand over, and noted for
   the sweeper to read again; a paused campaign's slots wait for its resume's plan.
3. Send the claimed calls to the call queue, each delayed to its own second (calls
   already due, after missed ticks, paced at the campaign's rate).
4. Move the watermark to the first minute not fully handled (never past the current one,
   which a slot may still be written into).
5. Give free places to waiting calls.
A claim that fails for a reason not its own (a throttle, a conflict that outlasted its
retries) keeps its minute before the watermark, so the next tick tries it again; a
message that could not be sent stays claimed, and the sweeper sends it again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batchcalls.adapters.campaign_store import settings_of
from batchcalls.adapters.delivery_store import CLAIMS_PER_TRANSACTION, Claim
from batchcalls.adapters.slot_store import SlotKey, minute_of
from batchcalls.adapters.tables import SlotRecord
from batchcalls.adapters.transactions import ConditionFailed, WriteUnavailable
from batchcalls.clock import to_epoch_ms
from batchcalls.concurrency import parallel_map
from batchcalls.domain import leases as rules
from batchcalls.domain.campaigns import DELIVERING
from batchcalls.ids import contact_shard
from batchcalls.observability import logger, metrics
from batchcalls.services.delivery.common import (
    FINISHED,
    Campaigns,
    ahead_of,
    call_message,
    on_its_way,
    waits_for,
)
from batchcalls.services.delivery.context import Deps
from batchcalls.services.delivery.places import Places

MINUTES_PER_PASS = 60
SEND_BATCH = 10  # SendMessageBatch's limit
# A send that would make its first call arrive later than this waits for the call's next
# whole second instead (at most half a second): calls reach the caller at most about half
# a second late, not up to a whole second.
MAX_ARRIVAL_LAG_MS = 500
# A tick stops reading further back with less than this much of its time left.
TICK_RESERVE_MS = 10_000


@dataclass
class Dispatched:
    claimed: int = 0
    stale: int = 0
    early: set[str] = field(default_factory=set)  # slot partitions to read again
    unfinished: set[int] = field(default_factory=set)  # minutes (ms) to try again


@dataclass
class TickReport:
    minutes: int = 0
    slots_seen: int = 0
    claimed: int = 0
    stale: int = 0
    early: int = 0
    admitted: int = 0
    watermark_ms: int = 0


class Dispatcher:
    def __init__(self, deps: Deps, places: Places) -> None:
        self.deps = deps
        self.store = deps.store
        self.slots = deps.store.slots
        self.places = places

    def tick(self, invocation_left_ms: int | None = None) -> TickReport:
        now = self.deps.clock.now()
        now_ms = to_epoch_ms(now)
        current = rules.minute_start(now_ms)
        report = TickReport()
        campaigns = self.deps.campaigns()
        watermark = self.slots.watermark()
        if watermark is None:  # no tick ever, and no slot written yet
            watermark = rules.first_watermark(now_ms)
        minutes = rules.dispatch_minutes(watermark, now_ms)
        report.minutes = len(minutes)
        began = time.monotonic()
        for first in range(0, len(minutes), MINUTES_PER_PASS):
            page = minutes[first : first + MINUTES_PER_PASS]
            slots = [
                s
                for s in self.slots.in_minutes(
                    (minute_of(m) for m in page), self.deps.config.dispatch_workers
                )
                if s.status == "planned"
            ]
            report.slots_seen += len(slots)
            done = self.dispatch_slots(slots, now, campaigns)
            report.claimed += done.claimed
            report.stale += done.stale
            report.early += len(done.early)
            following = min([*done.unfinished, page[-1] + rules.MINUTE_MS, current])
            if following > watermark:
                self.slots.set_watermark(following)
                watermark = following
            if done.unfinished or following >= current:
                break
            spent_ms = (time.monotonic() - began) * 1000
            if invocation_left_ms is not None and invocation_left_ms - spent_ms < TICK_RESERVE_MS:
                break  # the next tick goes on from here
        report.watermark_ms = watermark
        report.admitted = self.places.admit_waiting(now, campaigns)
        metrics.add_metric(name="CallsDispatched", unit="Count", value=report.claimed)
        metrics.add_metric(
            name="DispatcherLagMinutes", unit="Count", value=max(0, (current - watermark) // 60_000)
        )
        logger.info("tick", **report.__dict__)
        return report

    def dispatch_soon(self, slots: Iterable[SlotRecord]) -> int:
        """For whoever writes slots after a tick: claim and send the ones due before the
        latest tick's horizon (the next tick might come too late for them)."""
        now = self.deps.clock.now()
        horizon = rules.dispatch_horizon_ms(to_epoch_ms(now))
        near = [s for s in slots if int(s.due_ms) < horizon]
        if not near:
            return 0
        return self.dispatch_slots(near, now, self.deps.campaigns()).claimed

    def dispatch_slots(
        self, slots: list[SlotRecord], now: datetime, campaigns: Campaigns
    ) -> Dispatched:
        """Judge each slot (one pass, in due order), then claim and send the claimable
        ones: groups of one campaign's contact shard (one transaction each), `workers`
        groups at a time, each group's messages sent as soon as it is claimed."""
        now_ms = to_epoch_ms(now)
        workers = self.deps.config.dispatch_workers
        done = Dispatched()
        unique = {(s.minute_shard, s.slot_key): s for s in slots}
        slots = sorted(unique.values(), key=lambda s: (int(s.due_ms), -int(s.priority)))
        contacts = self.store.contacts(
            ((s.tenant_id, s.campaign_id, s.contact_id) for s in slots), workers
        )
        campaigns.prefetch({(s.tenant_id, s.campaign_id) for s in slots}, workers)
        overdue: Counter[str] = Counter()
        groups: dict[tuple[str, str, int], list[Claim]] = {}
        claimed_contacts: set[tuple[str, str, str]] = set()
        for slot in slots:
            key = SlotKey(slot.minute_shard, slot.slot_key)
            campaign = campaigns.get(slot.tenant_id, slot.campaign_id)
            if campaign is None or campaign.status in FINISHED:
                self.store.delete_slot(key)
                done.stale += 1
                continue
            if campaign.status not in DELIVERING:
                continue  # paused (or draft again): its resume re-plans what fell due
            contact = contacts.get(slot.contact_id)
            if contact is not None and ahead_of(contact, slot):
                done.early.add(slot.minute_shard)
                continue
            if contact is not None and on_its_way(contact, slot):
                continue
            if contact is None or not waits_for(contact, slot):
                self.store.delete_slot(key)
                done.stale += 1
                continue
            whose = (slot.tenant_id, slot.campaign_id, slot.contact_id)
            if whose in claimed_contacts:
                continue  # a copy of the same slot: one claim per contact and attempt
            claimed_contacts.add(whose)
            rate = settings_of(campaign).max_calls_per_second
            delay = rules.paced_delay_seconds(
                int(slot.due_ms), now_ms, overdue[slot.campaign_id], rate
            )
            if int(slot.due_ms) <= now_ms:
                overdue[slot.campaign_id] += 1
            # To arrive at its own second (an overdue one at its paced second), its delay
            # counted from the moment it is sent, not from the tick's start.
            due_ms = int(slot.due_ms)
            arrives_ms = due_ms if due_ms > now_ms else now_ms + delay * 1000
            group = (slot.tenant_id, slot.campaign_id, contact_shard(slot.contact_id))
            groups.setdefault(group, []).append(
                Claim(slot, contact, call_message(slot), arrives_ms)
            )
        if done.early:
            self.slots.recheck_later(done.early)
        size = min(self.deps.config.claims_per_transaction, CLAIMS_PER_TRANSACTION)
        batches = [
            claims[start : start + size]
            for claims in groups.values()
            for start in range(0, len(claims), size)
        ]
        outgoing: list[tuple[int, dict[str, Any]]] = []
        for claimed, unfinished in parallel_map(lambda b: self._claim(b, now), batches, workers):
            outgoing += claimed
            done.unfinished |= unfinished
        self._send(outgoing, workers)
        done.claimed = len(outgoing)
        return done

    def _claim(
        self, claims: list[Claim], now: datetime
    ) -> tuple[list[tuple[int, dict[str, Any]]], set[int]]:
        """One batch claimed in one transaction: ((arrival, message) of each claimed call,
        minutes to try again)."""
        try:
            claimed = self.store.claim_many(claims, now)
        except WriteUnavailable:
            return [], {rules.minute_start(int(c.slot.due_ms)) for c in claims}
        except ConditionFailed:  # refused for no claim's own condition: the next tick retries
            logger.warning("claims refused", count=len(claims))
            return [], {rules.minute_start(int(c.slot.due_ms)) for c in claims}
        return [
            (claim.arrives_ms, message)
            for claim, message in zip(claims, claimed, strict=True)
            if message is not None
        ], set()

    def _send(self, outgoing: list[tuple[int, dict[str, Any]]], workers: int) -> None:
        """The claimed calls to the call queue, the earliest due first, `workers`
        SendMessageBatch requests at a time, each message delayed from the moment it is
        sent to its own second."""
        outgoing.sort(key=lambda pair: (pair[0], -int(pair[1]["priority"])))
        chunks = [
            outgoing[start : start + SEND_BATCH] for start in range(0, len(outgoing), SEND_BATCH)
        ]

        def send(chunk: list[tuple[int, dict[str, Any]]]) -> int:
            sent_ms = to_epoch_ms(self.deps.clock.now())
            lag_ms = rules.arrival_lag_ms(chunk[0][0], sent_ms)
            if lag_ms > MAX_ARRIVAL_LAG_MS:
                # Sent now, the chunk would arrive lag_ms late (delays count whole
                # seconds); waiting for its next whole second makes that a few ms.
                self.deps.clock.sleep((1000 - lag_ms) / 1000)
                sent_ms = to_epoch_ms(self.deps.clock.now())
            unsent = self.deps.queue.send(
                [
                    (message, rules.delay_seconds(arrives_ms, sent_ms))
                    for arrives_ms, message in chunk
                ]
            )
            return len(unsent)

        unsent = sum(parallel_map(send, chunks, workers))
        if unsent:
            logger.warning("claimed calls not sent; the sweeper sends them", count=unsent)

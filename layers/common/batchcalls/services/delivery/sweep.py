"""The sweeper's use case: find what a crash, a lost message or a failed request left
half-done, and finish it. Every five minutes; each repair is a step another handler
would have taken, so running it twice (or beside them) changes nothing more.

- calls with no outcome after the timeout end `unknown`; places reserved for a call that
  never started are given back (outcome.py);
- claims whose message never reached the caller are sent again;
- calls started but never accepted by the provider (their invocation died, their redial
  message was lost) are dialled again under the same call id (the provider dedupes);
- slots a tick found early (a planner had not yet moved their contacts) are read again;
- messages in the call queue's dead-letter queue are sent back to the call queue (three
  times at most; then the contact ends `failed` with reason `undeliverable`);
- outbox events the stream did not publish are published;
- campaigns with no live call and nothing left to call are completed.
Each repair is counted in a metric (`SweeperRepairs`, alarmed on) and logged.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from batchcalls.adapters.outbox import UNPUBLISHED_AFTER_MS, OutboxStore
from batchcalls.adapters.transactions import ConditionFailed
from batchcalls.clock import to_epoch_ms
from batchcalls.observability import logger, metrics
from batchcalls.services.delivery.common import FINISHED, queued_for
from batchcalls.services.delivery.completion import Completion
from batchcalls.services.delivery.context import Deps
from batchcalls.services.delivery.dispatch import Dispatcher
from batchcalls.services.delivery.outcome import Outcomes
from batchcalls.services.publishing import EventPublisher, NotPublished

# A claim whose message should have reached the caller this long ago was lost.
LOST_CLAIM_MS = 5 * 60_000
# A started call neither accepted nor expected to be dialled again this long after.
UNPLACED_MS = 5 * 60_000
MAX_REDRIVES = 3


class DeadLetters(Protocol):
    def receive(self) -> list[tuple[dict[str, Any], str]]: ...

    def delete(self, receipt: str) -> None: ...


@dataclass
class SweepReport:
    expired: int = 0
    lost_claims: int = 0
    redials: int = 0
    early_slots: int = 0
    dead_letters: int = 0
    events: int = 0
    completed: int = 0

    @property
    def repairs(self) -> int:
        """What would not have happened without the sweeper (timeouts are normal)."""
        return self.lost_claims + self.redials + self.dead_letters + self.events


class Sweeper:
    def __init__(
        self,
        deps: Deps,
        dispatcher: Dispatcher,
        outcomes: Outcomes,
        completion: Completion,
        publisher: EventPublisher | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self.deps = deps
        self.store = deps.store
        self.leases = deps.store.leases
        self.dispatcher = dispatcher
        self.outcomes = outcomes
        self.completion = completion
        self.publisher = publisher
        self.dead_letters = dead_letters

    def sweep(self) -> SweepReport:
        now = self.deps.clock.now()
        report = SweepReport()
        report.expired = self.outcomes.expire(now)
        report.lost_claims = self._resend_lost_claims(now)
        report.redials = self._redial_unplaced(now)
        report.early_slots = self._recheck_early_slots(now)
        report.dead_letters = self._redrive_dead_letters(now)
        report.events = self._publish_outbox(now)
        report.completed = self._complete_campaigns(now)
        for name, value in report.__dict__.items():
            if value:
                metrics.add_metric(
                    name=f"Swept{name.title().replace('_', '')}", unit="Count", value=value
                )
        metrics.add_metric(name="SweeperRepairs", unit="Count", value=report.repairs)
        log = logger.warning if report.repairs else logger.info
        log("sweep", **report.__dict__)
        return report

    def _resend_lost_claims(self, now: datetime) -> int:
        now_ms = to_epoch_ms(now)
        lost = [dict(item.message) for item in self.store.claims.lost(now_ms - LOST_CLAIM_MS)]
        if lost:
            self.deps.queue.send([(message, 0) for message in lost])
            for message in lost:
                self.store.claims.expect(message, now_ms)
        return len(lost)

    def _redial_unplaced(self, now: datetime) -> int:
        now_ms = to_epoch_ms(now)
        stuck = [
            lease
            for lease in self.leases.leases()
            if lease.state == "live"
            and lease.placed_ms is None
            and lease.message
            and int(lease.redial_ms or lease.started_ms or now_ms) < now_ms - UNPLACED_MS
        ]
        for lease in stuck:
            self.deps.queue.send([(dict(lease.message), 0)])
            self.leases.expect_redial(lease.sk, str(lease.call_id), now_ms)
        return len(stuck)

    def _recheck_early_slots(self, now: datetime) -> int:
        partitions = self.store.slots.to_recheck()
        if not partitions:
            return 0
        slots = [s for s in self.store.slots.in_partitions(partitions) if s.status == "planned"]
        done = self.dispatcher.dispatch_slots(slots, now, self.deps.campaigns())
        for partition in partitions:
            if partition not in done.early:
                self.store.slots.rechecked(partition)
        return done.claimed

    def _redrive_dead_letters(self, now: datetime) -> int:
        if self.dead_letters is None:
            return 0
        handled = 0
        while received := self.dead_letters.receive():
            for message, receipt in received:
                if "attempt" in message and int(message.get("redriven", 0)) < MAX_REDRIVES:
                    redriven = {**message, "redriven": int(message.get("redriven", 0)) + 1}
                    self.deps.queue.send([(redriven, 0)])
                else:
                    self._give_up(message, now)
                self.dead_letters.delete(receipt)
                handled += 1
        return handled

    def _give_up(self, message: dict[str, Any], now: datetime) -> None:
        """A call message that failed every time it was handled: its contact, if still
        queued for it, ends failed (never silently stuck)."""
        logger.error("call message given up", call=str(message)[:500])
        if "contact_id" not in message:
            return
        contact = self.store.contact(
            message["tenant_id"], message["campaign_id"], message["contact_id"]
        )
        if contact is not None and queued_for(contact, message):
            with suppress(ConditionFailed):
                self.store.unqueue(contact, message, "failed", now, reason="undeliverable")
            self.completion.check(message["tenant_id"], message["campaign_id"], now)

    def _publish_outbox(self, now: datetime) -> int:
        if self.publisher is None:
            return 0
        outbox: OutboxStore = self.publisher.outbox
        items = list(outbox.unpublished(to_epoch_ms(now) - UNPUBLISHED_AFTER_MS))
        try:
            return self.publisher.publish(items)
        except NotPublished as refused:
            return len(items) - len(refused.event_ids)

    def _complete_campaigns(self, now: datetime) -> int:
        """Safety net for completions two simultaneous last outcomes both missed: every
        campaign that held a place and holds none now is checked."""
        completed = 0
        campaigns = self.deps.campaigns()
        for key, live in self.leases.live_counts().items():
            if not key.startswith("campaign#") or live > 0:
                continue
            _, tenant_id, campaign_id = key.split("#", 2)
            campaign = campaigns.get(tenant_id, campaign_id)
            if campaign is None or campaign.status in FINISHED:
                self.leases.forget_campaign_counter(tenant_id, campaign_id)
            elif campaign.status == "active" and self.completion.check(tenant_id, campaign_id, now):
                completed += 1
        return completed

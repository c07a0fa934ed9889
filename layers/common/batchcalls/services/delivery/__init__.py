"""Delivery: from due slots to placed calls and their outcomes, one use case per module.

- `dispatch`: the minute tick claims due slots and sends them to the call queue.
- `dial`: the caller takes a live place and dials, at most once per attempt.
- `outcome`: a provider callback (or a timeout) ends the attempt, plans a retry.
- `places`: freed places go to waiting calls, by priority then due time.
- `completion`: a campaign with nothing left to call completes, its event emitted once.
- `sweep`: what a crash or a lost message left half-done is finished.
Each step is one DynamoDB transaction (adapters/delivery_store.py) conditional on the
state it read, so a trigger delivered twice, or a crash between two requests, never
dials twice nor loses a contact. `DeliveryService` wires them for the handlers.
"""

from __future__ import annotations

from typing import Any

from batchcalls.adapters.campaign_store import CampaignStore
from batchcalls.adapters.contact_moves import ContactCounts
from batchcalls.adapters.delivery_store import DeliveryStore
from batchcalls.adapters.number_calls import NumberCallLog, TenantSettingsStore
from batchcalls.adapters.tables import SlotRecord
from batchcalls.clock import Clock
from batchcalls.services.delivery.common import (
    CallQueue,
    DeliveryConfig,
    Provider,
    call_message,
)
from batchcalls.services.delivery.completion import Completion
from batchcalls.services.delivery.context import Deps
from batchcalls.services.delivery.dial import Caller
from batchcalls.services.delivery.dispatch import Dispatcher, TickReport
from batchcalls.services.delivery.outcome import Outcomes
from batchcalls.services.delivery.places import Places
from batchcalls.services.delivery.replanning import Replanning
from batchcalls.services.delivery.sweep import DeadLetters, Sweeper, SweepReport
from batchcalls.services.publishing import EventPublisher

__all__ = [
    "DeadLetters",
    "DeliveryConfig",
    "DeliveryService",
    "SweepReport",
    "TickReport",
    "call_message",
]


class DeliveryService:
    def __init__(
        self,
        clock: Clock,
        config: DeliveryConfig,
        queue: CallQueue,
        provider: Provider | None = None,
        publisher: EventPublisher | None = None,
        dead_letters: DeadLetters | None = None,
        store: DeliveryStore | None = None,
        campaigns: CampaignStore | None = None,
    ) -> None:
        self.deps = Deps(
            clock=clock,
            config=config,
            queue=queue,
            provider=provider,
            store=store or DeliveryStore(),
            campaign_store=campaigns or CampaignStore(),
            counts=ContactCounts(),
            tenant_settings=TenantSettingsStore(),
            number_calls=NumberCallLog(),
        )
        self.places = Places(self.deps)
        self.completion = Completion(self.deps)
        self.replanning = Replanning(self.deps)
        self.dispatcher = Dispatcher(self.deps, self.places)
        self.outcomes = Outcomes(
            self.deps, self.places, self.replanning, self.completion, self.dispatch_soon
        )
        self.caller = Caller(
            self.deps,
            self.places,
            self.replanning,
            self.outcomes,
            self.completion,
            self.dispatch_soon,
        )
        self.sweeper = Sweeper(
            self.deps, self.dispatcher, self.outcomes, self.completion, publisher, dead_letters
        )

    def tick(self, invocation_left_ms: int | None = None) -> TickReport:
        return self.dispatcher.tick(invocation_left_ms)

    def dispatch_soon(self, slots: list[SlotRecord]) -> int:
        return self.dispatcher.dispatch_soon(slots)

    def handle_call(self, message: dict[str, Any], invocation_left_ms: int | None = None) -> str:
        return self.caller.handle(message, invocation_left_ms)

    def handle_outcome(
        self,
        call_id: str,
        outcome: str,
        duration_seconds: int | None,
        summary: str | None,
        opt_out: bool,
    ) -> bool:
        return self.outcomes.handle(call_id, outcome, duration_seconds, summary, opt_out)

    def sweep(self) -> SweepReport:
        return self.sweeper.sweep()

    def return_waiting(self, tenant_id: str, campaign_id: str) -> int:
        """A paused campaign resumes: its waiting calls go back to be re-planned."""
        return self.places.return_waiting(tenant_id, campaign_id, self.deps.clock.now())

    def check_completion(self, tenant_id: str, campaign_id: str) -> bool:
        return self.completion.check(tenant_id, campaign_id, self.deps.clock.now())

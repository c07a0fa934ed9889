"""What the Outbox table's stream and the publisher do on AWS, for tests under `mock_aws`
(no stream runs there): send the planner's requests the outbox holds to the planning
queue, and the events to a bus fake."""

from __future__ import annotations

from typing import Any

from batchcalls.adapters.outbox import OutboxStore
from batchcalls.adapters.planning_queue import PlanningQueue
from batchcalls.services.publishing import EventPublisher


class KeptEvents:
    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []
        self.tenants: list[str | None] = []

    def put_many(
        self,
        details: list[dict[str, Any]],
        tenants: list[str | None],
        webhook_urls: list[str | None] | None = None,
    ) -> list[bool]:
        self.details.extend(details)
        self.tenants.extend(tenants)
        return [True] * len(details)


def flush_outbox(planning_queue_url: str, bus: KeptEvents | None = None) -> int:
    publisher = EventPublisher(bus or KeptEvents(), PlanningQueue(planning_queue_url))
    return publisher.publish(OutboxStore().unpublished(2**62))

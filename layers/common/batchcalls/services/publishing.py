"""Events leave the outbox for the bus: the publisher's use case.

An outbox item exists because its state change committed (adapters/outbox.py). The
publisher puts it on the bus, then deletes it (the campaign's webhook gets it from the
bus: a rule sends it to the webhook queue, see services/webhooks.py); a crash in
between leaves it to be published again (the stream retries
the batch, the sweeper publishes what stays), so the bus may see an event twice, always
under the same `eventId`, and never sees one whose change did not commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from batchcalls.adapters.outbox import OutboxStore
from batchcalls.adapters.tables import OutboxRecord
from batchcalls.observability import logger, metrics

BUS_BATCH = 10  # PutEvents takes at most 10 entries


class Bus(Protocol):
    def put_many(
        self,
        details: list[dict[str, Any]],
        tenants: list[str | None],
        webhook_urls: list[str | None] | None = None,
    ) -> list[bool]: ...


class Commands(Protocol):
    """Where the planner's requests go (the planning queue)."""

    def send_command(self, message: dict[str, Any]) -> None: ...


class NotPublished(Exception):
    """Some events were refused by the bus; they stay in the outbox."""

    def __init__(self, event_ids: Sequence[str]) -> None:
        super().__init__(f"the bus refused {len(event_ids)} event(s)")
        self.event_ids = list(event_ids)


class EventPublisher:
    def __init__(
        self,
        bus: Bus,
        commands: Commands | None = None,
        outbox: OutboxStore | None = None,
    ):
        self.bus = bus
        self.commands = commands
        self.outbox = outbox or OutboxStore()

    def publish(self, items: Iterable[OutboxRecord]) -> int:
        """Put the items' events on the bus, send their commands to
        the planner, and forget them. Raises NotPublished naming those the bus refused,
        after handling the others."""
        pending = []
        published = 0
        for item in items:
            if item.kind != "command":
                pending.append(item)
                continue
            assert self.commands is not None, "the publisher needs the planning queue"
            command = {k: v for k, v in dict(item.detail).items() if k != "eventId"}
            self.commands.send_command(command)
            self.outbox.published(item)
            published += 1
        refused: list[str] = []
        for start in range(0, len(pending), BUS_BATCH):
            batch = pending[start : start + BUS_BATCH]
            taken = self.bus.put_many(
                [dict(item.detail) for item in batch],
                [item.tenant_id for item in batch],
                [item.webhook_url for item in batch],
            )
            for item, ok in zip(batch, taken, strict=True):
                if not ok:
                    refused.append(item.event_id)
                    continue
                self.outbox.published(item)
                published += 1
        metrics.add_metric(name="EventsPublished", unit="Count", value=published)
        if refused:
            logger.warning("events refused by the bus", count=len(refused))
            raise NotPublished(refused)
        return published

"""Where a chunked plan stands: one Coordination item per (campaign, plan version, chunk)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchcalls.adapters.tables import PlanProgressItem
from batchcalls.adapters.transactions import with_retries
from batchcalls.clock import utc_now


@dataclass(frozen=True)
class ChunkStart:
    """What chunk k needs: the plan's fixed start, the last contact planned before it, the
    planner's state after chunk k-1 (None for chunk 0) and the counts so far."""

    start_ms: int
    after_seq: int
    planner_state: dict[str, Any] | None
    planned: int
    total: int

    def as_json(self) -> dict[str, Any]:
        return {
            "start_ms": self.start_ms,
            "after_seq": self.after_seq,
            "planner_state": self.planner_state,
            "planned": self.planned,
            "total": self.total,
        }


KEEP_SECONDS = 7 * 86_400


class PlanProgressStore:
    @staticmethod
    def _key(tenant_id: str, campaign_id: str, version: int, chunk: int) -> tuple[str, str]:
        return f"plan#{tenant_id}#{campaign_id}", f"{version:08d}#{chunk:06d}"

    def save(
        self, tenant_id: str, campaign_id: str, version: int, chunk: int, start: ChunkStart
    ) -> None:
        pk, sk = self._key(tenant_id, campaign_id, version, chunk)
        # A plan's chunks run within hours; the state is dropped by TTL a week after.
        expires = int(utc_now().timestamp()) + KEEP_SECONDS
        with_retries(
            lambda: PlanProgressItem(pk=pk, sk=sk, data=start.as_json(), ttl=expires).save(),
            "progress",
        )

    def load(self, tenant_id: str, campaign_id: str, version: int, chunk: int) -> ChunkStart | None:
        pk, sk = self._key(tenant_id, campaign_id, version, chunk)
        try:
            data = PlanProgressItem.get(pk, sk, consistent_read=True).data
        except PlanProgressItem.DoesNotExist:
            return None
        return ChunkStart(**data)

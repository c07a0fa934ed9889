"""Ports the use cases depend on; adapters implement them and tests pass fakes."""

from __future__ import annotations

from typing import Protocol


class PlanningRequests(Protocol):
    def request_plan(
        self, tenant_id: str, campaign_id: str, plan_version: int, resume: bool = False
    ) -> None:
        """Ask the planner (in the background) to plan the campaign's unqueued contacts
        (`resume`: and the calls that waited for a free place when it was paused)."""
        ...

    def request_cancel(self, tenant_id: str, campaign_id: str) -> None:
        """Ask the planner to mark every not-yet-dialled contact cancelled."""
        ...

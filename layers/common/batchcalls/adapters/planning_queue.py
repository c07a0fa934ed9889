"""Planning requests travel to the planner function through the planning queue."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

import boto3


class PlanningQueue:
    """Implements services.ports.PlanningRequests with SQS messages."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @cached_property
    def client(self) -> Any:
        return self._client or boto3.client("sqs")

    def request_plan(
        self, tenant_id: str, campaign_id: str, plan_version: int, resume: bool = False
    ) -> None:
        self._send(
            {
                "kind": "plan",
                "tenant_id": tenant_id,
                "campaign_id": campaign_id,
                "plan_version": plan_version,
                "resume": resume,
            }
        )

    def request_cancel(self, tenant_id: str, campaign_id: str) -> None:
        self._send({"kind": "cancel", "tenant_id": tenant_id, "campaign_id": campaign_id})

    def send_chunk(self, message: dict[str, Any]) -> None:
        self._send(message)

    def _send(self, message: dict[str, Any]) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message))

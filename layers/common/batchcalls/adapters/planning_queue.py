"""Planning requests travel to the planner function through the planning queue."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

import boto3


class PlanningQueue:
    """The planner's work: requests from the outbox, and each plan's next chunk."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @cached_property
    def client(self) -> Any:
        return self._client or boto3.client("sqs")

    def send_command(self, message: dict[str, Any]) -> None:
        """A request committed through the outbox (plan a version, cancel the contacts)."""
        self._send(message)

    def send_chunk(self, message: dict[str, Any]) -> None:
        self._send(message)

    def _send(self, message: dict[str, Any]) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message))

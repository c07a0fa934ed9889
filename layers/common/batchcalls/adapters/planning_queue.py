"""Work queues carrying JSON messages: the planning queue (the planner's requests and each
plan's next chunk) and the import queue (each import's next chunk)."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

import boto3


class JsonQueue:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @cached_property
    def client(self) -> Any:
        return self._client or boto3.client("sqs")

    def send(self, message: dict[str, Any]) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message))


class PlanningQueue(JsonQueue):
    """The planner's work: requests from the outbox, and each plan's next chunk."""

    def send_command(self, message: dict[str, Any]) -> None:
        """A request committed through the outbox (plan a version, cancel the contacts)."""
        self.send(message)

    def send_chunk(self, message: dict[str, Any]) -> None:
        self.send(message)

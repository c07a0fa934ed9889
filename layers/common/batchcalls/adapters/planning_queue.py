"""Work queues carrying JSON messages: the planning queue (the planner's requests and each
plan's next chunk), the import queue (each import's next chunk) and the webhook queue."""

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


class WebhookQueue(JsonQueue):
    """The webhook sender's own messages: the next attempt of a delivery, or the same
    one again until it is due (a message waits at most 15 minutes, SQS's longest delay)."""

    MAX_DELAY_SECONDS = 900

    def send_later(self, message: dict[str, Any], delay_seconds: int) -> None:
        delay = max(0, min(int(delay_seconds), self.MAX_DELAY_SECONDS))
        self.client.send_message(
            QueueUrl=self.queue_url, MessageBody=json.dumps(message), DelaySeconds=delay
        )

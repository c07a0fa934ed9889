"""The call queue: claimed calls travel to the caller as SQS messages, each delayed to
its own second (DelaySeconds 0..900), sent in full SendMessageBatch batches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import boto3

from batchcalls.observability import logger


class SqsCallQueue:
    """Implements services.delivery.CallQueue."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @cached_property
    def client(self) -> Any:
        return self._client or boto3.client("sqs")

    def send(self, messages: Sequence[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
        """Send (message, delay seconds) pairs; returns the messages that could not be sent
        (after one retry of the failed entries)."""
        failed: list[dict[str, Any]] = []
        for start in range(0, len(messages), 10):
            batch = list(messages[start : start + 10])
            for _ in range(2):
                if not batch:
                    break
                answer = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "MessageBody": json.dumps(m), "DelaySeconds": int(d)}
                        for i, (m, d) in enumerate(batch)
                    ],
                )
                refused = {int(f["Id"]) for f in answer.get("Failed", [])}
                batch = [entry for i, entry in enumerate(batch) if i in refused]
            if batch:
                logger.warning("call messages not sent", count=len(batch))
                failed.extend(m for m, _ in batch)
        return failed


class SqsDeadLetters:
    """The call queue's dead-letter queue, read by the sweeper (services.delivery.sweep)."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @cached_property
    def client(self) -> Any:
        return self._client or boto3.client("sqs")

    def receive(self) -> list[tuple[dict[str, Any], str]]:
        """Up to 10 messages (body, receipt handle), hidden from others for 5 minutes."""
        if not self.queue_url:
            return []
        answer = self.client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300
        )
        found = []
        for message in answer.get("Messages", []):
            try:
                body = json.loads(message["Body"])
            except ValueError:
                body = {"unreadable": message["Body"][:200]}
            found.append(
                (body if isinstance(body, dict) else {"unreadable": True}, message["ReceiptHandle"])
            )
        return found

    def delete(self, receipt: str) -> None:
        self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)

"""Deliver what sits in a moto queue to a handler as SQS Lambda events, until it is empty."""

from __future__ import annotations

import copy
from typing import Any

import boto3

from tests.support.api import LambdaContextStub, load_event


def drain(queue_url: str, handler: Any, max_rounds: int = 1000) -> int:
    """Returns the number of messages handled; failed items stay in the queue."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    template = load_event("planner_plan_chunk.json")["Records"][0]
    handled = 0
    for _ in range(max_rounds):
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            return handled
        records = []
        for message in received:
            record = copy.deepcopy(template)
            record.update(
                messageId=message["MessageId"],
                receiptHandle=message["ReceiptHandle"],
                body=message["Body"],
            )
            records.append(record)
        result = handler({"Records": records}, LambdaContextStub())
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for message in received:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                handled += 1
    raise AssertionError("the queue did not drain")

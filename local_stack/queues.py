"""SQS event source mappings, run by the runtime on the injected clock.

moto keeps every message; the runtime keeps a ledger of the messages of each polled
queue. A send to such a queue goes into moto with no delay (see `moto_hooks`) while the
ledger notes when it should become visible (`DelaySeconds` of the message, else of the
queue). The ledger receives it from moto at once, holding it in flight there, and
delivers it when the injected clock reaches its time: batches of `BatchSize`, at most
`MaximumConcurrency` at once, real Lambda SQS records. A success deletes it in moto; a
failure (the whole batch on an exception, or the items of `batchItemFailures` with
`ReportBatchItemFailures`) comes back after the queue's visibility timeout, and once it
was received `maxReceiveCount` times it is sent to the dead-letter queue in moto.

A crashed invocation (a fault) fails its whole batch, as a function error does. Faults
may deliver a batch twice (`duplicate_deliveries`: the copy right after, its outcome
ignored) or again in the middle of an invocation ("redeliver"); with `serial` faults the
batches due together run one after another, in order.
"""

from __future__ import annotations

import base64
import itertools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from local_stack.aws_requests import InvocationCrashed
from local_stack.deploy import SqsMapping
from local_stack.lambdas import LocalFunction, Throttled, triggered
from local_stack.loop import EventLoop

if TYPE_CHECKING:
    from local_stack.faults import Faults

log = logging.getLogger("local_stack")

# Messages the runtime owns stay in flight in moto (which counts wall time) meanwhile.
HOLD_SECONDS = 43200
DEFAULT_SENDER_ID = "AIDAIT2UOQQY3AUEKVGXU"
_SYSTEM_ATTRIBUTES = (
    "MessageGroupId",
    "MessageDeduplicationId",
    "SequenceNumber",
    "AWSTraceHeader",
)


def _ms(instant: datetime) -> str:
    return str(int(instant.timestamp() * 1000))


@dataclass
class LedgerMessage:
    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str]
    message_attributes: dict[str, Any]
    md5_of_message_attributes: str | None
    sent_at: datetime
    visible_at: datetime
    seq: int
    receive_count: int = 0
    first_received_at: datetime | None = None
    in_flight: bool = False


@dataclass
class DeliveryLog:
    delivered: int = 0
    succeeded: int = 0
    failed: int = 0
    dead_lettered: int = 0
    batches: list[list[str]] = field(default_factory=list)


def _record_attribute(value: dict[str, Any]) -> dict[str, Any]:
    binary = value.get("BinaryValue")
    record: dict[str, Any] = {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [
            base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])
        ],
        "dataType": value.get("DataType", "String"),
    }
    return record


def _send_attribute(value: dict[str, Any]) -> dict[str, Any]:
    sent = {"DataType": value.get("DataType", "String")}
    for key in ("StringValue", "BinaryValue"):
        if value.get(key) is not None:
            sent[key] = value[key]
    return sent


def failed_message_ids(
    batch: list[LedgerMessage], result: Any, error: BaseException | None, report: bool
) -> set[str]:
    """Which records of a batch go back to the queue, as Lambda decides it."""
    every = {m.message_id for m in batch}
    if error is not None:
        return every
    if not report or result is None:
        return set()
    if not isinstance(result, dict):
        return every
    failures = result.get("batchItemFailures")
    if not failures:
        return set()
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in every:
            return every  # an invalid response fails the whole batch
        failed.add(identifier)
    return failed


class QueueLedger:
    def __init__(
        self,
        mapping: SqsMapping,
        function: LocalFunction,
        sqs: Any,
        loop: EventLoop,
        region: str,
        send_lock: threading.Lock,
        faults: Faults | None = None,
    ) -> None:
        self.faults = faults
        self.mapping = mapping
        self.queue = mapping.queue
        self.function = function
        self.sqs = sqs
        self.loop = loop
        self.region = region
        self.send_lock = send_lock
        self.messages: dict[str, LedgerMessage] = {}
        self.log = DeliveryLog()
        self._intended: dict[str, tuple[datetime, int]] = {}
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._pull_scheduled = False
        self._deliveries_at: set[datetime] = set()
        self._dead_letter_url: str | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, mapping.maximum_concurrency),
            thread_name_prefix=f"sqs-{mapping.function}",
        )

    # ------------------------------------------------------------ arrivals (moto threads)
    def message_sent(self, message_id: str, delay_seconds: int) -> None:
        with self._lock:
            self._intended[message_id] = (self.loop.now(), delay_seconds)
            schedule = not self._pull_scheduled
            self._pull_scheduled = True
        if schedule:
            self.loop.call_soon(f"receive {self.queue.name}", self.pull)

    def pull(self, now: datetime) -> None:
        """Take every message moto holds for this queue into the ledger."""
        with self._lock:
            self._pull_scheduled = False
        with self.send_lock:
            while True:
                received = self.sqs.receive_message(
                    QueueUrl=self.queue.url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=HOLD_SECONDS,
                    WaitTimeSeconds=0,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not received:
                    break
                for message in received:
                    self._add(message, now)

    def _add(self, message: dict[str, Any], now: datetime) -> None:
        with self._lock:
            sent_at, delay = self._intended.pop(message["MessageId"], (now, 0))
        visible_at = sent_at + timedelta(seconds=delay)
        entry = LedgerMessage(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message.get("Body", ""),
            md5_of_body=message.get("MD5OfBody", ""),
            attributes=message.get("Attributes", {}),
            message_attributes=message.get("MessageAttributes", {}),
            md5_of_message_attributes=message.get("MD5OfMessageAttributes"),
            sent_at=sent_at,
            visible_at=visible_at,
            seq=next(self._seq),
        )
        self.messages[entry.message_id] = entry
        self._schedule_delivery(visible_at)

    def _schedule_delivery(self, at: datetime) -> None:
        if at in self._deliveries_at:
            return
        self._deliveries_at.add(at)
        self.loop.call_at(at, f"deliver {self.queue.name}", self.deliver)

    # ------------------------------------------------------------ deliveries (loop)
    def visible(self, now: datetime) -> list[LedgerMessage]:
        return sorted(
            (m for m in self.messages.values() if not m.in_flight and m.visible_at <= now),
            key=lambda m: (m.visible_at, m.seq),
        )

    def deliver(self, now: datetime) -> None:
        self._deliveries_at = {at for at in self._deliveries_at if at > now}
        due = self.visible(now)
        limit = self.queue.max_receive_count
        if limit is not None and self.queue.dead_letter_arn:
            for message in [m for m in due if m.receive_count >= limit]:
                self._dead_letter(message)
            due = [m for m in due if m.message_id in self.messages]
        size = max(1, self.mapping.batch_size)
        batches = [due[i : i + size] for i in range(0, len(due), size)]
        for message in due:
            message.in_flight = True
            message.receive_count += 1
            message.first_received_at = message.first_received_at or now
        serial = self.faults is not None and self.faults.serial
        if len(batches) == 1 or serial:
            outcomes = [self._invoke(batch) for batch in batches]
        else:
            outcomes = list(self._executor.map(self._invoke, batches))
        for batch, failed in zip(batches, outcomes, strict=True):
            self.log.batches.append([m.message_id for m in batch])
            for message in batch:
                message.in_flight = False
                self.log.delivered += 1
                if message.message_id in failed:
                    self.log.failed += 1
                    message.visible_at = now + timedelta(seconds=self.queue.visibility_timeout)
                    self._schedule_delivery(message.visible_at)
                else:
                    self.log.succeeded += 1
                    self._delete(message)

    def _invoke(self, batch: list[LedgerMessage]) -> set[str]:
        event = {"Records": [self.record(m) for m in batch]}
        result: Any = None
        error: BaseException | None = None
        trigger = f"sqs {self.queue.name}"
        try:
            with triggered(trigger, redeliver=lambda: self.redeliver(batch, trigger)):
                result = self.function.invoke(event)
        except InvocationCrashed as raised:
            error = raised
            log.warning("%s crashed on a batch of %s", self.function.logical_id, self.queue.name)
        except Exception as raised:
            error = raised
            log.exception("%s failed on a batch of %s", self.function.logical_id, self.queue.name)
        if self.faults is not None and self.faults.duplicate_delivery(
            self.function.logical_id, f"batch of {self.queue.name}"
        ):
            self.redeliver(batch, trigger)
        return failed_message_ids(batch, result, error, self.mapping.report_batch_item_failures)

    def redeliver(self, batch: list[LedgerMessage], trigger: str) -> str:
        """The same messages delivered again, as SQS may (a new receive: the count is one
        more). What happens to the messages still follows the first delivery."""
        records = []
        for message in batch:
            record = self.record(message)
            record["attributes"]["ApproximateReceiveCount"] = str(message.receive_count + 1)
            record["receiptHandle"] = f"{message.receipt_handle}-again"
            records.append(record)
        try:
            with triggered(f"{trigger} (delivered again)", wait=False):
                self.function.invoke({"Records": records})
            return "ok"
        except Throttled:
            self.loop.call_soon(
                f"deliver {self.queue.name} again",
                lambda now: log.info("%s", self.redeliver(batch, trigger)),
            )
            return "throttled, runs later"
        except InvocationCrashed:
            return "crashed"
        except Exception as error:
            log.exception("%s failed on a batch delivered again", self.function.logical_id)
            return f"failed: {error!r}"

    def record(self, message: LedgerMessage) -> dict[str, Any]:
        attributes = {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": _ms(message.sent_at),
            "SenderId": message.attributes.get("SenderId", DEFAULT_SENDER_ID),
            "ApproximateFirstReceiveTimestamp": _ms(message.first_received_at or message.sent_at),
        }
        for name in _SYSTEM_ATTRIBUTES:
            if name in message.attributes:
                attributes[name] = message.attributes[name]
        record: dict[str, Any] = {
            "messageId": message.message_id,
            "receiptHandle": message.receipt_handle,
            "body": message.body,
            "attributes": attributes,
            "messageAttributes": {
                k: _record_attribute(v) for k, v in message.message_attributes.items()
            },
            "md5OfBody": message.md5_of_body,
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue.arn,
            "awsRegion": self.region,
        }
        if message.md5_of_message_attributes:
            record["md5OfMessageAttributes"] = message.md5_of_message_attributes
        return record

    def _delete(self, message: LedgerMessage) -> None:
        self.messages.pop(message.message_id, None)
        self.sqs.delete_message(QueueUrl=self.queue.url, ReceiptHandle=message.receipt_handle)

    def _dead_letter(self, message: LedgerMessage) -> None:
        if self._dead_letter_url is None:
            name = str(self.queue.dead_letter_arn).rsplit(":", 1)[-1]
            self._dead_letter_url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = {k: _send_attribute(v) for k, v in message.message_attributes.items()}
        self.sqs.send_message(
            QueueUrl=self._dead_letter_url,
            MessageBody=message.body,
            **({"MessageAttributes": attributes} if attributes else {}),
        )
        self.log.dead_lettered += 1
        log.warning(
            "message %s of %s moved to the dead-letter queue after %d receives",
            message.message_id,
            self.queue.name,
            message.receive_count,
        )
        self._delete(message)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

"""DynamoDB stream event source mappings, run by the runtime on the injected clock.

moto appends a stream record for each write (see `moto_hooks`) and the runtime is told;
the poller of each mapping reads its shard soon after (a task due at once on the event
loop, or `MaximumBatchingWindowInSeconds` later) and invokes the function with real Lambda DynamoDB stream records, one batch at a
time, in order, as Lambda does with a one-shard stream:

- `FilterCriteria`: records matching no pattern are dropped (EventBridge pattern syntax,
  matched by moto's own matcher); `BatchSize` counts the records that remain.
- Success moves past the batch. `ReportBatchItemFailures`: a response naming records
  (`itemIdentifier` = their SequenceNumber) moves past those before the first one named
  and retries from it; an unknown identifier fails the whole batch.
- A function error (an exception, a crash) fails the whole batch;
  `BisectBatchOnFunctionError` splits it in two and retries each half (a split is not a
  retry). Retries wait 1 s, doubling to 60 s, on the injected clock; the shard waits too.
- After `MaximumRetryAttempts` retries (-1: without end), or once a record is older than
  `MaximumRecordAgeInSeconds`, the batch is skipped and, with an `OnFailure` SQS
  destination, an invocation record describing it (`DDBStreamBatchInfo`) is sent there.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from moto.events.models import EventPattern

from local_stack.aws_requests import InvocationCrashed
from local_stack.deploy import StreamMapping
from local_stack.lambdas import LocalFunction, triggered
from local_stack.loop import EventLoop

if TYPE_CHECKING:
    from local_stack.faults import Faults

log = logging.getLogger("local_stack")

FIRST_RETRY_SECONDS = 1
MAX_RETRY_SECONDS = 60


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Batch:
    positions: list[int]  # indexes of the shard's records, in order
    end: int  # the index after the last record read for it (filtered ones included)
    split: bool = False  # a half of a bisected batch: retried as it is


@dataclass
class StreamLog:
    invocations: int = 0
    delivered: int = 0
    filtered: int = 0
    failed_batches: int = 0
    sent_to_destination: int = 0
    batches: list[list[str]] = field(default_factory=list)  # sequence numbers


class StreamPoller:
    def __init__(
        self,
        mapping: StreamMapping,
        function: LocalFunction,
        shard: Any,
        loop: EventLoop,
        region: str,
        sqs: Any,
        faults: Faults | None = None,
    ) -> None:
        self.mapping = mapping
        self.function = function
        self.shard = shard
        self.loop = loop
        self.region = region
        self.sqs = sqs
        self.faults = faults
        self.patterns = [EventPattern.load(p) for p in mapping.filters]
        self.position = 0 if mapping.starting_position == "TRIM_HORIZON" else len(shard.items)
        self.arrivals: dict[int, datetime] = {}  # shard index -> injected time of the write
        self.log = StreamLog()
        self._pending: list[Batch] = []  # halves of a bisected batch, delivered first
        self._attempts: dict[int, int] = {}  # head record -> failed attempts
        self._retry_at: datetime | None = None
        self._poll_scheduled = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------ arrivals (moto threads)
    def record_added(self, record: Any) -> None:
        now = self.loop.now()
        record.record["dynamodb"]["ApproximateCreationDateTime"] = now
        self.arrivals[int(record.record["dynamodb"]["SequenceNumber"]) - self._first] = now
        self.schedule_poll()

    @property
    def _first(self) -> int:
        return int(self.shard.starting_sequence_number)

    def schedule_poll(self) -> None:
        with self._lock:
            if self._poll_scheduled or self._retry_at is not None:
                return
            self._poll_scheduled = True
        self.loop.call_later(
            self.mapping.batching_window, f"poll stream of {self.mapping.table}", self.poll
        )

    # ------------------------------------------------------------ polling (loop)
    def poll(self, now: datetime) -> None:
        with self._lock:
            self._poll_scheduled = False
            self._retry_at = None
        while True:
            batch = self._next_batch(now)
            if batch is None:
                return
            if not self._deliver(batch, now):
                return

    def _matches(self, record: dict[str, Any]) -> bool:
        return not self.patterns or any(p.matches_event(record) for p in self.patterns)  # type: ignore[arg-type]

    def _next_batch(self, now: datetime) -> Batch | None:
        if self._pending:
            return self._pending.pop(0)
        records = self.shard.items
        positions: list[int] = []
        index = self.position
        while index < len(records) and len(positions) < self.mapping.batch_size:
            if self._matches(self.record(index)):
                positions.append(index)
            else:
                self.log.filtered += 1
            index += 1
        if not positions:
            self.position = index
            return None
        return Batch(positions, index)

    def record(self, index: int) -> dict[str, Any]:
        """The Lambda event record of the shard's index-th record."""
        source = self.shard.items[index].to_json()
        dynamodb = copy.deepcopy(source["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
        return {
            "eventID": source["eventID"],
            "eventName": source["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": dynamodb,
            "eventSourceARN": self.mapping.stream_arn,
        }

    def _deliver(self, batch: Batch, now: datetime) -> bool:
        """Deliver one batch; False when the shard must wait (a retry is scheduled)."""
        expired = self._expired(batch, now)
        if expired:
            self._give_up(batch, now, "RecordAgeExceeded", None)
            return True
        records = [self.record(i) for i in batch.positions]
        failed_from, function_error = self._invoke(records)
        if self.faults is not None and self.faults.duplicate_delivery(
            self.function.logical_id, f"stream batch of {self.mapping.table}"
        ):
            self._invoke(records)  # what happens next follows the first delivery
        self.log.batches.append([r["dynamodb"]["SequenceNumber"] for r in records])
        self.log.delivered += len(records)
        if failed_from is None:
            self._done(batch.end)
            return True
        self.log.failed_batches += 1
        if function_error and self.mapping.bisect_on_error and len(batch.positions) > 1:
            half = (len(batch.positions) + 1) // 2
            first = Batch(batch.positions[:half], batch.positions[half], split=True)
            second = Batch(batch.positions[half:], batch.end, split=True)
            self._pending[:0] = [first, second]
            return self._wait(now, 0)
        if failed_from:
            self._done(batch.positions[failed_from])
        rest = Batch(batch.positions[failed_from:], batch.end, batch.split)
        head = rest.positions[0]
        self._attempts[head] = self._attempts.get(head, 0) + 1
        limit = self.mapping.maximum_retry_attempts
        if limit >= 0 and self._attempts[head] > limit:
            self._give_up(
                rest, now, "RetryAttemptsExhausted", "Unhandled" if function_error else None
            )
            return True
        if rest.split:
            self._pending.insert(0, rest)  # a half is retried as it is
        return self._wait(now, self._attempts[head])  # else read again from the checkpoint

    def _invoke(self, records: list[dict[str, Any]]) -> tuple[int | None, bool]:
        """(index in the batch of the first failed record or None, whether the function failed)."""
        self.log.invocations += 1
        try:
            with triggered(f"dynamodb stream {self.mapping.table}"):
                result = self.function.invoke({"Records": records})
        except (Exception, InvocationCrashed):
            log.exception(
                "%s failed on a batch of the %s stream",
                self.function.logical_id,
                self.mapping.table,
            )
            return 0, True
        if not self.mapping.report_batch_item_failures or not isinstance(result, dict):
            return None, False
        failures = result.get("batchItemFailures") or []
        sequence = [r["dynamodb"]["SequenceNumber"] for r in records]
        positions = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in sequence:
                return 0, False  # an invalid response fails the whole batch
            positions.append(sequence.index(identifier))
        return (min(positions), False) if positions else (None, False)

    def _done(self, end: int) -> None:
        self.position = max(self.position, end)
        for head in [h for h in self._attempts if h < end]:
            del self._attempts[head]

    def _wait(self, now: datetime, attempts: int) -> bool:
        seconds = (
            0
            if attempts == 0
            else min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), MAX_RETRY_SECONDS)
        )
        at = now + timedelta(seconds=seconds)
        with self._lock:
            self._retry_at = at
        self.loop.call_at(at, f"retry stream batch of {self.mapping.table}", self.poll)
        return False

    def _expired(self, batch: Batch, now: datetime) -> bool:
        limit = self.mapping.maximum_record_age
        arrived = self.arrivals.get(batch.positions[0])
        return limit >= 0 and arrived is not None and (now - arrived).total_seconds() > limit

    def _give_up(self, batch: Batch, now: datetime, condition: str, error: str | None) -> None:
        self._done(batch.end)
        self._pending = [b for b in self._pending if b.positions[0] >= batch.end]
        log.warning(
            "%s: %d records of the %s stream skipped (%s)",
            self.function.logical_id,
            len(batch.positions),
            self.mapping.table,
            condition,
        )
        if self.mapping.on_failure:
            self._send_failure(batch, now, condition, error)

    def _send_failure(self, batch: Batch, now: datetime, condition: str, error: str | None) -> None:
        """The invocation record Lambda sends an OnFailure destination for a stream batch."""
        first, last = self.record(batch.positions[0]), self.record(batch.positions[-1])
        arrived = [self.arrivals.get(i, now) for i in (batch.positions[0], batch.positions[-1])]
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if error:
            response["functionError"] = error
        body = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function.deployed.arn,
                "condition": condition,
                "approximateInvokeCount": self._attempts.get(batch.positions[0], 0) + 1,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso(now),
            "DDBStreamBatchInfo": {
                "shardId": self.shard.id,
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(arrived[0]),
                "approximateArrivalOfLastRecord": _iso(arrived[1]),
                "batchSize": len(batch.positions),
                "streamArn": self.mapping.stream_arn,
            },
        }
        destination = str(self.mapping.on_failure)
        if not destination.startswith("arn:aws:sqs:"):
            log.warning("OnFailure destination %s is not run locally (only SQS)", destination)
            return
        url = self.sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[-1])["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
        self.log.sent_to_destination += 1


class StreamPollers:
    """Every stream mapping of the stack, by table."""

    def __init__(self) -> None:
        self.by_table: dict[str, list[StreamPoller]] = {}

    def add(self, poller: StreamPoller) -> None:
        self.by_table.setdefault(poller.mapping.table, []).append(poller)

    def record_added(self, table: str, record: Any) -> None:
        for poller in self.by_table.get(table, []):
            poller.record_added(record)

    def all(self) -> list[StreamPoller]:
        return [p for pollers in self.by_table.values() for p in pollers]

    def for_function(self, function: str) -> list[StreamPoller]:
        return [p for p in self.all() if p.function.logical_id == function]


def shard_of(table_name: str, account_id: str, region: str) -> Any:
    """moto's stream shard of a table."""
    from moto.dynamodb import dynamodb_backends

    return dynamodb_backends[account_id][region].get_table(table_name).stream_shard

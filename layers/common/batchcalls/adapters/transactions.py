"""Writes that change several items at once, and the one reading of why DynamoDB refused one.

DynamoDB refuses a write for three different reasons, and they call for three different
answers:
- a condition failed (`ConditionalCheckFailed`): another writer got there first, or the
  state moved on. Not an error: the use case decides (a duplicate is dropped...).
  `ConditionFailed.labels` says which items' conditions failed.
- the write conflicted with another transaction, was throttled, or the service failed
  (`TransactionConflict`, throttling, 5xx, a timeout): nothing is known to be wrong with
  the write itself. It is retried here with backoff, under the same client request token,
  so a transaction that did commit before its answer was lost is not applied twice
  (DynamoDB answers a repeated token with success for ten minutes).
- anything else (validation, access denied) is a bug: raised as is.
What still fails after the retries raises `WriteUnavailable`: the invocation fails and its
trigger is delivered again, which every use case is written to survive.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from batchcalls.adapters.tables import CoordinationRecord
from batchcalls.observability import logger

CONDITION_FAILED = {"ConditionalCheckFailed", "ConditionalCheckFailedException"}
RETRYABLE = {
    "TransactionConflict",
    "TransactionConflictException",
    "TransactionInProgressException",
    "ProvisionedThroughputExceeded",
    "ProvisionedThroughputExceededException",
    "ThrottlingError",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
}
ATTEMPTS = 4
BASE_DELAY_SECONDS = 0.05

T = TypeVar("T")
_sleep: Callable[[float], None] = time.sleep


class ConditionFailed(Exception):
    """A condition of the write failed: someone else changed the item first."""

    def __init__(self, labels: Sequence[str]) -> None:
        super().__init__(f"condition failed: {', '.join(labels) or 'unknown item'}")
        self.labels = tuple(labels)

    def failed(self, label: str) -> bool:
        return label in self.labels


class WriteUnavailable(Exception):
    """DynamoDB kept refusing for reasons that are not the write's fault."""


def _codes(error: PynamoDBException) -> tuple[str | None, list[str | None]]:
    code = getattr(error, "cause_response_code", None)
    reasons: list[str | None] = []
    if code == "TransactionCanceledException" and isinstance(error, TransactWriteError):
        reasons = [r.code if r is not None else None for r in error.cancellation_reasons]
    return code, reasons


def classify(error: PynamoDBException) -> str:
    """What a pynamodb error means: "condition", "retry" or "other"."""
    if isinstance(error, DoesNotExist):
        return "other"  # an answer, not a failure
    code, reasons = _codes(error)
    if code in CONDITION_FAILED:
        return "condition"
    if code == "TransactionCanceledException":
        if any(r in CONDITION_FAILED for r in reasons):
            return "condition"
        if not reasons or all(r is None or r == "None" or r in RETRYABLE for r in reasons):
            return "retry"
        return "other"
    if code is None or code in RETRYABLE:
        return "retry"  # a timeout or a dropped connection: the write may or may not be done
    return "other"


def model_connection() -> Connection:
    """The models' own connection (its botocore client made once per table binding), not a
    new one per transaction: a new Connection makes a new botocore session and client,
    which parses the DynamoDB service model again (~0.3 s of CPU for every transaction)."""
    return CoordinationRecord._get_connection().connection


def transaction(what: str) -> Transaction:
    """A new transaction (any tables) on the models' connection."""
    return Transaction(model_connection(), what)


def with_retries(write: Callable[[], T], what: str) -> T:
    """Run a write, retrying what is not its fault; condition failures pass through."""
    for attempt in range(ATTEMPTS):
        try:
            return write()
        except PynamoDBException as error:
            kind = classify(error)
            if kind != "retry":
                raise
            if attempt == ATTEMPTS - 1:
                raise WriteUnavailable(f"{what}: {error}") from error
            logger.warning("write retried", what=what, code=_codes(error)[0], attempt=attempt + 1)
            _sleep(BASE_DELAY_SECONDS * 2**attempt * (1 + random.random()))
    raise AssertionError("unreachable")


def conditional(write: Callable[[], Any], what: str) -> bool:
    """One conditional write: True when done, False when its condition failed."""
    try:
        with_retries(write, what)
    except PynamoDBException as error:
        if classify(error) == "condition":
            return False
        raise
    return True


@dataclass
class Transaction:
    """The items of one TransactWriteItems, each with a label naming what it stands for,
    so a refusal says which conditions failed."""

    connection: Connection
    what: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    _checks: list[tuple[str, Any]] = field(default_factory=list)
    _deletes: list[tuple[str, Any]] = field(default_factory=list)
    _puts: list[tuple[str, Any]] = field(default_factory=list)
    _updates: list[tuple[str, Any]] = field(default_factory=list)

    def update(
        self, model: Model, actions: list[Any], condition: Condition | None = None, label: str = ""
    ) -> Transaction:
        self._updates.append((label, (model, actions, condition)))
        return self

    def put(self, model: Model, condition: Condition | None = None, label: str = "") -> Transaction:
        self._puts.append((label, (model, condition)))
        return self

    def delete(
        self, model: Model, condition: Condition | None = None, label: str = ""
    ) -> Transaction:
        self._deletes.append((label, (model, condition)))
        return self

    def check(
        self,
        model_class: type[Model],
        hash_key: Any,
        range_key: Any,
        condition: Condition,
        label: str = "",
    ) -> Transaction:
        self._checks.append((label, (model_class, hash_key, range_key, condition)))
        return self

    def __len__(self) -> int:
        return len(self._checks) + len(self._deletes) + len(self._puts) + len(self._updates)

    @property
    def labels(self) -> list[str]:
        """In the order DynamoDB sees the items (pynamodb sends checks, deletes, puts,
        then updates), which is the order of its cancellation reasons."""
        return [label for label, _ in [*self._checks, *self._deletes, *self._puts, *self._updates]]

    def _write(self) -> None:
        with TransactWrite(connection=self.connection, client_request_token=self.token) as tx:
            for _, (model_class, hash_key, range_key, condition) in self._checks:
                tx.condition_check(model_class, hash_key, range_key, condition=condition)
            for _, (model, condition) in self._deletes:
                tx.delete(model, condition=condition)
            for _, (model, condition) in self._puts:
                tx.save(model, condition=condition)
            for _, (model, actions, condition) in self._updates:
                tx.update(model, actions=actions, condition=condition)

    def commit(self) -> None:
        """All items or none; raises ConditionFailed (with the failed labels) or
        WriteUnavailable."""
        if not len(self):
            return
        try:
            with_retries(self._write, self.what)
        except TransactWriteError as error:
            if classify(error) != "condition":
                raise
            _, reasons = _codes(error)
            labels = self.labels
            failed = [
                labels[i]
                for i, reason in enumerate(reasons)
                if reason in CONDITION_FAILED and i < len(labels)
            ]
            raise ConditionFailed(failed) from None

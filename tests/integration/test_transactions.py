"""One reading of why DynamoDB refused a write (adapters/transactions.py), under moto with
refusals injected at the request (local_stack.aws_requests)."""

from __future__ import annotations

from typing import Any

import pytest
from batchcalls.adapters import transactions
from batchcalls.adapters.tables import CountItem
from batchcalls.adapters.transactions import ConditionFailed, WriteUnavailable, transaction

from local_stack import aws_requests
from local_stack.aws_requests import AwsRequest


class Refuse:
    """Refuses the first `times` writes with `code` (as DynamoDB would answer)."""

    def __init__(self, code: str, times: int) -> None:
        self.code = code
        self.times = times
        self.seen = 0

    def before(self, request: AwsRequest) -> None:
        if request.operation in ("TransactWriteItems", "UpdateItem") and self.seen < self.times:
            self.seen += 1
            raise aws_requests.client_error(request, self.code, "refused (test)", 400)

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        return None


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(transactions, "_sleep", lambda seconds: None)


def counter(sk: str) -> int:
    try:
        return int(CountItem.get("test", sk, consistent_read=True).value)
    except CountItem.DoesNotExist:
        return 0


def add_one(sk: str, below: int) -> None:
    tx = transaction("test")
    value = CountItem.value
    tx.update(
        CountItem(pk="test", sk=sk),
        [value.add(1)],
        value.does_not_exist() | (value < below),
        label=f"counter {sk}",
    )
    tx.commit()


def test_a_failed_condition_names_the_item_whose_condition_failed(aws):
    # Given a counter at its limit
    add_one("a", 1)
    # When a transaction would take it past the limit
    with pytest.raises(ConditionFailed) as lost:
        add_one("a", 1)
    # Then it is a lost race naming that item, and nothing changed
    assert lost.value.labels == ("counter a",)
    assert counter("a") == 1


@pytest.mark.parametrize(
    "code", ["TransactionCanceledException", "ProvisionedThroughputExceededException"]
)
def test_a_conflict_or_a_throttle_is_retried_not_taken_for_a_lost_race(aws, no_backoff, code):
    # Given DynamoDB refusing the first two attempts (a conflict with another transaction,
    # or throttling)
    refusal = Refuse(code, 2)
    with aws_requests.listening(refusal), aws_requests.invocation("TestFunction"):
        # When a transaction is committed
        add_one("b", 10)
    # Then it was retried and is done, once
    assert refusal.seen == 2
    assert counter("b") == 1


def test_a_refusal_that_outlasts_the_retries_is_an_error_not_a_lost_race(aws, no_backoff):
    refusal = Refuse("TransactionCanceledException", 10)
    with (
        aws_requests.listening(refusal),
        aws_requests.invocation("TestFunction"),
        pytest.raises(WriteUnavailable),
    ):
        add_one("c", 10)
    assert refusal.seen == transactions.ATTEMPTS
    assert counter("c") == 0


class LoseAnswer:
    """Performs the first transaction, then reports it failed (its answer lost)."""

    def __init__(self) -> None:
        self.lost = 0

    def before(self, request: AwsRequest) -> None:
        return None

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        if request.operation == "TransactWriteItems" and not self.lost:
            self.lost += 1
            raise aws_requests.client_error(request, "InternalServerError", "answer lost", 500)


def test_a_transaction_whose_answer_was_lost_is_retried_without_applying_it_twice(aws, no_backoff):
    # Given a counter one below its limit, and a first answer that gets lost
    add_one("d", 2)
    loss = LoseAnswer()
    with aws_requests.listening(loss), aws_requests.invocation("TestFunction"):
        # When the transaction that takes it to the limit is committed (and retried)
        add_one("d", 2)
    # Then the retry, under the same client request token, succeeded without applying it
    # again (its condition would now fail), and the counter moved once
    assert loss.lost == 1
    assert counter("d") == 2

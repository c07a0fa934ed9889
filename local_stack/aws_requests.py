"""Every AWS request a function makes in the local runtime, seen before and after moto answers.

boto3 and pynamodb clients alike go through `botocore.client.BaseClient._make_api_call`
once per request (botocore's own retries happen inside it). The runtime wraps that one
method, once per process, and tells its listeners about each request made while a
function runs (`invocation()` names the function; `parallel_map` in the shared package
copies the name into its worker threads). Requests of the runtime itself (its queue
ledgers, the admin tool) belong to no function and are not shown.

A listener may raise from `before` (the request is refused, nothing is performed) or
from `after` (it was performed, and then reported failed): that is how fault injection
(`faults.py`) and request recording (the least-privilege test) both see the same stream.

Each invocation is an `Invocation`: its requests are numbered in the order they are made
(`AwsRequest.index`, from 0; `AwsRequest.nth` counts the requests of the same name, from
1), worker threads of `parallel_map` included. `current_request` names the request being
performed while moto answers it in this thread (stale reads look at it). A listener that
raises `InvocationCrashed` ends the invocation as a dead process would: it is a
BaseException, so handler code's `except Exception` does not catch it.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.client import BaseClient

current_function: ContextVar[str | None] = ContextVar("local_stack_function", default=None)

# Requests that change nothing: a fault at any of a run of them leaves the tables as a
# fault at its first one does.
READ_OPERATIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "GetParameter", "ReceiveMessage"}
)


def is_read(name: str) -> bool:
    """Whether `<service>.<operation>` only reads."""
    return name.rsplit(".", 1)[-1] in READ_OPERATIONS


class InvocationCrashed(BaseException):
    """The invocation died (a fault): the runtime treats it as Lambda treats a crashed
    execution environment. Not an Exception, so `except Exception` lets it through."""


_invocation_ids = itertools.count(1)


@dataclass(eq=False)
class Invocation:
    """One invocation of a function: what triggered it, and its requests in order."""

    function: str
    trigger: str | None = None
    event: Any = None
    id: int = field(default_factory=lambda: next(_invocation_ids))
    ordinal: int = -1  # the n-th invocation of this function (from 0), set by an observer
    requests: list[str] = field(default_factory=list)
    boundaries: int = 0  # request boundaries so far (see `number`)
    outcome: str = "running"  # then "ok", "error" or "crashed"
    crashed: bool = False
    redeliver: Any = None  # a callable running the same trigger again, if the runtime can
    _names: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def number(self, name: str) -> tuple[int, int, int | None]:
        """(index of the request in this invocation, its occurrence number by name, its
        boundary ordinal or None). A request *boundary* is every write, and the first read
        of each run of reads: where a fault can leave the tables in a different state.
        Counting them as they come keeps a fault's place when the reads before it vary in
        number (a read per shard that holds contacts, say)."""
        with self._lock:
            previous_read = bool(self.requests) and is_read(self.requests[-1])
            self.requests.append(name)
            self._names[name] += 1
            boundary = None
            if not (is_read(name) and previous_read):
                boundary = self.boundaries
                self.boundaries += 1
            return len(self.requests) - 1, self._names[name], boundary


current_invocation: ContextVar[Invocation | None] = ContextVar(
    "local_stack_invocation", default=None
)


@dataclass(frozen=True)
class AwsRequest:
    function: str  # logical id of the function whose invocation made the request
    service: str  # botocore's service name: "dynamodb", "sqs", "events", "ssm"...
    operation: str  # "TransactWriteItems", "SendMessage"...
    params: dict[str, Any]
    client: Any  # the botocore client (to build its own exception classes)
    invocation: Invocation | None = None
    index: int = -1  # the request's place in its invocation, from 0
    nth: int = 0  # how many requests of this name the invocation made, this one included
    boundary: int | None = None  # its ordinal among the invocation's boundaries, if one
    notes: dict[str, Any] = field(default_factory=dict, compare=False)  # listeners' notes

    @property
    def name(self) -> str:
        """`<service>.<operation>`, as `/_local/faults` names a request."""
        return f"{self.service}.{self.operation}"


class RequestListener(Protocol):
    def before(self, request: AwsRequest) -> None:
        """Called before the request is sent; raising refuses it."""

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        """Called once it was performed; raising reports it failed after all."""


current_request: ContextVar[AwsRequest | None] = ContextVar("local_stack_request", default=None)

_listeners: list[RequestListener] = []
_lock = threading.Lock()
_original_make_api_call: Any = None


def install() -> None:
    """Wrap botocore's request entry point (once per process; inert without listeners)."""
    global _original_make_api_call
    with _lock:
        if _original_make_api_call is not None:
            return
        _original_make_api_call = BaseClient._make_api_call

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            function = current_function.get()
            if function is None or not _listeners:
                return _original_make_api_call(client, operation_name, api_params)
            service = client.meta.service_model.service_name
            invocation = current_invocation.get()
            index, nth, boundary = (-1, 0, None)
            if invocation is not None:
                index, nth, boundary = invocation.number(sys.intern(f"{service}.{operation_name}"))
            request = AwsRequest(
                function,
                service,
                operation_name,
                api_params,
                client,
                invocation,
                index,
                nth,
                boundary,
            )
            listeners = list(_listeners)
            token = current_request.set(request)
            try:
                for listener in listeners:
                    listener.before(request)
                response = _original_make_api_call(client, operation_name, api_params)
                for listener in listeners:
                    listener.after(request, response)
                return response
            finally:
                current_request.reset(token)

        BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]


def add_listener(listener: RequestListener) -> None:
    install()
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: RequestListener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


@contextlib.contextmanager
def listening(listener: RequestListener) -> Iterator[RequestListener]:
    add_listener(listener)
    try:
        yield listener
    finally:
        remove_listener(listener)


@contextlib.contextmanager
def invocation(
    function: str, trigger: str | None = None, event: Any = None
) -> Iterator[Invocation]:
    """Requests made inside belong to this function (logical id) and to one new invocation."""
    current = Invocation(function, trigger, event)
    token = current_function.set(function)
    invocation_token = current_invocation.set(current)
    try:
        yield current
    finally:
        current_invocation.reset(invocation_token)
        current_function.reset(token)


@contextlib.contextmanager
def detached() -> Iterator[None]:
    """Requests made inside belong to no function (the runtime's own work, run in the
    thread of an invocation: an interleaved tick, a redelivery)."""
    tokens = (current_function.set(None), current_invocation.set(None), current_request.set(None))
    try:
        yield
    finally:
        current_request.reset(tokens[2])
        current_invocation.reset(tokens[1])
        current_function.reset(tokens[0])


def client_error(
    request: AwsRequest,
    code: str,
    message: str,
    status: int = 400,
    reasons: list[dict[str, str]] | None = None,
) -> Exception:
    """The exception botocore raises for an error answer with this code (its modelled class
    when the service has one, e.g. `ProvisionedThroughputExceededException`).
    A `TransactionCanceledException` carries `reasons` (one per item), by default
    TransactionConflict for every item."""
    parsed: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0},
    }
    if code == "TransactionCanceledException":
        items = request.params.get("TransactItems", [])
        parsed["CancellationReasons"] = reasons or [
            {"Code": "TransactionConflict", "Message": message} for _ in items
        ]
    error_class = request.client.exceptions.from_code(code)
    return error_class(parsed, request.operation)  # type: ignore[no-any-return]

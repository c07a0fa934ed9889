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
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.client import BaseClient

current_function: ContextVar[str | None] = ContextVar("local_stack_function", default=None)


@dataclass(frozen=True)
class AwsRequest:
    function: str  # logical id of the function whose invocation made the request
    service: str  # botocore's service name: "dynamodb", "sqs", "events", "ssm"...
    operation: str  # "TransactWriteItems", "SendMessage"...
    params: dict[str, Any]
    client: Any  # the botocore client (to build its own exception classes)

    @property
    def name(self) -> str:
        """`<service>.<operation>`, as `/_local/faults` names a request."""
        return f"{self.service}.{self.operation}"


class RequestListener(Protocol):
    def before(self, request: AwsRequest) -> None:
        """Called before the request is sent; raising refuses it."""

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        """Called once it was performed; raising reports it failed after all."""


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
            request = AwsRequest(
                function,
                client.meta.service_model.service_name,
                operation_name,
                api_params,
                client,
            )
            listeners = list(_listeners)
            for listener in listeners:
                listener.before(request)
            response = _original_make_api_call(client, operation_name, api_params)
            for listener in listeners:
                listener.after(request, response)
            return response

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
def invocation(function: str) -> Iterator[None]:
    """Requests made inside belong to this function (logical id)."""
    token = current_function.set(function)
    try:
        yield
    finally:
        current_function.reset(token)


def client_error(request: AwsRequest, code: str, message: str, status: int = 400) -> Exception:
    """The exception botocore raises for an error answer with this code (its modelled class
    when the service has one, e.g. `ProvisionedThroughputExceededException`)."""
    parsed: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0},
    }
    if code == "TransactionCanceledException":
        items = request.params.get("TransactItems", [])
        parsed["CancellationReasons"] = [
            {"Code": "TransactionConflict", "Message": message} for _ in items
        ]
    error_class = request.client.exceptions.from_code(code)
    return error_class(parsed, request.operation)  # type: ignore[no-any-return]

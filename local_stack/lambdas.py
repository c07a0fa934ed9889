"""The deployed functions, run in this process from their source folders."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any, Protocol

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from local_stack import aws_requests
from local_stack.aws_requests import Invocation, InvocationCrashed
from local_stack.deploy import DeployedFunction
from local_stack.loop import EventLoop

log = logging.getLogger("local_stack")

# Lambda retries a failed asynchronous invocation (an error or a crash) twice, about one
# and two minutes later, unless the function's EventInvokeConfig says fewer.
ASYNC_RETRY_DELAYS = (60, 120)


class Throttled(Exception):
    """No concurrency left for an invocation that may not wait (work run inside another)."""


@dataclass(frozen=True)
class Trigger:
    """What invokes a function: its name (the recorder shows it), how to deliver it again
    (an interleaved "redeliver"), whether the invocation may wait for a concurrency slot."""

    name: str | None = None
    redeliver: Callable[[], str] | None = None
    wait: bool = True


_trigger: ContextVar[Trigger | None] = ContextVar("local_stack_trigger", default=None)


@contextlib.contextmanager
def triggered(
    name: str | None, redeliver: Callable[[], str] | None = None, wait: bool = True
) -> Iterator[None]:
    """The next `invoke(event)` in this context is by this trigger. Call sites say it this
    way, so a test that wraps `function.invoke(event)` keeps working."""
    token = _trigger.set(Trigger(name, redeliver, wait))
    try:
        yield
    finally:
        _trigger.reset(token)


class InvocationObserver(Protocol):
    def invocation_started(self, invocation: Invocation) -> None: ...

    def invocation_ended(self, invocation: Invocation, outcome: str) -> None: ...


_import_lock = threading.Lock()


def _discard_unpublished_metrics() -> None:
    """With POWERTOOLS_METRICS_DISABLED (the local default) Powertools never clears what
    handlers add, and prints the set as EMF once a metric holds 100 values. On Lambda
    each invocation publishes and clears its own; here they are dropped after each."""
    if is_metrics_disabled():
        Metrics().clear_metrics()


class LambdaContext:
    """What the Lambda runtime passes as `context` (the attributes Powertools reads)."""

    def __init__(self, function: DeployedFunction) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = function.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        # Wall time: a handler that loops "while time remains" must still stop when
        # the simulated clock stands still.
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    def __init__(
        self, deployed: DeployedFunction, tag: str, observer: InvocationObserver | None = None
    ) -> None:
        self.deployed = deployed
        self.observer = observer
        self._tag = tag
        self._handler: Callable[[Any, Any], Any] | None = None
        self.module: ModuleType | None = None
        self._lock = threading.Lock()
        limit = deployed.reserved_concurrency
        self._slots = threading.BoundedSemaphore(limit) if limit else None
        self.invocations = 0

    @property
    def logical_id(self) -> str:
        return self.deployed.logical_id

    def handler(self) -> Callable[[Any, Any], Any]:
        with self._lock:
            if self._handler is None:
                self._handler = self._load()
            return self._handler

    def _load(self) -> Callable[[Any, Any], Any]:
        deployed = self.deployed
        if not deployed.runtime.startswith("python"):
            raise RuntimeError(f"{deployed.logical_id}: only Python functions run locally")
        if deployed.code_dir is None:
            raise RuntimeError(f"{deployed.logical_id}: its CodeUri is not a local folder")
        module_path, _, attribute = deployed.handler.rpartition(".")
        relative = module_path.replace(".", "/")
        candidates = [
            deployed.code_dir / f"{relative}.py",
            deployed.code_dir / relative / "__init__.py",
        ]
        source = next((c for c in candidates if c.is_file()), None)
        if source is None:
            raise RuntimeError(
                f"{deployed.logical_id}: no module {module_path} in {deployed.code_dir}"
            )
        name = f"_local_stack_{self._tag}_{deployed.logical_id}_{module_path.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(name, source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        with _import_lock:
            # The code folder is the function's root, as in Lambda (/var/task).
            sys.path.insert(0, str(deployed.code_dir))
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            finally:
                sys.path.remove(str(deployed.code_dir))
        self.module = module
        return getattr(module, attribute)

    def unload(self) -> None:
        if self.module is not None:
            sys.modules.pop(self.module.__name__, None)

    def invoke(self, event: Any, trigger: str | None = None) -> Any:
        """One synchronous invocation; the handler's exception propagates, and so does
        `InvocationCrashed` when a fault ends it. The trigger (`triggered(...)` around the
        call, or `trigger`) names what invoked it; a function at its reserved concurrency
        raises Throttled instead of waiting when the trigger may not wait."""
        pending = _trigger.get() or Trigger()
        token = _trigger.set(None)  # invocations made inside start afresh
        try:
            return self._invoke(event, trigger or pending.name, pending)
        finally:
            _trigger.reset(token)

    def _invoke(self, event: Any, name: str | None, trigger: Trigger) -> Any:
        handler = self.handler()
        if self._slots is not None and not self._slots.acquire(blocking=trigger.wait):
            raise Throttled(f"{self.logical_id} is at its reserved concurrency")
        try:
            self.invocations += 1
            with aws_requests.invocation(self.logical_id, name, event) as current:
                current.redeliver = trigger.redeliver
                if self.observer is not None:
                    self.observer.invocation_started(current)
                outcome = "error"
                try:
                    result = handler(event, LambdaContext(self.deployed))
                    if current.crashed:  # the handler caught its own death: still dead
                        raise InvocationCrashed(f"{self.logical_id} died")
                    outcome = "ok"
                    return result
                except InvocationCrashed:
                    outcome = "crashed"
                    raise
                finally:
                    if self.observer is not None:
                        self.observer.invocation_ended(current, outcome)
        finally:
            _discard_unpublished_metrics()
            if self._slots is not None:
                self._slots.release()


class Functions:
    """The stack's functions by logical id and ARN, and Lambda's asynchronous invocation."""

    def __init__(
        self,
        deployed: dict[str, DeployedFunction],
        loop: EventLoop,
        tag: str,
        observer: InvocationObserver | None = None,
    ) -> None:
        self.loop = loop
        self.by_id = {k: LocalFunction(v, tag, observer) for k, v in deployed.items()}

    def __getitem__(self, logical_id: str) -> LocalFunction:
        return self.by_id[logical_id]

    def by_arn(self, arn: str) -> LocalFunction | None:
        name = arn.split(":function:")[-1].split(":")[0]
        for function in self.by_id.values():
            if name in (function.deployed.name, function.deployed.arn):
                return function
        return None

    def invoke_async(
        self, function: LocalFunction, event: Any, source: str, *, at_once: bool = False
    ) -> str:
        """An event invocation (schedule, rule, S3): retried on error or crash as the
        function's EventInvokeConfig says (Lambda's default: twice), then dropped.
        `at_once` runs the first attempt now, in this thread (work interleaved into
        another invocation); a function at its reserved concurrency then runs it later."""
        retries = min(max(function.deployed.async_retries, 0), len(ASYNC_RETRY_DELAYS))

        def attempt(number: int, wait: bool = True) -> Callable[[datetime], None]:
            def run(now: datetime) -> None:
                trigger = source if number == 1 else f"{source} (retry {number - 1})"
                try:
                    with triggered(trigger, wait=wait):
                        function.invoke(event)
                    outcomes.append("ok")
                except Throttled:
                    outcomes.append("throttled, runs later")
                    self.loop.call_soon(f"{function.logical_id} on {source}", attempt(number))
                except (Exception, InvocationCrashed) as error:
                    crashed = isinstance(error, InvocationCrashed)
                    outcomes.append("crashed" if crashed else f"failed: {error!r}")
                    log.warning(
                        "%s %s on %s (attempt %d)",
                        function.logical_id,
                        "crashed" if crashed else "failed",
                        source,
                        number,
                        exc_info=not crashed,
                    )
                    if number <= retries:
                        self.loop.call_later(
                            ASYNC_RETRY_DELAYS[number - 1],
                            f"{function.logical_id} retry of {source}",
                            attempt(number + 1),
                        )

            return run

        outcomes: list[str] = []
        if at_once:
            attempt(1, wait=False)(self.loop.now())
            return outcomes[0] if outcomes else "ran"
        self.loop.call_soon(f"{function.logical_id} on {source}", attempt(1))
        return "queued"

    def unload(self) -> None:
        for function in self.by_id.values():
            function.unload()

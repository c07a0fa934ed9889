"""The deployed functions, run in this process from their source folders."""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from local_stack import aws_requests
from local_stack.deploy import DeployedFunction
from local_stack.loop import EventLoop

log = logging.getLogger("local_stack")

# Lambda retries a failed asynchronous invocation twice, about one and two minutes later.
ASYNC_RETRY_DELAYS = (60, 120)

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
    def __init__(self, deployed: DeployedFunction, tag: str) -> None:
        self.deployed = deployed
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

    def invoke(self, event: Any) -> Any:
        """One synchronous invocation; the handler's exception propagates."""
        handler = self.handler()
        if self._slots is not None:
            self._slots.acquire()
        try:
            self.invocations += 1
            with aws_requests.invocation(self.logical_id):
                return handler(event, LambdaContext(self.deployed))
        finally:
            _discard_unpublished_metrics()
            if self._slots is not None:
                self._slots.release()


class Functions:
    """The stack's functions by logical id and ARN, and Lambda's asynchronous invocation."""

    def __init__(self, deployed: dict[str, DeployedFunction], loop: EventLoop, tag: str) -> None:
        self.loop = loop
        self.by_id = {k: LocalFunction(v, tag) for k, v in deployed.items()}

    def __getitem__(self, logical_id: str) -> LocalFunction:
        return self.by_id[logical_id]

    def by_arn(self, arn: str) -> LocalFunction | None:
        name = arn.split(":function:")[-1].split(":")[0]
        for function in self.by_id.values():
            if name in (function.deployed.name, function.deployed.arn):
                return function
        return None

    def invoke_async(self, function: LocalFunction, event: Any, source: str) -> None:
        """An event invocation (schedule, rule, S3): retried twice on error, then dropped."""

        def attempt(number: int) -> Callable[[datetime], None]:
            def run(now: datetime) -> None:
                try:
                    function.invoke(event)
                except Exception:
                    log.exception(
                        "%s failed on %s (attempt %d)", function.logical_id, source, number
                    )
                    if number <= len(ASYNC_RETRY_DELAYS):
                        self.loop.call_later(
                            ASYNC_RETRY_DELAYS[number - 1],
                            f"{function.logical_id} retry of {source}",
                            attempt(number + 1),
                        )

            return run

        self.loop.call_soon(f"{function.logical_id} on {source}", attempt(1))

    def unload(self) -> None:
        for function in self.by_id.values():
            function.unload()

"""A latency model for the local runtime: how long the AWS requests a function makes
would take on AWS, as modelled time (never slept, unless asked).

Every request takes a fixed time by name (`<service>.<Operation>`, then `<service>.*`,
then `*`); the defaults, with their sources, are in `latency.toml` beside this file. A
`LatencyModel` is an `aws_requests` listener: it adds each request's time, when the
request is made (a request that fails still took its time), to

- its invocation's critical path: an invocation's requests are sequential, except those
  of `batchcalls.concurrency.parallel_map`'s worker threads. Each `pool.map` call of the
  shared pool (one batch of a parallel map) is a fork: each worker thread's requests in
  it are sequential, the threads overlap, and the invocation resumes after the slowest
  (critical path += max over threads). The model sees the forks by wrapping the pool
  `parallel_map` takes (`concurrency._shared_pool`), installed with the first model.
  Requests from threads outside that pool are counted as if sequential (an overcount).
- the totals: requests and their summed time by operation and by function.

`seconds` is the sum of the invocations' critical paths: the time the functions would
spend waiting on AWS, one invocation after another. Requests that belong to no function
(the runtime's own) are not seen (see `aws_requests`).

With `sleep=True` each request also really sleeps its time in its own thread (for
wall-clock demos; off by default, and never in tests).

Settings: `LatencyModel.from_setting("aws" | "off" | <toml file>, overrides)`; the local
stack takes `LocalStack.start(latency=...)` or the environment's `LOCAL_LATENCY`,
`LOCAL_LATENCY_OVERRIDES` (`dynamodb.Query=12,sqs.*=30`, in ms) and `LOCAL_LATENCY_SLEEP`.
"""

from __future__ import annotations

import os
import threading
import time
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack import aws_requests
from local_stack.aws_requests import AwsRequest

DEFAULTS_FILE = Path(__file__).with_name("latency.toml")


@dataclass(frozen=True)
class Figure:
    ms: float
    source: str = ""


class LatencyTable:
    """Milliseconds per request name: exact name, else `<service>.*`, else `*` (else 0)."""

    def __init__(self, figures: Mapping[str, Figure]) -> None:
        self.figures = dict(figures)
        self._cache: dict[str, float] = {}

    @classmethod
    def aws(cls) -> LatencyTable:
        """The defaults: AWS's typical figures (latency.toml)."""
        return cls(read_figures(DEFAULTS_FILE))

    @classmethod
    def off(cls) -> LatencyTable:
        return cls({"*": Figure(0.0, "off")})

    def with_figures(self, figures: Mapping[str, Figure | float]) -> LatencyTable:
        """A copy with these entries replaced (a float is milliseconds). `<service>.*`
        replaces every figure of the service, `*` every figure; names in `figures` win
        over its wildcards."""
        merged = dict(self.figures)
        if "*" in figures:
            merged.clear()
        for name in figures:
            if name.endswith(".*"):
                prefix = name[:-1]
                merged = {k: v for k, v in merged.items() if not k.startswith(prefix)}
        for name, figure in sorted(figures.items(), key=lambda kv: not kv[0].endswith("*")):
            merged[name] = (
                figure if isinstance(figure, Figure) else Figure(float(figure), "override")
            )
        return LatencyTable(merged)

    def seconds(self, name: str) -> float:
        cached = self._cache.get(name)
        if cached is None:
            service = name.split(".", 1)[0]
            figure = (
                self.figures.get(name)
                or self.figures.get(f"{service}.*")
                or self.figures.get("*")
                or Figure(0.0)
            )
            cached = self._cache[name] = figure.ms / 1000
        return cached


def read_figures(path: Path | str) -> dict[str, Figure]:
    """A latency file: `["<service>.<Operation>"]` tables with `ms` and optional `source`."""
    with Path(path).open("rb") as f:
        data = tomllib.load(f)
    figures = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or "ms" not in entry:
            raise ValueError(f"{path}: [{name!r}] needs `ms` (milliseconds)")
        ms = float(entry["ms"])
        if ms < 0:
            raise ValueError(f"{path}: [{name!r}] ms must not be negative")
        figures[name] = Figure(ms, str(entry.get("source", "")))
    return figures


def parse_overrides(text: str | None) -> dict[str, float]:
    """`dynamodb.Query=12,sqs.*=30` (milliseconds) as a mapping."""
    overrides: dict[str, float] = {}
    for part in (text or "").split(","):
        if part.strip():
            name, _, ms = part.partition("=")
            overrides[name.strip()] = float(ms.removesuffix("ms"))
    return overrides


@dataclass
class InvocationTime:
    """One invocation's modelled AWS time (`seconds`: its critical path)."""

    function: str
    requests: int = 0
    seconds: float = 0.0  # the invocation's own thread, forks joined
    serial_seconds: float = 0.0  # every request's time added up


@dataclass
class _Fork:
    """One batch of a parallel map: modelled seconds per (model, worker thread)."""

    lanes: dict[tuple[int, int], float] = field(default_factory=lambda: defaultdict(float))


_models: list[LatencyModel] = []
_models_lock = threading.Lock()
_in_fork = threading.local()  # .fork: the _Fork a pool thread is working for
_tracking_installed = False


class _ForkingPool:
    """The shared pool as `parallel_map` uses it (`map`), each map a fork to join."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def map(self, function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        fork = _Fork()

        def run(item: Any) -> Any:
            _in_fork.fork = fork
            try:
                return function(item)
            finally:
                _in_fork.fork = None

        try:
            return list(self._pool.map(run, items))
        finally:
            for model in list(_models):
                model._join(fork)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def _install_fork_tracking() -> None:
    global _tracking_installed
    with _models_lock:
        if _tracking_installed:
            return
        try:
            from batchcalls import concurrency
        except ImportError:  # no shared package on the path: nothing runs in parallel
            return
        original = concurrency._shared_pool
        concurrency._shared_pool = lambda: _ForkingPool(original())  # type: ignore[assignment, return-value]
        _tracking_installed = True


class LatencyModel:
    """Modelled time of every AWS request functions make (an `aws_requests` listener)."""

    def __init__(
        self,
        table: LatencyTable | None = None,
        sleep: bool = False,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table if table is not None else LatencyTable.aws()
        self.sleep = sleep
        self._sleeper = sleeper
        self._lock = threading.Lock()
        self.reset()

    @classmethod
    def from_setting(
        cls,
        setting: str | Path | None = "aws",
        overrides: Mapping[str, float] | str | None = None,
        sleep: bool = False,
    ) -> LatencyModel | None:
        """ "aws" (the defaults), "off" or "" (None: no model), or a latency file whose
        entries replace the defaults; then `overrides` (ms by name) on top."""
        text = str(setting or "off").strip()
        if text.lower() in ("off", "none", "0", "false"):
            return None
        table = LatencyTable.aws()
        if text.lower() not in ("aws", "on", "1", "true"):
            path = Path(text)
            if not path.is_file():
                raise ValueError(f"latency: 'aws', 'off' or a latency file, not {text!r}")
            table = table.with_figures(read_figures(path))
        if isinstance(overrides, str):
            overrides = parse_overrides(overrides)
        if overrides:
            table = table.with_figures(dict(overrides))
        return cls(table, sleep=sleep)

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self.invocations: dict[Any, InvocationTime] = {}
            self.by_operation: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
            self.slept = 0.0

    def start(self) -> LatencyModel:
        """Listen to every function's AWS requests (until `stop`)."""
        _install_fork_tracking()
        with _models_lock:
            if self not in _models:
                _models.append(self)
        aws_requests.add_listener(self)
        return self

    def stop(self) -> None:
        aws_requests.remove_listener(self)
        with _models_lock:
            if self in _models:
                _models.remove(self)

    def __enter__(self) -> LatencyModel:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ listener
    def before(self, request: AwsRequest) -> None:
        seconds = self.table.seconds(request.name)
        with self._lock:
            timed = self._timed(request.invocation, request.function)
            timed.requests += 1
            timed.serial_seconds += seconds
            self._on_path(timed, seconds)
            operation = self.by_operation[request.name]
            operation[0] += 1
            operation[1] += seconds
        if self.sleep and seconds > 0:
            self._sleeper(seconds)
            with self._lock:
                self.slept += seconds

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        return None

    def wait(self, seconds: float) -> None:
        """A handler's own wait (a modelled clock's `sleep`): on the calling thread's
        path, as a request of that time would be, but no request."""
        invocation = aws_requests.current_invocation.get()
        function = aws_requests.current_function.get()
        with self._lock:
            self._on_path(self._timed(invocation, function), seconds)

    def _timed(self, invocation: Any, function: str | None) -> InvocationTime:
        """The invocation's times (under the lock), created on its first request."""
        key: Any = invocation.id if invocation is not None else ("function", function)
        timed = self.invocations.get(key)
        if timed is None:
            timed = self.invocations[key] = InvocationTime(function or "?")
        return timed

    def _on_path(self, timed: InvocationTime, seconds: float) -> None:
        """Time on the calling thread's path (under the lock): its lane in a parallel
        map, else the invocation's critical path."""
        fork: _Fork | None = getattr(_in_fork, "fork", None)
        if fork is not None:
            fork.lanes[(id(self), threading.get_ident())] += seconds
        else:
            timed.seconds += seconds

    def _join(self, fork: _Fork) -> None:
        """A parallel map's batch ended (in the invocation's own thread): its slowest
        worker thread is on the invocation's critical path."""
        mine = [s for (model, _), s in fork.lanes.items() if model == id(self)]
        if not mine:
            return
        invocation = aws_requests.current_invocation.get()
        function = aws_requests.current_function.get()
        with self._lock:
            self._timed(invocation, function).seconds += max(mine)

    # ------------------------------------------------------------------ figures
    def elapsed_seconds(self) -> float:
        """The current invocation's modelled AWS time so far, as the calling thread sees
        it: its critical path up to the parallel map it works in (if any), plus its own
        requests in that map. A modelled clock reads it (`now = start + elapsed`)."""
        invocation = aws_requests.current_invocation.get()
        key: Any = (
            invocation.id
            if invocation is not None
            else ("function", aws_requests.current_function.get())
        )
        fork: _Fork | None = getattr(_in_fork, "fork", None)
        with self._lock:
            timed = self.invocations.get(key)
            seconds = timed.seconds if timed else 0.0
            if fork is not None:
                seconds += fork.lanes.get((id(self), threading.get_ident()), 0.0)
            return seconds

    def invocation_seconds(self, invocation: aws_requests.Invocation) -> float:
        """The invocation's modelled AWS time (critical path) so far."""
        timed = self.invocations.get(invocation.id)
        return timed.seconds if timed else 0.0

    @property
    def seconds(self) -> float:
        """Modelled AWS time: the invocations' critical paths, added up."""
        with self._lock:
            return sum(t.seconds for t in self.invocations.values())

    @property
    def serial_seconds(self) -> float:
        """Every request's time added up (no overlap)."""
        with self._lock:
            return sum(t.serial_seconds for t in self.invocations.values())

    @property
    def requests(self) -> int:
        with self._lock:
            return sum(t.requests for t in self.invocations.values())

    def report(self) -> dict[str, Any]:
        """Everything counted, as plain data (seconds)."""
        with self._lock:
            functions: dict[str, dict[str, Any]] = {}
            for timed in self.invocations.values():
                entry = functions.setdefault(
                    timed.function,
                    {
                        "invocations": 0,
                        "requests": 0,
                        "seconds": 0.0,
                        "max_invocation_seconds": 0.0,
                    },
                )
                entry["invocations"] += 1
                entry["requests"] += timed.requests
                entry["seconds"] += timed.seconds
                entry["max_invocation_seconds"] = max(
                    entry["max_invocation_seconds"], timed.seconds
                )
            return {
                "seconds": sum(t.seconds for t in self.invocations.values()),
                "serial_seconds": sum(t.serial_seconds for t in self.invocations.values()),
                "requests": sum(t.requests for t in self.invocations.values()),
                "invocations": len(self.invocations),
                "slept_seconds": self.slept,
                "by_operation": {
                    name: {"requests": int(n), "seconds": s}
                    for name, (n, s) in sorted(self.by_operation.items())
                },
                "by_function": functions,
            }


def latency_from_env(
    setting: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> LatencyModel | None:
    """The local stack's model: `setting`, else LOCAL_LATENCY (off by default), with
    LOCAL_LATENCY_OVERRIDES and LOCAL_LATENCY_SLEEP from the environment."""

    env = os.environ if environ is None else environ
    if setting is None:
        setting = env.get("LOCAL_LATENCY") or "off"
    sleep = (env.get("LOCAL_LATENCY_SLEEP") or "").lower() in ("1", "true", "yes", "on")
    return LatencyModel.from_setting(setting, env.get("LOCAL_LATENCY_OVERRIDES"), sleep=sleep)

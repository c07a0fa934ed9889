"""Fault injection in the local runtime: what AWS and the provider do to the system, on command.

A `Faults` object belongs to the stack (`stack.faults`); `POST /_local/faults` adds to it.
Each fault has a kind, a `count` (how many times it fires; default 1 for the kinds that
fire at one moment, unlimited for those that last a while) and, for most kinds, a
`function` (logical id) it is limited to. Every firing is recorded (when, on which
request of which invocation).

Request faults see every AWS request a function makes (`aws_requests`). A request is
addressed by its name (`service`/`operation`, or `after`/`at` as "<service>.<operation>"),
`nth` (the n-th request of that name in the invocation, from 1), `index` (the i-th
request of the invocation, from 0), `boundary` (the i-th request boundary of the
invocation, from 0: every write, and the first read of each run of reads) and
`invocation` (the function's i-th invocation since the stack started or
`clear_recorder()`, from 0); every given field must match.

- `aws_error` {error, ...}: `throttle`, `conflict`, `internal`, `timeout` refuse the
  request with what botocore would raise (nothing is performed);
  `timeout_after_commit` performs it, then raises botocore's ReadTimeoutError;
  `transaction_throttled` cancels a transaction with a ThrottlingError reason. An error
  that cannot happen to a request (a conflict on a Query) does not match it.
- `crash` {function, after | index | boundary}: the invocation dies right after that request was
  performed (`InvocationCrashed`, a BaseException); its trigger does what AWS does
  (see `local_stack/README.md`). Later requests of a dead invocation are refused.
- `interleave` {at, run}: right after that request, other work runs to its end in the
  same thread, then the first invocation goes on. `run` is a callable (given the request)
  or "tick" (every rate() schedule rule fires now), "tick:<function or rule>",
  "redeliver" (the invocation's trigger delivered again at once, to the same function),
  "invoke:<LogicalId>" (with `event`).
- `duplicate_deliveries`: each SQS batch, schedule tick or stream batch is delivered twice.
- `skip_ticks` {minutes}: schedule rules do not fire for that long.
- `stale_reads` {seconds}: reads without ConsistentRead see items as they were before
  the writes of the last `seconds` (see `write_log`).
- `provider_5xx`, `provider_timeout` {seconds}, `provider_drop_callbacks`,
  `provider_duplicate_callbacks`: the simulated provider misbehaves.

Every invocation is recorded with its requests in order (`recorder()`), so a suite can
run a scenario once, count the requests, and run it again with a fault at each index.
With `serial` on, the runtime runs the parallel parts of a delivery one after another in
a fixed order (`parallel_map` items, SQS batches), so the same scenario makes the same
requests in the same order every time.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ReadTimeoutError

from local_stack import aws_requests
from local_stack.aws_requests import AwsRequest, Invocation, InvocationCrashed
from local_stack.write_log import WriteLog

log = logging.getLogger("local_stack")

ERRORS = (
    "throttle",
    "conflict",
    "internal",
    "timeout",
    "timeout_after_commit",
    "transaction_throttled",
)
THROTTLE_CODES = {
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "sqs": ("RequestThrottled", 400),
}
INTERNAL_CODES = {
    "dynamodb": "InternalServerError",
    "events": "InternalException",
    "ssm": "InternalServerError",
    "secretsmanager": "InternalServiceError",
}
SINGLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
TRANSACTIONS = {"TransactWriteItems", "TransactGetItems"}
READS = {"GetItem", "BatchGetItem", "Query", "Scan"}
MAX_SECONDS = 366 * 86400
MAX_COUNT = 1_000_000
RECORDED_INVOCATIONS = 20_000  # the last ones, for a long `make local`
_REQUEST_NAME = re.compile(r"^[a-z0-9-]+\.[A-Za-z0-9]+$")

# Kinds firing at one moment count 1 by default; those lasting a while, without limit.
WINDOWED = {"skip_ticks", "stale_reads", "provider_5xx", "provider_timeout"}
KINDS: dict[str, tuple[set[str], set[str]]] = {
    # kind: (required fields, optional fields); `count` is allowed for every kind
    "aws_error": (
        {"error"},
        {"service", "operation", "index", "boundary", "nth", "invocation", "function", "item"},
    ),
    "crash": ({"function"}, {"after", "index", "boundary", "nth", "invocation"}),
    "interleave": ({"at", "run"}, {"function", "event", "nth", "invocation"}),
    "duplicate_deliveries": (set(), {"function"}),
    "skip_ticks": ({"minutes"}, {"function"}),
    "stale_reads": ({"seconds"}, {"function"}),
    "provider_5xx": ({"seconds"}, set()),
    "provider_timeout": ({"seconds"}, set()),
    "provider_drop_callbacks": (set(), set()),
    "provider_duplicate_callbacks": (set(), set()),
}


class FaultError(ValueError):
    """A fault that cannot be injected: `details` lists `{field, problem}`."""

    def __init__(self, message: str, details: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.details = details


class Actions(Protocol):
    """What an interleaved fault may run (the stack provides it)."""

    def function_ids(self) -> set[str] | None: ...

    def tick(self, name: str | None) -> str: ...

    def invoke(self, function: str, event: Any, trigger: str) -> str: ...


def _iso(instant: datetime) -> str:
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Firing:
    at: datetime
    detail: str
    function: str | None = None
    invocation: int | None = None  # the invocation's id (see recorder())
    ordinal: int | None = None  # the function's n-th invocation
    request: str | None = None
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "detail": self.detail,
            "function": self.function,
            "invocation": self.invocation,
            "ordinal": self.ordinal,
            "request": self.request,
            "index": self.index,
        }


@dataclass(frozen=True)
class RecordedInvocation:
    id: int
    function: str
    ordinal: int
    trigger: str | None
    requests: tuple[str, ...]
    outcome: str  # running, ok, error, crashed

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "function": self.function,
            "ordinal": self.ordinal,
            "trigger": self.trigger,
            "requests": list(self.requests),
            "outcome": self.outcome,
        }


@dataclass(eq=False)
class Fault:
    id: str
    kind: str
    fields: dict[str, Any]
    count: int | None
    added_at: datetime
    until: datetime | None = None
    firings: list[Firing] = field(default_factory=list)

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    @property
    def fired(self) -> int:
        return len(self.firings)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def active(self, now: datetime) -> bool:
        return not self.exhausted and (self.until is None or now < self.until)

    def matches(self, request: AwsRequest) -> bool:
        wanted = self.fields
        invocation = request.invocation
        return (
            wanted.get("function") in (None, request.function)
            and wanted.get("service") in (None, request.service)
            and wanted.get("operation") in (None, request.operation)
            and wanted.get("index") in (None, request.index)
            and wanted.get("boundary") in (None, request.boundary)
            and wanted.get("nth") in (None, request.nth)
            and (
                wanted.get("invocation") is None
                or (invocation is not None and invocation.ordinal == wanted["invocation"])
            )
        )

    def as_dict(self, now: datetime) -> dict[str, Any]:
        shown = {
            k.lstrip("_"): (getattr(v, "__name__", "callable") if callable(v) else v)
            for k, v in self.fields.items()
        }
        return {
            "id": self.id,
            "kind": self.kind,
            **shown,
            "count": self.count,
            "fired": self.fired,
            "active": self.active(now),
            "added_at": _iso(self.added_at),
            "until": _iso(self.until) if self.until else None,
            "firings": [f.as_dict() for f in self.firings],
        }


# ----------------------------------------------------------------------- validation
def _problem(name: str, text: str) -> dict[str, str]:
    return {"field": name, "problem": text}


def _integer(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_COUNT


def _seconds(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= MAX_SECONDS
    )


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


def _action_problem(run: Any, functions: set[str] | None) -> str | None:
    if callable(run):
        return None
    if not isinstance(run, str):
        return 'a callable, "tick", "tick:<name>", "redeliver" or "invoke:<LogicalId>"'
    if run in ("tick", "redeliver"):
        return None
    if run.startswith("tick:") and len(run) > 5:
        return None
    if run.startswith("invoke:"):
        target = run.split(":", 1)[1]
        if not target:
            return "invoke:<LogicalId> names a function"
        if functions is not None and target not in functions:
            return f"no function {target} in the stack"
        return None
    return 'a callable, "tick", "tick:<name>", "redeliver" or "invoke:<LogicalId>"'


def validate(
    spec: dict[str, Any], functions: set[str] | None = None
) -> tuple[str, dict[str, Any], int | None]:
    """(kind, fields, count) of a fault as `POST /_local/faults` takes it; FaultError if wrong."""
    if not isinstance(spec, dict):
        raise FaultError("a fault is a JSON object", [_problem("(body)", "an object")])
    kind = spec.get("kind")
    if kind not in KINDS:
        raise FaultError(
            f"unknown fault kind {kind!r}",
            [_problem("kind", "one of " + ", ".join(KINDS))],
        )
    required, optional = KINDS[kind]
    allowed = required | optional | {"kind", "count"}
    problems = [_problem(name, "not a field of this kind") for name in spec if name not in allowed]
    problems += [_problem(name, "required") for name in sorted(required) if name not in spec]
    fields = {k: v for k, v in spec.items() if k not in ("kind", "count")}

    for name, value in fields.items():
        if name not in allowed:
            continue
        problem = None
        if name in ("function", "service", "operation"):
            if not _text(value):
                problem = "a non-empty string"
            elif name == "function" and functions is not None and value not in functions:
                problem = f"no function {value} in the stack"
        elif name in ("index", "boundary", "invocation", "item"):
            problem = None if _integer(value, 0) else "an integer >= 0"
        elif name == "nth":
            problem = None if _integer(value, 1) else "an integer >= 1"
        elif name in ("seconds", "minutes"):
            problem = None if _seconds(value) else "a number > 0 (at most 366 days)"
        elif name == "error":
            problem = None if value in ERRORS else "one of " + ", ".join(ERRORS)
        elif name == "after":
            named = isinstance(value, str) and bool(_REQUEST_NAME.match(value))
            problem = None if named else '"<service>.<operation>", e.g. "dynamodb.PutItem"'
        elif name == "at":
            named = isinstance(value, str) and bool(_REQUEST_NAME.match(value))
            problem = (
                None
                if _integer(value, 0) or named
                else 'an index (integer >= 0) or "<service>.<operation>"'
            )
        elif name == "run":
            problem = _action_problem(value, functions)
        if problem:
            problems.append(_problem(name, problem))

    count = spec.get("count")
    if count is not None and not _integer(count, 1):
        problems.append(_problem("count", "an integer >= 1"))
    addressed = {"service", "operation", "index", "boundary"} & set(fields)
    if kind == "aws_error" and not problems and not addressed:
        problems.append(
            _problem("operation", "name the request: service/operation, index or boundary")
        )
    if kind == "crash" and not problems and len({"after", "index", "boundary"} & set(fields)) != 1:
        problems.append(
            _problem("after", 'give one of "after" ("<service>.<operation>"), "index", "boundary"')
        )
    if kind == "interleave" and not problems:
        run = fields["run"]
        if run == "redeliver" and "function" not in fields:
            problems.append(_problem("function", "redeliver needs the function it applies to"))
        if isinstance(run, str) and run.startswith("invoke:") and "event" not in fields:
            problems.append(_problem("event", "invoke:<LogicalId> needs an event"))
    if problems:
        raise FaultError(f"invalid {kind} fault", problems)

    # One way to address a request: service/operation/index.
    for name in ("after", "at"):
        value = fields.pop(name, None)
        if isinstance(value, str):
            fields["service"], fields["operation"] = value.split(".", 1)
        elif value is not None:
            fields["index"] = value
        if value is not None:
            fields[f"_{name}"] = value
    if count is None and kind not in WINDOWED:
        count = 1
    return kind, fields, count


# ----------------------------------------------------------------------- parallel_map
def install_serial_executor(source: Callable[[], bool]) -> bool:
    """Let `source()` decide, at each `parallel_map` call, whether its items run serially
    (`batchcalls.concurrency.set_serial`)."""
    try:
        from batchcalls import concurrency
    except ImportError:
        return False
    concurrency.set_serial(source)
    return True


# ----------------------------------------------------------------------- faults
class Faults:
    """The stack's faults; an `aws_requests` listener and the runtime's oracle."""

    def __init__(self, now: Callable[[], datetime], actions: Actions | None = None) -> None:
        self._now = now
        self.actions = actions
        self.serial = False
        self._faults: list[Fault] = []
        self._ids = 0
        self._lock = threading.RLock()
        self._recorded: deque[Invocation] = deque(maxlen=RECORDED_INVOCATIONS)
        self._ordinals: Counter[str] = Counter()
        self.writes = WriteLog()

    # ------------------------------------------------------------ the API
    def add(self, kind: str | None = None, **fields: Any) -> Fault:
        """Inject a fault: `add(kind="crash", function="CallerFunction", index=7)`.
        The fields are those of `POST /_local/faults`; FaultError if they are wrong."""
        spec = dict(fields)
        if kind is not None:
            spec["kind"] = kind
        return self.add_spec(spec)

    def add_spec(self, spec: dict[str, Any]) -> Fault:
        functions = self.actions.function_ids() if self.actions is not None else None
        kind, fields, count = validate(spec, functions)
        now = self._now()
        until = None
        if "seconds" in fields and kind != "stale_reads":
            until = now + timedelta(seconds=fields["seconds"])
        if "minutes" in fields:
            until = now + timedelta(minutes=fields["minutes"])
        with self._lock:
            self._ids += 1
            fault = Fault(f"f{self._ids}", kind, fields, count, now, until)
            self._faults.append(fault)
        log.info("fault %s injected: %s %s", fault.id, kind, fault.as_dict(now))
        return fault

    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def as_json(self) -> list[dict[str, Any]]:
        now = self._now()
        return [f.as_dict(now) for f in self.all()]

    def firings(self, kind: str | None = None) -> list[Firing]:
        """Every firing, in order, of one kind or of all."""
        found = [(f, x) for f in self.all() if kind in (None, f.kind) for x in f.firings]
        return [x for _, x in sorted(found, key=lambda pair: pair[1].at)]

    def clear(self) -> None:
        """Remove every fault (and the write log of stale reads)."""
        with self._lock:
            self._faults.clear()
        self.writes.clear()

    def recorder(self, function: str | None = None) -> list[RecordedInvocation]:
        """Every invocation since the stack started or `clear_recorder()` (the last 20,000), in order, with
        the names of its AWS requests in order: run once, then fault each index in turn."""
        with self._lock:
            invocations = list(self._recorded)
        return [
            RecordedInvocation(i.id, i.function, i.ordinal, i.trigger, tuple(i.requests), i.outcome)
            for i in invocations
            if function in (None, i.function)
        ]

    def clear_recorder(self) -> None:
        """Forget the invocations recorded so far; `invocation` numbers count from 0 again."""
        with self._lock:
            self._recorded.clear()
            self._ordinals.clear()

    # ------------------------------------------------------------ invocations
    def invocation_started(self, invocation: Invocation) -> None:
        with self._lock:
            invocation.ordinal = self._ordinals[invocation.function]
            self._ordinals[invocation.function] += 1
            self._recorded.append(invocation)

    def invocation_ended(self, invocation: Invocation, outcome: str) -> None:
        invocation.outcome = outcome
        invocation.event = None  # kept only while it runs (for "redeliver")
        invocation.redeliver = None

    # ------------------------------------------------------------ firing
    def _fire(
        self,
        fault: Fault,
        detail: str,
        request: AwsRequest | None = None,
        function: str | None = None,
    ) -> None:
        invocation = request.invocation if request is not None else None
        fault.firings.append(
            Firing(
                at=self._now(),
                detail=detail,
                function=request.function if request is not None else function,
                invocation=invocation.id if invocation is not None else None,
                ordinal=invocation.ordinal if invocation is not None else None,
                request=request.name if request is not None else None,
                index=request.index if request is not None and request.index >= 0 else None,
            )
        )
        log.warning("fault %s (%s) fired: %s", fault.id, fault.kind, detail)

    def _take(
        self,
        kind: str,
        accept: Callable[[Fault], bool],
        detail: Callable[[Fault], str],
        request: AwsRequest | None = None,
        function: str | None = None,
    ) -> Fault | None:
        """The first active fault of this kind that accepts; its firing is recorded."""
        now = self._now()
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.active(now) and accept(fault):
                    self._fire(fault, detail(fault), request, function)
                    return fault
        return None

    def _present(self, kind: str) -> bool:
        now = self._now()
        with self._lock:
            return any(f.kind == kind and f.active(now) for f in self._faults)

    # ------------------------------------------------------------ aws_requests listener
    def before(self, request: AwsRequest) -> None:
        invocation = request.invocation
        if invocation is not None and invocation.crashed:
            raise InvocationCrashed(f"{request.function} is dead; {request.name} not sent")
        fault = self._take(
            "aws_error",
            lambda f: (
                f.get("error") != "timeout_after_commit"
                and f.matches(request)
                and _applies(f.get("error"), request)
            ),
            lambda f: f"{request.name} refused: {f.get('error')}",
            request,
        )
        if fault is not None:
            raise _error(fault, request)
        self._mark_stale_read(request)

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        invocation = request.invocation
        if invocation is not None and invocation.crashed:
            raise InvocationCrashed(f"{request.function} died while {request.name} was sent")
        done: set[str] = set()
        while True:
            interleave = self._take(
                "interleave",
                lambda f: f.id not in done and f.matches(request),
                lambda f: f"after {request.name}: {_action_name(f.get('run'))}",
                request,
            )
            if interleave is None:
                break
            done.add(interleave.id)
            self._interleave(interleave, request)
        crash = self._take(
            "crash",
            lambda f: f.matches(request),
            lambda f: f"{request.function} died after {request.name}",
            request,
        )
        if crash is not None:
            if invocation is not None:
                invocation.crashed = True
            raise InvocationCrashed(f"{request.function} died after {request.name}")
        late = self._take(
            "aws_error",
            lambda f: f.get("error") == "timeout_after_commit" and f.matches(request),
            lambda f: f"{request.name} performed, then timed out",
            request,
        )
        if late is not None:
            raise _error(late, request)

    def _interleave(self, fault: Fault, request: AwsRequest) -> None:
        run = fault.get("run")
        invocation = request.invocation
        note = ""
        with aws_requests.detached():
            try:
                if callable(run):
                    run(request)
                elif run == "redeliver":
                    if invocation is not None and invocation.redeliver is not None:
                        note = str(invocation.redeliver())
                    elif invocation is not None and self.actions is not None:
                        trigger = f"{invocation.trigger} (redelivered)"
                        note = self.actions.invoke(invocation.function, invocation.event, trigger)
                elif self.actions is not None and run.startswith("tick"):
                    name = run.split(":", 1)[1] if ":" in run else None
                    note = self.actions.tick(name)
                elif self.actions is not None and run.startswith("invoke:"):
                    note = self.actions.invoke(
                        run.split(":", 1)[1], fault.get("event"), "interleaved"
                    )
            except (Exception, InvocationCrashed) as error:
                log.exception("interleaved work of fault %s failed", fault.id)
                note = f"failed: {error!r}"
        if note and fault.firings:
            last = fault.firings[-1]
            fault.firings[-1] = Firing(
                last.at,
                f"{last.detail} ({note})",
                last.function,
                last.invocation,
                last.ordinal,
                last.request,
                last.index,
            )

    # ------------------------------------------------------------ deliveries and ticks
    def duplicate_delivery(self, function: str, source: str) -> bool:
        """Deliver this (SQS batch, tick, stream batch) a second time?"""
        return (
            self._take(
                "duplicate_deliveries",
                lambda f: f.get("function") in (None, function),
                lambda f: f"{source} delivered twice to {function}",
                function=function,
            )
            is not None
        )

    def skip_tick(self, rule: str, functions: list[str]) -> bool:
        return (
            self._take(
                "skip_ticks",
                lambda f: f.get("function") is None or f.get("function") in functions,
                lambda f: f"tick of {rule} skipped",
                function=functions[0] if len(functions) == 1 else None,
            )
            is not None
        )

    # ------------------------------------------------------------ provider
    def provider_answer(self, call_id: str) -> str | None:
        """How the simulated provider answers POST /calls now: None, "5xx" or "timeout"."""
        if self._take("provider_5xx", lambda f: True, lambda f: f"POST /calls {call_id}: 503"):
            return "5xx"
        if self._take(
            "provider_timeout",
            lambda f: True,
            lambda f: f"POST /calls {call_id}: dialled, no answer",
        ):
            return "timeout"
        return None

    def drop_callback(self, call_id: str) -> bool:
        return bool(
            self._take(
                "provider_drop_callbacks",
                lambda f: True,
                lambda f: f"callback of {call_id} dropped",
            )
        )

    def duplicate_callback(self, call_id: str) -> bool:
        return bool(
            self._take(
                "provider_duplicate_callbacks",
                lambda f: True,
                lambda f: f"callback of {call_id} posted twice",
            )
        )

    # ------------------------------------------------------------ stale reads
    def recording_writes(self) -> bool:
        return self._present("stale_reads")

    def item_written(self, table: str, key: dict[str, Any], before: dict[str, Any] | None) -> None:
        with self._lock:
            windows = [
                f.get("seconds")
                for f in self._faults
                if f.kind == "stale_reads" and not f.exhausted
            ]
        if windows:
            self.writes.record(table, key, before, self._now(), max(windows))

    def _mark_stale_read(self, request: AwsRequest) -> None:
        """Decide, before an eventually consistent read, whether it is served stale; the
        decision is kept on the request for moto's hooks (`stale_images`)."""
        if request.service != "dynamodb" or request.operation not in READS:
            return
        if not self._present("stale_reads"):
            return
        tables = _eventual_tables(request)
        if not tables:
            return
        now = self._now()

        def accept(fault: Fault) -> bool:
            if fault.get("function") not in (None, request.function):
                return False
            since = now - timedelta(seconds=fault.get("seconds"))
            if request.operation == "GetItem":
                key = request.params.get("Key", {})
                return self.writes.written_since(tables[0], key, since)
            if request.operation == "BatchGetItem":
                return any(
                    self.writes.written_since(table, key, since)
                    for table in tables
                    for key in request.params["RequestItems"][table].get("Keys", [])
                )
            return bool(self.writes.tables_written_since(since) & set(tables))

        fault = self._take(
            "stale_reads",
            accept,
            lambda f: (
                f"{request.name} of {', '.join(tables)} read as of "
                f"{_iso(now - timedelta(seconds=f.get('seconds')))}"
            ),
            request,
        )
        if fault is not None:
            since = now - timedelta(seconds=fault.get("seconds"))
            request.notes["stale_reads"] = (set(tables), since)

    def stale_images(self, table: str) -> dict[str, Any] | None:
        """For moto's hooks: the images a stale read of `table` sees, by canonical key."""
        request = aws_requests.current_request.get()
        decided = request.notes.get("stale_reads") if request is not None else None
        if decided is None or table not in decided[0]:
            return None
        return self.writes.images(table, decided[1]) or None


def _eventual_tables(request: AwsRequest) -> list[str]:
    params = request.params
    if request.operation == "BatchGetItem":
        return [
            table
            for table, spec in params.get("RequestItems", {}).items()
            if not spec.get("ConsistentRead")
        ]
    if params.get("ConsistentRead"):
        return []
    table = params.get("TableName")
    return [table] if table else []


def _action_name(run: Any) -> str:
    return getattr(run, "__name__", "a callable") if callable(run) else str(run)


def _applies(error: str, request: AwsRequest) -> bool:
    if error == "conflict":
        return request.service == "dynamodb" and request.operation in SINGLE_WRITES | TRANSACTIONS
    if error == "transaction_throttled":
        return request.service == "dynamodb" and request.operation in TRANSACTIONS
    return True


def _cancellation(request: AwsRequest, item: int, code: str, message: str) -> Exception:
    count = max(1, len(request.params.get("TransactItems", [])))
    chosen = min(item, count - 1)
    reasons = [{"Code": "None"} for _ in range(count)]
    reasons[chosen] = {"Code": code, "Message": message}
    codes = ", ".join(r["Code"] for r in reasons)
    return aws_requests.client_error(
        request,
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        400,
        reasons,
    )


def _error(fault: Fault, request: AwsRequest) -> Exception:
    """What botocore raises for this error on this request."""
    error = fault.get("error")
    service = request.service
    if error in ("timeout", "timeout_after_commit"):
        return ReadTimeoutError(endpoint_url=request.client.meta.endpoint_url)
    if error == "throttle":
        code, status = THROTTLE_CODES.get(service, ("ThrottlingException", 400))
        return aws_requests.client_error(request, code, "Rate exceeded (injected)", status)
    if error == "internal":
        code = INTERNAL_CODES.get(service, "InternalFailure")
        return aws_requests.client_error(request, code, "Internal server error (injected)", 500)
    if error == "transaction_throttled":
        return _cancellation(
            request, fault.get("item", 0), "ThrottlingError", "Throughput exceeds the capacity"
        )
    # conflict
    if request.operation in TRANSACTIONS:
        return _cancellation(
            request,
            fault.get("item", 0),
            "TransactionConflict",
            "Transaction is ongoing for the item",
        )
    return aws_requests.client_error(
        request, "TransactionConflictException", "Transaction is ongoing for the item", 400
    )


__all__ = [
    "Actions",
    "Fault",
    "FaultError",
    "Faults",
    "Firing",
    "InvocationCrashed",
    "RecordedInvocation",
    "install_serial_executor",
    "validate",
]

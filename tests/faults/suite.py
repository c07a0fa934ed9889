"""The fault suite: small campaigns run to the end under a fault at every AWS request of
every delivery path, each judged by the invariant checker (invariants.py).

A *path* is one invocation of one function in a scenario (the planner's chunk, the first
tick that claims, the first dial, the outcome that plans a retry, the pause, the resume
and its plan, the cancel and its job, the sweeper, the publisher). A dry run of the
scenario records each invocation's requests in order (serial mode: the parallel parts
run one after another); then, for every request boundary of the path (`Boundary`) and
every fault kind, the scenario runs again from a fresh campaign with that fault, to the
end, and is checked. Scenarios start on a five-minute boundary (plus a few seconds), so
ticks and sweeps fall at the same moments in every run.

Used by tests/faults/test_exhaustive.py (in `make test`) and `python -m
tests.faults.random_mixes` (`make faults`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from local_stack.aws_requests import is_read
from tests.faults.invariants import Verdict, check, provider_wide
from tests.faults.world import World, numbers

# Fault kinds at a request: refused before it is performed (four ways), performed and then
# reported failed, or the invocation dies right after it.
REFUSALS = ("throttle", "conflict", "internal", "timeout")
KINDS = (*REFUSALS, "timeout_after_commit", "crash")
RUN_LIMIT_SECONDS = 2 * 3600


@dataclass(frozen=True)
class Path:
    scenario: str
    function: str
    ordinal: int  # the function's n-th invocation in the scenario (from 0)
    requests: tuple[str, ...]
    target: int | None = None  # as PATHS names it (None: the one found in the dry run)

    @property
    def name(self) -> str:
        return f"{self.scenario}:{self.function}#{self.ordinal}"


@dataclass
class Outcome:
    runs: int = 0
    faults_fired: int = 0
    verdict: Verdict = field(default_factory=Verdict)
    failures: list[str] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        self.runs += other.runs
        self.faults_fired += other.faults_fired
        self.verdict.add(other.verdict)
        self.failures += other.failures

    def line(self) -> str:
        v = self.verdict
        return (
            f"faults: {self.runs} scenarios, {self.faults_fired} faults injected, "
            f"{v.dials} dials, {len(v.duplicate_dials)} duplicate dials, "
            f"{len(v.lost_contacts)} lost contacts, {len(v.outside_window)} calls outside "
            f"window, {len(v.caps_exceeded)} caps exceeded"
        )


# ----------------------------------------------------------------------- scenarios
def _start_soon(world: World) -> str:
    """The next minute boundary two minutes ahead, as a naive UTC `scheduled_at`."""
    start = world.now().replace(second=0, microsecond=0) + timedelta(minutes=2)
    return start.strftime("%Y-%m-%dT%H:%M:%S")


def calls(world: World) -> str:
    """Three calls due in two minutes, one place: one completes, one is retried after
    no answer, one after busy (each ends failed after its second attempt)."""
    campaign = world.create(
        numbers("cnb"),
        schedule_type="scheduled",
        scheduled_at=_start_soon(world),
        max_concurrent_calls=1,
        webhooks={},  # events are read from the bus; webhooks would only cost time here
    )
    world.run_to_the_end(campaign, RUN_LIMIT_SECONDS)
    return campaign


def pause_resume(world: World) -> str:
    """An immediate campaign of three calls and one place, paused while the first call
    runs and two wait, resumed five seconds later."""
    campaign = world.create(numbers("ccn"), max_concurrent_calls=1, webhooks={})
    world.stack.advance(2)
    world.control(campaign, "pause")
    world.stack.advance(5)
    world.control(campaign, "resume")
    world.run_to_the_end(campaign, RUN_LIMIT_SECONDS)
    return campaign


def cancel(world: World) -> str:
    """An immediate campaign of four calls and one place, cancelled while the first call
    runs and the others wait or are planned."""
    campaign = world.create(numbers("cccc"), max_concurrent_calls=1, webhooks={})
    world.stack.advance(2)
    world.control(campaign, "cancel")
    world.run_to_the_end(campaign, RUN_LIMIT_SECONDS)
    return campaign


def larger(world: World) -> str:
    """Twenty contacts of every outcome due in two minutes, three places, two calls a
    second, retries: what the random mixes of `make faults` run."""
    campaign = world.create(
        numbers("ccccccccnnnnbbbbffcc"),
        schedule_type="scheduled",
        scheduled_at=_start_soon(world),
        max_concurrent_calls=3,
        max_calls_per_second=2,
        webhooks={},
    )
    world.run_to_the_end(campaign, RUN_LIMIT_SECONDS)
    return campaign


SCENARIOS: dict[str, Callable[[World], str]] = {
    "calls": calls,
    "pause_resume": pause_resume,
    "cancel": cancel,
    "larger": larger,
}
# The invocations each scenario's faults go to (function, ordinal in the scenario).
PATHS: dict[str, list[tuple[str, int]]] = {
    "calls": [
        ("ApiFunction", 0),  # create
        ("PlannerFunction", 0),  # the plan's chunk
        ("DispatcherFunction", None),  # the first tick that claims (found in the dry run)
        ("CallerFunction", 0),  # the first dial
        ("ProviderEventsFunction", 0),  # the first outcome
        ("ProviderEventsFunction", 1),  # an outcome that plans a retry
        ("CallerFunction", None),  # the dial of a retry (found in the dry run)
        ("PublisherFunction", 0),
        ("SweeperFunction", 0),
    ],
    "pause_resume": [
        ("ApiFunction", 1),  # pause
        ("ApiFunction", 2),  # resume
        ("PlannerFunction", 1),  # the resume's plan
    ],
    "cancel": [
        ("ApiFunction", 1),  # cancel
        ("PlannerFunction", 1),  # the cancel job
    ],
}


# ----------------------------------------------------------------------- running
def align(world: World) -> None:
    """Move to 3 s past the next five-minute boundary: every run sees the same ticks."""
    now = world.now()
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
    world.stack.advance((boundary - now).total_seconds() + 3)


def run(world: World, scenario: str, faults: Iterable[dict[str, Any]] = ()) -> Outcome:
    """One run of a scenario from an aligned start, with these faults; checked."""
    stack = world.stack
    align(world)
    stack.faults.clear()
    stack.faults.clear_recorder()
    began = world.now()
    for spec in faults:
        stack.faults.add(**spec)
    campaign = SCENARIOS[scenario](world)
    outcome = Outcome(runs=1, faults_fired=sum(f.fired for f in stack.faults.all()))
    verdict = check(world, campaign)
    for other in world.campaigns_since(began):
        # A create tried again after failing half-way: what it left must be harmless.
        if other["id"] != campaign:
            verdict.add(check(world, other["id"]))
    verdict.caps_exceeded += provider_wide(world)
    outcome.verdict = verdict
    if verdict.problems:
        outcome.failures.append(f"{scenario} {list(faults)}: {verdict.problems}")
    stack.faults.clear()
    return outcome


def paths(world: World, scenario: str) -> list[Path]:
    """Dry run: the paths of a scenario with the requests each makes."""
    run(world, scenario)
    recorded = world.stack.faults.recorder()
    found = []
    for function, ordinal in PATHS[scenario]:
        invocations = [r for r in recorded if r.function == function]
        if ordinal is None:
            # The first of its invocations that writes (a tick that claims, a retry's dial).
            writes = [
                r
                for r in invocations
                if any(not is_read(name) for name in r.requests) and r.ordinal > 0
            ]
            chosen = writes[-1] if function == "CallerFunction" and writes else None
            if function == "DispatcherFunction":
                chosen = next(
                    (r for r in invocations if "dynamodb.TransactWriteItems" in r.requests), None
                )
        else:
            chosen = next((r for r in invocations if r.ordinal == ordinal), None)
        if chosen is not None and chosen.requests:
            found.append(Path(scenario, function, chosen.ordinal, chosen.requests, ordinal))
    return found


def path_of(world: World, scenario: str, function: str, ordinal: int | None) -> Path:
    """One path of a scenario as PATHS names it (from the world's one dry run of it)."""
    if scenario not in world.dry_runs:
        world.dry_runs[scenario] = paths(world, scenario)
    [path] = [p for p in world.dry_runs[scenario] if p.function == function and p.target == ordinal]
    return path


@dataclass(frozen=True)
class Boundary:
    """A request boundary of a path (`aws_requests.Invocation.number`): every write, and
    the first read of each run of reads (a fault at any read of such a run leaves what was
    written exactly as at its first: reads change nothing). Faults are addressed by the
    boundary's ordinal, so they keep their place when the reads before it vary in number
    from one run to the next (the shards a campaign's contacts fall in)."""

    ordinal: int
    request: str  # as the dry run saw it

    @property
    def read(self) -> bool:
        return is_read(self.request)


def boundaries_of(path: Path) -> list[Boundary]:
    """The path's request boundaries, in order."""
    found = []
    previous_read = False
    for request in path.requests:
        read = is_read(request)
        if not (read and previous_read):
            found.append(Boundary(len(found), request))
        previous_read = read
    return found


def faults_at(path: Path, boundary: Boundary, every_refusal: bool = True) -> list[dict[str, Any]]:
    """The fault kinds at one request boundary of a path: refused (throttled,
    conflicting, failed inside DynamoDB, timed out), performed then reported failed, the
    invocation dead after it (a conflict and a failure after the fact only where they
    mean something: writes). Without `every_refusal`, one refusal per boundary, the four
    taking turns along the path (`make test`'s budget; `make faults` tries all four
    everywhere)."""
    address = {"function": path.function, "invocation": path.ordinal, "boundary": boundary.ordinal}
    refusals = [k for k in REFUSALS if not (boundary.read and k == "conflict")]
    if not every_refusal:
        refusals = [refusals[boundary.ordinal % len(refusals)]]
    kinds = [*refusals, *(() if boundary.read else ("timeout_after_commit",)), "crash"]
    return [
        {"kind": "crash", **address}
        if kind == "crash"
        else {"kind": "aws_error", "error": kind, **address}
        for kind in kinds
    ]


def exhaustive(
    world: World, path: Path, every_refusal: bool = True, boundaries: list[Boundary] | None = None
) -> Outcome:
    """The fault kinds at every request boundary of the path (or at those given), one run
    each."""
    total = Outcome()
    for boundary in boundaries_of(path) if boundaries is None else boundaries:
        for fault in faults_at(path, boundary, every_refusal):
            total.add(run(world, path.scenario, [fault]))
    return total


def random_mix(world: World, seed: int) -> Outcome:
    """A larger campaign (or a paused, or a cancelled one) under a seeded random mix of
    faults of every kind."""
    rng = random.Random(seed)
    mix: list[dict[str, Any]] = []
    functions = [
        "PlannerFunction",
        "DispatcherFunction",
        "CallerFunction",
        "ProviderEventsFunction",
        "PublisherFunction",
        "SweeperFunction",
    ]
    for _ in range(rng.randint(2, 5)):
        function = rng.choice(functions)
        kind = rng.choice([*KINDS, "duplicate", "stale", "skip", "provider_5xx", "drop"])
        if kind == "duplicate":
            mix.append({"kind": "duplicate_deliveries", "count": rng.randint(1, 20)})
        elif kind == "stale":
            mix.append({"kind": "stale_reads", "seconds": rng.choice([1, 30, 120])})
        elif kind == "skip":
            mix.append({"kind": "skip_ticks", "minutes": rng.randint(1, 30)})
        elif kind == "provider_5xx":
            mix.append({"kind": "provider_5xx", "seconds": rng.randint(10, 900)})
        elif kind == "drop":
            mix.append({"kind": "provider_drop_callbacks", "count": rng.randint(1, 3)})
        else:
            address = {
                "function": function,
                "invocation": rng.randint(0, 3),
                "boundary": rng.randint(0, 12),
            }
            if kind == "crash":
                mix.append({"kind": "crash", **address})
            else:
                mix.append({"kind": "aws_error", "error": kind, **address})
    scenario = rng.choice(["larger", "larger", "pause_resume", "cancel"])
    outcome = run(world, scenario, mix)
    outcome.failures = [f"seed {seed}: {failure}" for failure in outcome.failures]
    return outcome

"""A fault at every AWS request boundary of every delivery path (suite.py): planner chunk,
tick, dial, outcome, retry, pause, resume, cancel, sweeper, publisher.

Each test takes one path: a dry run records the requests it makes, then the scenario runs
again once per (request boundary, fault kind), to the end, and the invariant checker
judges it. At every boundary: a refusal (throttle, conflict, internal error and timeout
taking turns along the path), a write performed then reported failed, and a crash right
after; `make faults` tries all four refusals at every boundary and adds seeded random
mixes on larger campaigns. Each path prints its summary line (`pytest -s`).
"""

from __future__ import annotations

import pytest

from tests.faults import suite
from tests.faults.world import World

pytestmark = pytest.mark.slow

# Each path's boundaries in two halves (even and odd positions): the two test workers
# share the long paths.
HALVES = 2
TARGETS = [
    (scenario, function, ordinal, half)
    for scenario, targets in suite.PATHS.items()
    for function, ordinal in targets
    for half in range(HALVES)
]
_dry_runs: dict[str, list[suite.Path]] = {}  # per worker: one dry run per scenario


def path_of(world: World, scenario: str, function: str, ordinal: int | None) -> suite.Path:
    if scenario not in _dry_runs:
        _dry_runs[scenario] = suite.paths(world, scenario)
    [path] = [p for p in _dry_runs[scenario] if p.function == function and p.target == ordinal]
    return path


@pytest.mark.parametrize(
    ("scenario", "function", "ordinal", "half"),
    TARGETS,
    ids=[f"{s}-{f}-{o if o is not None else 'found'}-{h}" for s, f, o, h in TARGETS],
)
def test_every_fault_at_every_request_keeps_the_promise(
    world, faults, scenario, function, ordinal, half
):
    # Given the path's requests, from a run without faults
    path = path_of(world, scenario, function, ordinal)
    boundaries = suite.boundaries_of(path)[half::HALVES]
    assert boundaries, "the path has too few request boundaries to halve"
    # When every fault kind is injected at each of these request boundaries, one run each
    outcome = suite.exhaustive(world, path, every_refusal=False, boundaries=boundaries)
    print(f"\n{path.name} ({half + 1}/{HALVES}): {outcome.line()}")
    # Then each run kept every promise, and the faults did fire
    assert outcome.failures == []
    assert outcome.faults_fired >= len(boundaries)

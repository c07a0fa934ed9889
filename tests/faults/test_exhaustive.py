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

pytestmark = pytest.mark.slow

TARGETS = [
    (scenario, function, ordinal)
    for scenario, targets in suite.PATHS.items()
    for function, ordinal in targets
]


@pytest.mark.parametrize(
    ("scenario", "function", "ordinal"),
    TARGETS,
    ids=[f"{s}-{f}-{o if o is not None else 'found'}" for s, f, o in TARGETS],
)
def test_every_fault_at_every_request_keeps_the_promise(world, faults, scenario, function, ordinal):
    # Given the path's requests, from a run without faults
    [path] = [
        p for p in suite.paths(world, scenario) if p.function == function and p.target == ordinal
    ]
    assert path.requests, "the path made no AWS request"
    # When every fault kind is injected at every request boundary, one run each
    outcome = suite.exhaustive(world, path, every_refusal=False)
    print(f"\n{path.name}: {outcome.line()}")
    # Then each run kept every promise, and the faults did fire
    assert outcome.failures == []
    assert outcome.faults_fired >= len(suite.boundaries(path))

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

# Each path's boundaries in parts (every n-th boundary to one test), so that the two test
# workers share the long paths: the planner's chunks, with 12 to 20 boundaries, in four;
# every other path in two (the shortest have two boundaries; the cancel job's number of
# writes varies from run to run with what the campaign had reached, three or four).
PARTS = {("calls", "PlannerFunction"): 4, ("pause_resume", "PlannerFunction"): 4}
TARGETS = [
    (scenario, function, ordinal, part, PARTS.get((scenario, function), 2))
    for scenario, targets in suite.PATHS.items()
    for function, ordinal in targets
    for part in range(PARTS.get((scenario, function), 2))
]


@pytest.mark.parametrize(
    ("scenario", "function", "ordinal", "part", "parts"),
    TARGETS,
    ids=[f"{s}-{f}-{o if o is not None else 'found'}-{p + 1}of{n}" for s, f, o, p, n in TARGETS],
)
def test_every_fault_at_every_request_keeps_the_promise(
    world, faults, scenario, function, ordinal, part, parts
):
    # Given the path's requests, from a run without faults
    path = suite.path_of(world, scenario, function, ordinal)
    boundaries = suite.boundaries_of(path)[part::parts]
    assert boundaries, "the path has too few request boundaries for its parts"
    # When every fault kind is injected at each of these request boundaries, one run each
    outcome = suite.exhaustive(world, path, every_refusal=False, boundaries=boundaries)
    print(f"\n{path.name} ({part + 1}/{parts}): {outcome.line()}")
    # Then each run kept every promise, and the faults did fire
    assert outcome.failures == []
    assert outcome.faults_fired >= len(boundaries)

"""`make faults`: the whole fault suite, then seeded random mixes on larger campaigns.

    .venv/bin/python -m tests.faults.random_mixes [--seeds 40] [--first-seed 1] [--quick]
                                                   [--workers 2]

1. Every fault kind (all four refusals, a write performed then reported failed, a crash)
   at every request boundary of every delivery path (suite.py), one run each.
2. Seeded random mixes: a larger campaign (twenty contacts of every outcome, a few places,
   retries) under two to five faults of every kind at random requests of random
   functions, plus duplicated deliveries, stale reads, skipped ticks, provider outages
   and dropped callbacks. A failing seed is printed; run it again with
   `--first-seed <seed> --seeds 1`.
The work is shared by `--workers` processes (default: one per core), each with its own
local stack. It ends with one line of the real numbers, and exits non-zero if any promise
broke. `--quick` skips part 1.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from tests.faults import suite
from tests.faults.world import World, start_stack

_world: World | None = None  # the worker process's own stack


def _start_worker(parent: int) -> None:
    global _world
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    stack = start_stack()
    stack.faults.serial = True  # the same run makes the same requests in the same order
    _world = World(stack)


def _exit_with(parent: int) -> None:
    """A worker whose parent is gone (killed, not stopped) stops too, instead of running
    the work already handed to it."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _every_fault_on_path(scenario: str, function: str, ordinal: int | None) -> suite.Outcome:
    assert _world is not None
    path = suite.path_of(_world, scenario, function, ordinal)
    outcome = suite.exhaustive(_world, path, every_refusal=True)
    outcome.failures = [f"{path.name}: {failure}" for failure in outcome.failures]
    return outcome


def _random_mix(seed: int) -> suite.Outcome:
    assert _world is not None
    return suite.random_mix(_world, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=40, help="random mixes to run")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="only the random mixes")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    began = time.monotonic()
    total = suite.Outcome()
    # The longest paths first, so the workers finish together.
    paths = [
        (scenario, function, ordinal)
        for scenario, targets in suite.PATHS.items()
        for function, ordinal in targets
    ]
    paths.sort(key=lambda p: p[1] != "PlannerFunction")
    with ProcessPoolExecutor(
        max_workers=max(1, args.workers),
        mp_context=multiprocessing.get_context("spawn"),  # no threads forked mid-flight
        initializer=_start_worker,
        initargs=(os.getpid(),),
    ) as pool:
        work = {} if args.quick else {pool.submit(_every_fault_on_path, *p): p for p in paths}
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        work.update({pool.submit(_random_mix, seed): ("seed", seed) for seed in seeds})
        for done in as_completed(work):
            outcome = done.result()
            name = work[done]
            if name[0] == "seed":
                status = "ok" if not outcome.failures else "BROKEN"
                print(f"seed {name[1]}: {status} ({outcome.faults_fired} faults fired)", flush=True)
            else:
                scenario, function, ordinal = name
                label = f"{scenario}:{function}#{ordinal if ordinal is not None else 'found'}"
                print(f"{label}: {outcome.line()}", flush=True)
            total.add(outcome)
    for failure in total.failures:
        print(f"BROKEN: {failure}")
    print(f"wall time {time.monotonic() - began:.0f} s")
    print(total.line())
    return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""`make faults`: the whole fault suite, then seeded random mixes on larger campaigns.

    .venv/bin/python -m tests.faults.random_mixes [--seeds 40] [--first-seed 1] [--quick]

1. Every fault kind (all four refusals, a write performed then reported failed, a crash)
   at every request boundary of every delivery path (suite.py), one run each.
2. Seeded random mixes: a larger campaign (twenty contacts of every outcome, a few places,
   retries) under two to five faults of every kind at random requests of random
   functions, plus duplicated deliveries, stale reads, skipped ticks, provider outages
   and dropped callbacks. A failing seed is printed; run it again with
   `--first-seed <seed> --seeds 1`.
It ends with one line of the real numbers, and exits non-zero if any promise broke.
`--quick` skips part 1.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.faults import suite
from tests.faults.world import World, start_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=40, help="random mixes to run")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="only the random mixes")
    args = parser.parse_args(argv)
    began = time.monotonic()
    stack = start_stack()
    total = suite.Outcome()
    try:
        world = World(stack)
        stack.faults.serial = True
        if not args.quick:
            for scenario in suite.SCENARIOS:
                if scenario == "larger":
                    continue
                for path in suite.paths(world, scenario):
                    outcome = suite.exhaustive(world, path, every_refusal=True)
                    print(f"{path.name}: {outcome.line()}", flush=True)
                    total.add(outcome)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            outcome = suite.random_mix(world, seed)
            status = "ok" if not outcome.failures else "BROKEN"
            print(f"seed {seed}: {status} ({outcome.faults_fired} faults fired)", flush=True)
            total.add(outcome)
    finally:
        stack.stop()
    for failure in total.failures:
        print(f"BROKEN: {failure}")
    print(f"wall time {time.monotonic() - began:.0f} s")
    print(total.line())
    return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the planner: a million contacts across a DST change, against a baseline.

Run: .venv/bin/python benchmarks/plan_benchmark.py [--contacts N] [--baseline N]

Scenario 1: one timezone (America/New_York, 09:00-17:00, 50,000 calls a day, 10 calls a
second), starting 2026-10-28 so the plan runs over the 2026-11-01 fall-back.
Scenario 2: the same window applied in each contact's own timezone
(respect_contact_timezone), contacts spread over seven US zones, interleaved.

For each: pure planning time (contacts built beforehand, not timed; best of three runs
and the first, cold run that also computes allowed intervals), slots per second, peak
memory of the planning call (tracemalloc, in a separate run since tracing slows
Python down) and the process's maximum resident set size (ru_maxrss, which includes
the contact list itself); then the same for the straightforward per-contact datetime
planner of `baseline_planner.py` on a prefix of the contacts, extrapolated linearly,
the speed ratio, and a check that both give the same due times on that prefix.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A script, not a test: put the layer on the path as pytest's config does.
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

from baseline_planner import plan_baseline  # noqa: E402
from batchcalls.domain.planning import PlanContact, plan_contacts  # noqa: E402
from batchcalls.models.campaign import CampaignSettings  # noqa: E402

US_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
]
START = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)  # four days before the US fall-back


def scenario_contacts(count: int, multi_zone: bool) -> list[PlanContact]:
    if not multi_zone:
        zones = ("America/New_York",)
        return [PlanContact(f"contact-{i:07d}", zones) for i in range(count)]
    tuples = [(zone,) for zone in US_ZONES]
    # A fixed pseudo-random interleaving (a linear congruential walk), reproducible.
    return [PlanContact(f"contact-{i:07d}", tuples[(i * 7919 + 13) % 7]) for i in range(count)]


def settings_for(multi_zone: bool) -> CampaignSettings:
    return CampaignSettings(
        timezone="America/New_York",
        start_time="09:00",
        end_time="17:00",
        max_calls_per_day=50_000,
        max_calls_per_second=10,
        respect_contact_timezone=multi_zone,
        phone_numbers=["+14155550100", "+14155550101", "+14155550102"],
    )


def peak_traced(function) -> tuple[object, int]:
    gc.collect()
    tracemalloc.start()
    value = function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return value, peak


def mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def run(name: str, multi_zone: bool, count: int, baseline_count: int) -> dict[str, float]:
    """One scenario, printed; its figures (seconds, bytes, ratio) returned."""
    print(f"\n=== {name} ===")
    settings = settings_for(multi_zone)
    contacts = scenario_contacts(count, multi_zone)

    timings = []
    result = None
    for _ in range(3):
        del result
        gc.collect()
        began = time.perf_counter()
        result = plan_contacts(settings, START, contacts)
        timings.append(time.perf_counter() - began)
    assert result is not None
    best = min(timings)
    print(
        f"contacts: {count:,}; planned {len(result.due_ms):,}, unplaceable {len(result.unplaceable)}"
    )
    print(
        f"fast planner, pure planning: {best:.3f} s best of 3 (cold first run {timings[0]:.3f} s)"
        f" -> {count / best:,.0f} slots/s"
    )
    began = time.perf_counter()
    objects = result.planned
    print(
        f"  building {len(objects):,} PlannedCall objects on top: {time.perf_counter() - began:.3f} s"
    )
    del objects
    first_day = datetime.fromtimestamp(min(result.due_ms) / 1000, UTC).isoformat()
    last_day = datetime.fromtimestamp(max(result.due_ms) / 1000, UTC).isoformat()
    print(f"  first call {first_day}, last call {last_day}")
    print(f"  state after the plan: {len(str(result.state.to_json()))} characters of JSON")
    del result
    _, peak = peak_traced(lambda: plan_contacts(settings, START, contacts))
    print(f"  peak memory of the planning call (tracemalloc): {mb(peak)}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(f"  process max RSS so far (ru_maxrss, includes the {count:,} input contacts): {mb(rss)}")

    subset = contacts[:baseline_count]
    began = time.perf_counter()
    planned, unplaceable = plan_baseline(settings, START, subset)
    baseline_time = time.perf_counter() - began
    extrapolated = baseline_time * count / len(subset)
    label = (
        "measured"
        if len(subset) == count
        else f"on the first {len(subset):,}, extrapolated linearly"
    )
    print(
        f"baseline (per-contact datetime loop): {baseline_time:.2f} s for {len(subset):,} contacts"
        f" ({len(subset) / baseline_time:,.0f} slots/s); {count:,} contacts: {extrapolated:.1f} s ({label})"
    )
    sample = subset[:20_000]
    _, baseline_peak = peak_traced(lambda: plan_baseline(settings, START, sample))
    print(
        f"  baseline peak memory (tracemalloc) for {len(sample):,} contacts: {mb(baseline_peak)}"
        f" (about {mb(baseline_peak * count / len(sample))} for {count:,}, linearly)"
    )
    print(f"speed ratio (baseline / fast): {extrapolated / best:,.0f}x")

    fast_prefix = plan_contacts(settings, START, subset)
    same = [due for _, due in planned] == fast_prefix.due_ms and not unplaceable
    same = same and [c for c, _ in planned] == fast_prefix.contact_ids
    print(
        f"agreement on the first {len(subset):,} contacts (same due times): {'yes' if same else 'NO'}"
    )
    # asap plans in order, so a prefix of the contacts plans like the prefix of the plan
    assert fast_prefix.due_ms == plan_contacts(settings, START, contacts).due_ms[: len(subset)]
    if not same:
        raise SystemExit("the fast planner and the baseline disagree")
    return {
        "contacts": count,
        "planning_seconds": best,
        "cold_planning_seconds": timings[0],
        "slots_per_second": count / best,
        "peak_traced_bytes": peak,
        "max_rss_bytes": rss,
        "baseline_contacts": len(subset),
        "baseline_seconds": extrapolated,
        "ratio": extrapolated / best,
    }


SCENARIOS = {
    "one_zone": ("Scenario 1: America/New_York, over the 2026-11-01 fall-back", False),
    "seven_zones": ("Scenario 2: respect_contact_timezone, contacts over seven US zones", True),
}


def measure(contacts: int = 1_000_000, baseline: int = 100_000) -> dict[str, dict[str, float]]:
    """Both scenarios (printed as they run): their figures by scenario."""
    return {
        key: run(name, multi_zone, contacts, baseline)
        for key, (name, multi_zone) in SCENARIOS.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=100_000, help="contacts the baseline plans")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}; planning from {START.isoformat()}")
    measure(args.contacts, args.baseline)


if __name__ == "__main__":
    main()

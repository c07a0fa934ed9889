"""Every benchmark in benchmarks/, each figure the median of several runs, written as a
markdown and a JSON table with the machine's description (`make bench`).

Run: .venv/bin/python benchmarks/bench.py [--runs 3] [--import-rows 100000]
         [--plan-sizes 2500 5000] [--cost-contacts 1000] [--jobs 2] [--out out]

Each run of a benchmark is a fresh interpreter (its peak memory is its own) calling the
benchmark's `measure(...)`. The moto-backed ones run with the local runtime's latency
model (local_stack/latency.py) and report modelled AWS time beside the measured figures.
Runs: the pure planner `--runs` times; the cold starts once (each import the median of 5
fresh interpreters); everything under moto once (request counts and modelled times are
deterministic; moto's wall time is what takes long): the retry's requests, the planner
function end to end at two sizes (`--plan-sizes`, the 1,000,000-contact figure
extrapolated from their difference: docs/benchmarks.md has the reason and the
measurements), the contact-file import at `--import-rows` rows, the cost of a whole
campaign of `--cost-contacts` contacts with the baseline's comparison, and the dispatch
(`--dispatch-calls` calls due in one minute, 10,000 by default, the old sequential
dispatch beside it). Ratios compare figures of the same run.

Order: first, alone on the machine, the three whose figures are measured times (the
pure planner, the cold starts, the import's parse rate); then the moto-bound ones,
`--jobs` at a time (two on a 2-core machine): their figures are request counts,
modelled AWS time and memory, which other work on the machine does not change; only
their wall times (printed as such) grow. Writes out/bench.md and out/bench.json, and
prints the markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ONE_RUN = """
import json, sys, importlib
module = importlib.import_module(sys.argv[1])
figures = module.measure(**json.loads(sys.argv[2]))
with open(sys.argv[3], "w") as out:
    json.dump(figures, out, default=str)
"""


def run_once(module: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`module.measure(**kwargs)` in a fresh interpreter (its output discarded)."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), str(ROOT / "layers" / "common"), str(ROOT / "benchmarks")]
        ),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        done = subprocess.run(
            [sys.executable, "-c", ONE_RUN, module, json.dumps(kwargs), result.name],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"{module} failed:\n{done.stderr[-3000:]}")
        return json.loads(Path(result.name).read_text())  # type: ignore[no-any-return]


def median_of(runs: list[Any]) -> Any:
    """The median of each number across runs (same shapes); other values from the first."""
    first = runs[0]
    if isinstance(first, dict):
        return {key: median_of([run[key] for run in runs]) for key in first}
    if isinstance(first, bool) or not isinstance(first, int | float):
        return first
    return statistics.median(runs)


def measure(module: str, runs: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`runs` runs of a benchmark's `measure(**kwargs)`, and the median of each figure."""
    began = time.perf_counter()
    results = []
    for n in range(runs):
        print(f"  {module} run {n + 1}/{runs} ...", file=sys.stderr, flush=True)
        results.append(run_once(module, kwargs))
    return {
        "runs": runs,
        "arguments": kwargs,
        "seconds": time.perf_counter() - began,
        "median": median_of(results),
        "all": results,
    }


def measure_side_by_side(
    jobs: dict[str, tuple[str, dict[str, Any]]], workers: int
) -> dict[str, dict[str, Any]]:
    """Each job's `measure(module, 1, kwargs)`, `workers` of them at a time (each in its
    own interpreter), in the order given."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {
            name: pool.submit(measure, module, 1, kwargs) for name, (module, kwargs) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def dispatch_together(parallel: dict[str, Any], sequential: dict[str, Any]) -> dict[str, Any]:
    """The two dispatch modes' runs as one result, with the old tick over the new."""
    new, old = parallel["median"]["parallel"], sequential["median"]["sequential"]
    return {
        "runs": 1,
        "arguments": {"parallel": parallel["arguments"], "sequential": sequential["arguments"]},
        "seconds": {"parallel": parallel["seconds"], "sequential": sequential["seconds"]},
        "median": parallel["median"]
        | {
            "sequential": old,
            "tick_ratio": old["tick_modelled_seconds"] / max(1e-9, new["tick_modelled_seconds"]),
        },
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    memory_gb = None
    with_proc = Path("/proc/cpuinfo")
    if with_proc.exists():
        for line in with_proc.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "os": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def table(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(benchmark, figure, value, target) rows."""
    rows: list[tuple[str, str, str, str]] = []
    plan = results["plan_benchmark"]["median"]
    for key, label in (("one_zone", "one zone"), ("seven_zones", "7 US zones")):
        s = plan[key]
        name = f"pure planner, {s['contacts']:,} contacts, {label}"
        rows += [
            (name, "planning time", f"{s['planning_seconds']:.2f} s", "< 2 s"),
            (name, "slots per second", f"{s['slots_per_second'] / 1e6:.2f} M", ""),
            (name, "peak memory (tracemalloc)", f"{s['peak_traced_bytes'] / 1e6:.0f} MB", ""),
            (name, "max RSS (incl. input)", f"{s['max_rss_bytes'] / 1e6:.0f} MB", "< 500 MB"),
            (
                name,
                "vs per-contact baseline",
                f"{s['ratio']:.0f}x ({s['baseline_seconds']:.1f} s, extrapolated from "
                f"{s['baseline_contacts']:,})",
                ">= 10x",
            ),
        ]
    rows += plan_e2e_rows(results["plan_e2e"])
    r = results["retry_requests"]["median"]
    sizes = sorted(r["sizes"], key=int)
    for size in sizes:
        one = r["sizes"][size]
        rows.append(
            (
                f"one retry planned, campaign of {int(size):,}",
                "requests; modelled AWS time",
                f"{one['requests']} ({', '.join(f'{k} {v}' for k, v in one['requests_by_operation'].items())}); "
                f"{one['modelled_aws_seconds'] * 1000:.0f} ms",
                "",
            )
        )
    rows.append(
        (
            "one retry planned",
            f"requests, {int(sizes[-1]):,} vs {int(sizes[0]):,} contacts",
            f"ratio {r['ratio']:.2f}",
            "1.00 (must not grow)",
        )
    )
    c = results["cold_start"]["median"]
    rows.append(("cold start", "import boto3 alone", f"{c['boto3_seconds'] * 1000:.0f} ms", ""))
    for handler, one in c["handlers"].items():
        rows.append(
            (
                "cold start",
                f"import functions/{handler}",
                f"{one['import_seconds'] * 1000:.0f} ms ({one['ratio_to_boto3']:.2f}x boto3); "
                f"tracing on (as deployed) {one['traced_import_seconds'] * 1000:.0f} ms "
                f"({one['traced_ratio_to_boto3']:.2f}x); as deployed without the package's "
                f"bytecode (the layer before its makefile build) "
                f"{one['source_traced_import_seconds'] * 1000:.0f} ms "
                f"({one['source_traced_ratio_to_boto3']:.2f}x)"
                + f"; package {one['package_bytes'] / 1e6:.1f} MB",
                "< 250 ms",
            )
        )
    if "dispatch" in results:
        rows += dispatch_rows(results["dispatch"]["median"])
    if "import_contacts" in results:
        i = results["import_contacts"]["median"]
        name = f"contact file import, {i['rows']:,} rows ({i['size_mb']:.0f} MB)"
        rows += [
            (
                name,
                "parse and validation",
                f"{i['parse_rows_per_second']:,.0f} rows/s ({i['parse_ratio']:.2f}x phonenumbers.parse alone)",
                "",
            ),
            (
                name,
                "end to end under moto",
                f"{i['rows_per_second']:,.0f} rows/s ({i['seconds']:.0f} s, {i['chunks']} chunks)",
                "",
            ),
            (
                name,
                "modelled AWS time",
                f"{i['modelled_aws_seconds']:.1f} s (slowest chunk {i['max_invocation_modelled_seconds']:.2f} s); "
                f"1,000,000 rows (linear): {i['modelled_aws_seconds'] * 1e6 / i['rows'] / 60:.1f} min",
                "",
            ),
            (
                name,
                "DynamoDB requests per 1,000 rows",
                f"{i['dynamodb_total_per_1000']:.2f} ({i['ratio_to_batch_minimum']:.2f}x the 25-item batch minimum of 40)",
                "< 1x",
            ),
            (
                name,
                "importer's memory",
                f"{i['importer_rss_mb']:.0f} MB (handler {i['handler_rss_mb']:.0f} MB + import "
                f"{i['import_growth_mb']:.0f} MB)",
                "< 256 MB",
            ),
            (name, "outcome", f"{i['status']}: {i['stored']:,} contacts stored", ""),
        ]
    if "cost" in results:
        rows += cost_rows(results["cost"]["median"])
    return rows


def plan_e2e_rows(e2e: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The planner function end to end at two sizes, and 1,000,000 contacts from them."""
    small, large = (e2e["sizes"][k]["median"] for k in sorted(e2e["sizes"], key=int))
    rows: list[tuple[str, str, str, str]] = []
    for one in (small, large):
        name = f"planner function end to end, {one['contacts']:,} contacts ({one['chunks']} chunks)"
        rows += [
            (
                name,
                "modelled AWS time",
                f"{one['modelled_aws_seconds']:.2f} s ({one['modelled_aws_seconds'] / one['contacts'] * 1000:.3f} s "
                f"per 1,000; {one['modelled_serial_seconds']:.2f} s if sequential)",
                "",
            ),
            (
                name,
                "requests per 1,000 contacts",
                f"{one['total_per_1000']:.1f}: "
                + ", ".join(f"{op} {n:.1f}" for op, n in one["per_1000"].items()),
                "",
            ),
            (
                name,
                "planner's memory",
                f"{one['planner_rss_mb']:.0f} MB (handler {one['handler_rss_mb']:.0f} MB + plan "
                f"{one['plan_growth_mb']:.0f} MB)",
                "",
            ),
        ]
    per_small = small["modelled_aws_seconds"] / small["contacts"]
    per_large = large["modelled_aws_seconds"] / large["contacts"]
    slope = (large["modelled_aws_seconds"] - small["modelled_aws_seconds"]) / (
        large["contacts"] - small["contacts"]
    )
    million = small["modelled_aws_seconds"] + slope * (1_000_000 - small["contacts"])
    rows += [
        (
            "planner function end to end",
            f"modelled time per contact, {large['contacts']:,} vs {small['contacts']:,}",
            f"ratio {per_large / per_small:.2f} (linear: 1.00)",
            "",
        ),
        (
            "planner function end to end, 1,000,000 contacts",
            "modelled AWS time (from the two sizes)",
            f"{million / 60:.1f} min ({million:.0f} s)",
            "< 5 min",
        ),
    ]
    return rows


def cost_rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    c = f["campaign"]
    name = f"cost, a campaign of {c['contacts']:,} contacts ({c['calls']:,} calls)"
    rows = [
        (
            name,
            "dollars per million calls",
            f"${f['usd_per_million_calls']:.2f}: "
            + ", ".join(f"{k} ${v:.2f}" for k, v in f["usd_per_million_calls_by_item"].items())
            + f" (prices of {f['prices_date']})",
            "",
        ),
        (
            name,
            "against one EventBridge Scheduler schedule per contact",
            f"{f['ratio_to_baseline']:.2f}x the baseline's ${f['baseline_usd_per_million_calls']:.2f} "
            f"(scheduling: ours ${f['scheduling_usd_per_million_calls']:.2f}, baseline "
            f"${f['baseline_scheduling_usd_per_million_calls']:.2f})",
            "<= 1x",
        ),
        (
            name,
            "SQS requests per call",
            f"{f['sqs_requests_per_call']:.3f} (sent {c['sqs_own_requests'] / c['calls']:.3f}, "
            f"Lambda's pollers {c['sqs_poller_requests'] / c['calls']:.3f})",
            "<= 0.35",
        ),
        (
            name,
            "DynamoDB write units per call, by function (scheduling: planner and dispatcher)",
            f"{c['wru'] / c['calls']:.1f}: "
            + ", ".join(
                f"{function.removesuffix('Function')} {units:.1f}"
                for function, units in c.get("wru_per_call_by_function", {}).items()
            ),
            "",
        ),
        (
            name,
            "requests per call",
            ", ".join(f"{k} {v:.2f}" for k, v in list(c["requests_per_call"].items())[:8]),
            "",
        ),
    ]
    sizes = [str(s) for s in f["sizes"]]
    small, large = (f["operations"][s] for s in sizes)
    for operation in small["ours"]:
        a, b = small["ours"][operation], large["ours"][operation]
        base_a, base_b = small["baseline"][operation], large["baseline"][operation]
        rows.append(
            (
                f"{operation}, campaign of {int(sizes[0]):,} / {int(sizes[1]):,} contacts",
                "requests: ours (API + background) / baseline",
                f"ours {a['api_requests']} + {a['background_requests']} / "
                f"{b['api_requests']} + {b['background_requests']} (x{b['requests'] / max(a['requests'], 1):.2f}); "
                f"baseline {base_a} / {base_b} (x{base_b / max(base_a, 1):.2f})",
                "O(1)" if operation in ("pause", "resume", "cancel") else "",
            )
        )
    return rows


def dispatch_rows(d: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The dispatch benchmark's rows (benchmarks/dispatch.py)."""
    new, old = d["parallel"], d.get("sequential")
    name = f"dispatch, {d['calls']:,} calls due in one minute, {d['campaigns']} campaigns"
    tick = f"{new['tick_modelled_seconds']:.2f} s ({new['tick_modelled_serial_seconds']:.1f} s if sequential requests)"
    if old:
        tick += (
            f"; the old one-claim-at-a-time dispatch {old['tick_modelled_seconds']:.1f} s"
            f"{' (over the 55 s timeout)' if old['tick_over_timeout'] else ''}: "
            f"{d['tick_ratio']:.0f}x faster"
        )
    rows = [
        (name, "tick: all claimed and sent, modelled AWS time", tick, "within the minute"),
        (
            name,
            "tick requests",
            ", ".join(f"{op} {n:,}" for op, n in new["tick_requests"].items()),
            "",
        ),
        (
            name,
            "arrival at the caller - scheduled_at (all calls)",
            f"p50 {new['arrival_late_p50']:.2f} s, p99 {new['arrival_late_p99']:.2f} s, "
            f"max {new['arrival_late_max']:.2f} s; {new['arrival_early']} early"
            + (
                f" (old dispatch: p99 {old['arrival_late_p99']:.1f} s, max {old['arrival_late_max']:.1f} s)"
                if old
                else ""
            ),
            "p99 <= 1 s, none early",
        ),
        (
            name,
            "peak calls reaching the caller per second",
            f"{new['peak_arrivals_per_second']}",
            "",
        ),
    ]
    if "sqs_requests_per_call" in new:
        rows.append(
            (
                name,
                "SQS requests per call on the call queue (sends as made; the caller's "
                "poller: a receive and a delete per 10 calls visible in the same second)",
                f"{new['sqs_requests_per_call']:.3f} ({new['sqs_sends']:,} SendMessageBatch, "
                f"{new['sqs_poller_batches']:,} poller batches)",
                "<= 0.35",
            )
        )
    if "placed" in new:
        caps = "; ".join(
            f"{c['peak_live']} live of {c['cap']} allowed"
            for c in new["live_against_caps"].values()
        )
        rows += [
            (
                name,
                f"placed - scheduled_at ({new['sampled_calls']:,} calls of {new['sampled_campaigns']} "
                "campaigns dialled to their outcome; no cap binding)",
                f"p50 {new['placed_late_p50']:.2f} s, p99 {new['placed_late_p99']:.2f} s, "
                f"max {new['placed_late_max']:.2f} s; {new['placed_early']} early, "
                f"{new['placed_twice']} dialled twice",
                "p99 <= 1 s",
            ),
            (name, "live calls against their caps (peak)", caps, "never above"),
            (
                name,
                "wall time under moto (tick; callers)",
                f"{new['tick_wall_seconds']:.0f} s; {new['callers_wall_seconds']:.0f} s",
                "",
            ),
        ]
    return rows


def markdown(description: dict[str, Any], command: str, results: dict[str, Any]) -> str:
    runs = ", ".join(f"{name} {r['runs']}" for name, r in results.items() if "runs" in r)
    lines = [
        "# Benchmarks",
        "",
        f"`{command}` on {description['date']}: {description['cpu']}, {description['cores']} "
        f"cores, {description['memory_gb']} GB memory, Python {description['python']}, "
        f"{description['os']}.",
        "",
        f"Each figure is the median of its benchmark's runs ({runs}). Modelled AWS time: the "
        "local runtime's latency model (local_stack/latency.py, AWS's typical figures).",
        "",
        "| benchmark | figure | value | target |",
        "|---|---|---|---|",
    ]
    lines += [f"| {b} | {f} | {v} | {t} |" for b, f, v, t in table(results)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=1_000_000, help="the pure planner's")
    parser.add_argument("--retry-sizes", type=int, nargs="+", default=[1000, 10000])
    # 10,000 calls due in one minute, and the old one-claim-at-a-time tick on the same
    # calls: about half of make bench's wall time (moto's, not the modelled AWS time).
    parser.add_argument("--dispatch-calls", type=int, default=10_000)
    parser.add_argument(
        "--dispatch-callers", type=int, default=2, help="campaigns dialled to their outcome"
    )
    parser.add_argument("--plan-sizes", type=int, nargs=2, default=[2500, 5000])
    parser.add_argument("--cost-contacts", type=int, default=1000)
    parser.add_argument("--cost-sizes", type=int, nargs=2, default=[250, 1000])
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="moto-bound benchmarks run at once (default: 2, or 1 on a 1-core machine)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument(
        "--render", type=Path, help="write the table again from a bench.json, running nothing"
    )
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads(args.render.read_text())
        done = {k: v for k, v in saved.items() if k not in ("machine", "command", "seconds")}
        text = markdown(saved["machine"], saved["command"], done)
        text += f"\nThe whole run took {saved['seconds'] / 60:.1f} minutes.\n"
        (args.out / "bench.md").write_text(text)
        print(text)
        return 0
    command = "make bench" if argv is None and len(sys.argv) == 1 else " ".join(sys.argv)
    began = time.perf_counter()
    description = machine()
    results: dict[str, Any] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    partial = args.out / "bench.partial.json"

    def keep(name: str, value: Any) -> None:
        """Each benchmark's figures saved as they come (a late failure loses nothing)."""
        results[name] = value
        partial.write_text(
            json.dumps(
                {
                    "machine": description,
                    "command": command,
                    "seconds": time.perf_counter() - began,
                    **results,
                },
                default=str,
            )
        )

    # Alone on the machine: the figures that are measured times (and so load-dependent).
    plan_args = {"contacts": args.contacts, "baseline": min(100_000, args.contacts)}
    keep("plan_benchmark", measure("plan_benchmark", args.runs, plan_args))
    keep("cold_start", measure("benchmarks.cold_start", 1, {"runs": max(args.runs, 5)}))
    import_args = {"rows": args.import_rows, "runs": args.runs}
    keep("import_contacts", measure("benchmarks.import_contacts", 1, import_args))
    # Side by side: the ones whose figures are request counts, modelled AWS time and
    # memory, which the machine's load does not change. Longest first.
    dispatch_args = {"calls": args.dispatch_calls, "campaigns": 20}
    moto_bound: dict[str, tuple[str, dict[str, Any]]] = {
        "dispatch parallel": (
            "benchmarks.dispatch",
            dispatch_args | {"callers": args.dispatch_callers, "modes": ["parallel"]},
        ),
        "cost": ("benchmarks.cost", {"contacts": args.cost_contacts, "sizes": args.cost_sizes}),
        "dispatch sequential": ("benchmarks.dispatch", dispatch_args | {"modes": ["sequential"]}),
        "retry_requests": ("benchmarks.retry_requests", {"sizes": args.retry_sizes}),
        **{
            f"plan_e2e {n}": ("benchmarks.plan_e2e", {"contacts": n})
            for n in sorted(args.plan_sizes, reverse=True)
        },
    }
    done = measure_side_by_side(moto_bound, args.jobs)
    keep("plan_e2e", {"sizes": {str(n): done[f"plan_e2e {n}"] for n in args.plan_sizes}})
    keep("retry_requests", done["retry_requests"])
    keep("dispatch", dispatch_together(done["dispatch parallel"], done["dispatch sequential"]))
    keep("cost", done["cost"])
    text = markdown(description, command, results)
    total = time.perf_counter() - began
    text += f"\nThe whole run took {total / 60:.1f} minutes.\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(text)
    document = {"machine": description, "command": command, "seconds": total, **results}
    (args.out / "bench.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(text)
    print(f"written: {args.out / 'bench.md'}, {args.out / 'bench.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

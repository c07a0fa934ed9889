"""What a campaign costs on AWS, request by request, against a baseline design with one
EventBridge Scheduler schedule per contact.

Run: .venv/bin/python benchmarks/cost.py [--contacts 10000] [--sizes 1000 4000]

1. A whole campaign of `--contacts` contacts on the local stack (simulated clock and
   voice provider: numbers ending in 1 do not answer, in 2 are busy, so a fifth of the
   contacts are called again): created, its contacts added, scheduled, run to its end.
   Every AWS request the functions make is counted by service and operation, with the
   capacity units DynamoDB bills (items' sizes from the requests and answers: 1 KB per
   write unit, 4 KB per read unit, strongly consistent reads 1 unit, transactions 2x).
   Lambda's SQS pollers are billed too (one ReceiveMessage and one DeleteMessageBatch
   per batch they hand a function), and API Gateway per HTTP request. Lambda: one request
   per invocation, and GB-seconds from the latency model's time of each invocation (plus
   the assumptions in prices.toml) and the memory the template gives the function.
   Priced with `prices.toml` (list prices with their date and page): dollars per million
   calls placed.
2. Pause, resume, a re-plan after a window change and cancel, on a planned campaign of
   each of `--sizes` contacts: the requests each makes (ours), and the same four on the
   baseline: a schedule per contact in EventBridge Scheduler (moto's), created at plan
   time, each updated to pause, resume and re-plan, each deleted to cancel. The
   baseline's requests are counted with botocore's event hooks on its client.
3. Cost per million calls against the baseline: the baseline keeps everything else of
   this design (caller, outcomes, events) and replaces the planner's and dispatcher's work
   (their invocations and requests, and the call queue) with one scheduled invocation per
   call.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

from local_stack import aws_requests  # noqa: E402
from local_stack.aws_requests import AwsRequest  # noqa: E402
from local_stack.latency import LatencyModel  # noqa: E402

PRICES = Path(__file__).with_name("prices.toml")
API_KEY = "bench-key"
TENANT = "tenant_bench"
START = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # Monday 08:00 in New York
# The scheduling layer the baseline replaces: these functions' work and the call queue.
SCHEDULING_FUNCTIONS = ("PlannerFunction", "DispatcherFunction")
SQS_TRIGGERED = ("CallerFunction", "PlannerFunction", "ImporterFunction", "PublisherFunction")
HTTP_FUNCTIONS = ("ApiFunction", "ProviderEventsFunction")
PROVIDER_WIDE_CALL_LIMIT = 1000


# ---------------------------------------------------------------------- item sizes
def attribute_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (wire format)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").lstrip("0")) or 1
        return 1 + math.ceil(digits / 2)
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else math.ceil(len(inner) * 3 / 4)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    return 0


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(kb: float) -> int:
    return max(1, math.ceil(kb))


class Meter:
    """Every request the functions make, by `<service>.<Operation>` and by function, with
    the DynamoDB capacity units each consumed (an `aws_requests` listener)."""

    def __init__(self, unknown_write_kb: float = 1) -> None:
        self.unknown_write_kb = unknown_write_kb
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.by_function: dict[str, Counter[str]] = defaultdict(Counter)
            self.wru: dict[str, float] = defaultdict(float)  # by function
            self.rru: dict[str, float] = defaultdict(float)
            self.events = 0  # PutEvents entries
            self.sqs_entries = 0

    def before(self, request: AwsRequest) -> None:
        return None

    def after(self, request: AwsRequest, response: dict[str, Any]) -> None:
        wru, rru = self._units(request.operation, request.params, response)
        with self._lock:
            self.requests[request.name] += 1
            self.by_function[request.function][request.name] += 1
            if request.service == "dynamodb":
                self.wru[request.function] += wru
                self.rru[request.function] += rru
            if request.name == "events.PutEvents":
                self.events += len(request.params.get("Entries", []))

    def _units(
        self, operation: str, params: dict[str, Any], answer: dict[str, Any]
    ) -> tuple[float, float]:
        units: float
        unknown = write_units(self.unknown_write_kb)
        if operation == "PutItem":
            return write_units(item_size(params["Item"]) / 1024), 0
        if operation in ("UpdateItem", "DeleteItem"):
            return unknown, 0
        if operation == "BatchWriteItem":
            units = 0
            for requests in params["RequestItems"].values():
                for one in requests:
                    put = one.get("PutRequest")
                    units += write_units(item_size(put["Item"]) / 1024) if put else unknown
            return units, 0
        if operation == "TransactWriteItems":
            units = 0
            for one in params["TransactItems"]:
                put = one.get("Put")
                units += write_units(item_size(put["Item"]) / 1024) if put else unknown
            return 2 * units, 0
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        if operation == "GetItem":
            return 0, factor * max(1, math.ceil(item_size(answer.get("Item", {})) / 4096))
        if operation == "BatchGetItem":
            units = 0.0
            for table, items in answer.get("Responses", {}).items():
                consistent = params["RequestItems"][table].get("ConsistentRead")
                for item in items:
                    units += (1.0 if consistent else 0.5) * math.ceil(item_size(item) / 4096)
            return 0, units
        if operation in ("Query", "Scan"):
            size = sum(item_size(item) for item in answer.get("Items", []))
            return 0, factor * max(1, math.ceil(size / 4096))
        if operation == "TransactGetItems":
            return 0, 2 * sum(
                max(1, math.ceil(item_size(r.get("Item", {})) / 4096))
                for r in answer.get("Responses", [])
            )
        return 0, 0


class Invocations:
    """Each function's invocations, and those an SQS poller handed a batch to."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner  # the runtime's own observer (fault injection), still told
        self.reset()

    def reset(self) -> None:
        self.count: Counter[str] = Counter()
        self.sqs_batches: Counter[str] = Counter()

    def invocation_started(self, current: Any) -> None:
        if self.inner is not None:
            self.inner.invocation_started(current)
        self.count[current.function] += 1
        event = current.event
        records = event.get("Records", []) if isinstance(event, dict) else []
        if records and records[0].get("eventSource") == "aws:sqs":
            self.sqs_batches[current.function] += 1

    def invocation_ended(self, current: Any, outcome: str) -> None:
        if self.inner is not None:
            self.inner.invocation_ended(current, outcome)


# ---------------------------------------------------------------------- pricing
def load_prices() -> dict[str, Any]:
    with PRICES.open("rb") as f:
        return tomllib.load(f)


def memory_gb() -> dict[str, float]:
    """Each function's memory (GB) as template.yaml gives it."""
    from tests.support.template import load_template

    template = load_template()
    default = template["Globals"]["Function"].get("MemorySize", 128)
    return {
        name: resource["Properties"].get("MemorySize", default) / 1024
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def bill(
    meter: Meter,
    invocations: Invocations,
    model: LatencyModel,
    calls: int,
    prices: dict[str, Any],
) -> dict[str, Any]:
    """Dollars by item for what was counted, and the scheduling layer's share."""
    assumed = prices["assumptions"]
    memory = memory_gb()
    per_m = {k: v["usd_per_million"] / 1e6 for k, v in prices.items() if "usd_per_million" in v}
    seconds: dict[str, float] = defaultdict(float)
    for timed in model.invocations.values():
        seconds[timed.function] += timed.seconds
    gb_seconds: dict[str, float] = defaultdict(float)
    for function, n in invocations.count.items():
        busy = seconds[function] + n * assumed["handler_ms_per_invocation"] / 1000
        if function == "CallerFunction":
            busy += calls * assumed["provider_request_ms"] / 1000
        gb_seconds[function] = busy * memory.get(function, 0.5)
    sqs_own = {
        f: sum(n for op, n in c.items() if op.startswith("sqs."))
        for f, c in meter.by_function.items()
    }
    pollers = {f: 2 * invocations.sqs_batches[f] for f in invocations.sqs_batches}

    def items(functions: set[str] | None) -> dict[str, float]:
        def chosen(f: str) -> bool:
            return functions is None or f in functions

        return {
            "DynamoDB writes": sum(u for f, u in meter.wru.items() if chosen(f))
            * per_m["dynamodb_write_request_unit"],
            "DynamoDB reads": sum(u for f, u in meter.rru.items() if chosen(f))
            * per_m["dynamodb_read_request_unit"],
            "SQS": (
                sum(n for f, n in sqs_own.items() if chosen(f))
                + sum(n for f, n in pollers.items() if chosen(f))
            )
            * per_m["sqs_request"],
            "EventBridge events": (meter.events if functions is None else 0)
            * per_m["eventbridge_custom_event"],
            "Lambda requests": sum(n for f, n in invocations.count.items() if chosen(f))
            * per_m["lambda_request"],
            "Lambda GB-s": sum(g for f, g in gb_seconds.items() if chosen(f))
            * prices["lambda_gb_second_arm64"]["usd"],
            "HTTP API": sum(
                n for f, n in invocations.count.items() if f in HTTP_FUNCTIONS and chosen(f)
            )
            * per_m["http_api_request"],
        }

    total = items(None)
    scheduling = items(set(SCHEDULING_FUNCTIONS))
    # The call queue's requests: sent by the scheduling layer (counted above) and polled
    # by the caller's poller (one receive and one delete per batch).
    scheduling["SQS"] += pollers.get("CallerFunction", 0) * per_m["sqs_request"]
    sqs_requests = sum(sqs_own.values()) + sum(pollers.values())
    return {
        "usd": total,
        "usd_total": sum(total.values()),
        "scheduling_usd": scheduling,
        "scheduling_usd_total": sum(scheduling.values()),
        "sqs_requests": sqs_requests,
        "sqs_own_requests": sum(sqs_own.values()),
        "sqs_poller_requests": sum(pollers.values()),
        "wru": sum(meter.wru.values()),
        "wru_per_call_by_function": {
            f: u / calls for f, u in sorted(meter.wru.items(), key=lambda kv: -kv[1]) if u
        },
        "rru": sum(meter.rru.values()),
        "events": meter.events,
        "lambda_invocations": dict(invocations.count),
        "gb_seconds": sum(gb_seconds.values()),
    }


# ---------------------------------------------------------------------- our design
class Stack:
    """A local stack with the meters on, and a few API helpers."""

    def __init__(self) -> None:
        from local_stack import LocalStack
        from local_stack.provider import ProviderSettings

        self.stack = LocalStack.start(
            clock="simulated",
            clock_start=START,
            api_keys={API_KEY: TENANT},
            provider=ProviderSettings(call_seconds=60),
            # A deployment sized for its campaigns: 5 calls a second of 60 s are 300 live
            # calls, over the template's default of 100, which would park most calls and
            # price the waiting line instead of the calls.
            parameters={"ProviderWideCallLimit": str(PROVIDER_WIDE_CALL_LIMIT)},
        )
        assumed = load_prices()["assumptions"]
        self.meter = Meter(assumed["unknown_write_kb"])
        functions = list(self.stack.functions.by_id.values())
        self.invocations = Invocations(functions[0].observer if functions else None)
        for function in functions:
            function.observer = self.invocations
        aws_requests.add_listener(self.meter)
        self.model = LatencyModel().start()

    def reset(self) -> None:
        self.meter.reset()
        self.invocations.reset()
        self.model.reset()

    def stop(self) -> None:
        aws_requests.remove_listener(self.meter)
        self.model.stop()
        self.stack.stop()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        # Long timeouts: moto, on a busy machine, can take minutes over a big request.
        answer = self.stack.request(method, path, body, api_key=API_KEY, timeout=3600)
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status} {answer.body[:300]!r}")
        return answer.json()

    def campaign(self, contacts: int, per_second: int, scheduled_at: str) -> str:
        from demo.contacts import generate_contacts

        body = {
            "status": "draft",
            "agent_id": "agent_bench",
            "phone_numbers": ["+12122300100", "+12122300101"],
            "schedule_type": "scheduled",
            "scheduled_at": scheduled_at,
            "timezone": "America/New_York",
            "start_time": "09:00",
            "end_time": "17:00",
            "working_days": [1, 2, 3, 4, 5],
            "max_calls_per_second": per_second,
            "max_concurrent_calls": 60 * per_second + 10,
            "max_calls_per_day": contacts * 2,
            "retry_strategy": {
                "max_attempts": 2,
                "no_answer_delay": 3_600_000,
                "busy_delay": 600_000,
            },
        }
        campaign_id = str(self.api("POST", "/batch-calls", body)["id"])
        rows = [{"phone_number": c["phone_number"]} for c in generate_contacts(contacts)]
        for first in range(0, len(rows), 2000):
            self.api(
                "POST",
                f"/batch-calls/{campaign_id}/contacts",
                {"contacts": rows[first : first + 2000]},
            )
        return campaign_id

    def status(self, campaign_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/batch-calls/{campaign_id}"))

    def settle(self) -> None:
        """Run what is due now (planning chains, streams, queues) until nothing is."""
        for _ in range(10_000):
            if not self.stack.run_due():
                return

    def planned(self, campaign_id: str) -> None:
        self.settle()
        for _ in range(200):
            planning = self.status(campaign_id).get("planning") or {}
            if planning.get("done"):
                return
            self.stack.advance(1)
            self.settle()
        raise RuntimeError("the plan did not finish")


def run_campaign(contacts: int, prices: dict[str, Any]) -> dict[str, Any]:
    """A whole campaign; every request of its functions counted and priced."""
    stack = Stack()
    began = time.perf_counter()
    try:
        stack.reset()
        campaign_id = stack.campaign(contacts, per_second=5, scheduled_at="2026-11-30T09:00:00")
        stack.api("POST", f"/batch-calls/{campaign_id}/schedule")
        status = stack.status(campaign_id)
        deadline = START + timedelta(days=7)
        while status["status"] not in ("completed", "cancelled", "failed"):
            if stack.stack.now() >= deadline:
                raise RuntimeError(f"the campaign did not end in 7 days: {status['stats']}")
            stack.stack.advance(300)
            status = stack.status(campaign_id)
        calls = [
            c
            for c in json.loads(
                stack.stack.request("GET", "/_local/provider/calls", timeout=3600).body
            )["items"]
            if c.get("batch_id") in (campaign_id, None)
        ]
        billed = bill(stack.meter, stack.invocations, stack.model, len(calls), prices)
        requests = dict(sorted(stack.meter.requests.items(), key=lambda kv: -kv[1]))
        return {
            "contacts": contacts,
            "calls": len(calls),
            "status": status["status"],
            "stats": status.get("stats", {}),
            "requests": requests,
            "requests_per_call": {k: v / len(calls) for k, v in requests.items()},
            "wall_seconds": time.perf_counter() - began,
            **billed,
        }
    finally:
        stack.stop()


def our_operations(size: int) -> dict[str, Any]:
    """Requests of pause, resume, a window change and cancel on a planned campaign."""
    stack = Stack()
    try:
        campaign_id = stack.campaign(size, per_second=5, scheduled_at="2026-12-01T09:00:00")
        stack.api("POST", f"/batch-calls/{campaign_id}/schedule")
        stack.planned(campaign_id)
        found: dict[str, Any] = {}
        steps = [
            ("pause", "POST", f"/batch-calls/{campaign_id}/pause", None),
            ("resume", "POST", f"/batch-calls/{campaign_id}/resume", None),
            (
                "re-plan (window change)",
                "PATCH",
                f"/batch-calls/{campaign_id}",
                {"end_time": "16:00"},
            ),
            ("cancel", "POST", f"/batch-calls/{campaign_id}/cancel", None),
        ]
        for name, method, path, body in steps:
            stack.reset()
            stack.api(method, path, body)
            stack.settle()
            if name != "cancel":
                stack.planned(campaign_id)
            api = sum(stack.meter.by_function["ApiFunction"].values())
            total = sum(stack.meter.requests.values())
            found[name] = {
                "requests": total,
                "api_requests": api,
                "background_requests": total - api,
            }
        return found
    finally:
        stack.stop()


# ---------------------------------------------------------------------- the baseline
def baseline_operations(size: int) -> dict[str, Any]:
    """One EventBridge Scheduler schedule per contact (moto): requests to create them, and
    to pause, resume, re-plan and cancel, counted with botocore's event hooks."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        scheduler = boto3.client("scheduler", region_name="us-east-1")
        counted: Counter[str] = Counter()
        scheduler.meta.events.register(
            "before-call.scheduler.*",
            lambda model, **_: counted.update([model.name]),
        )
        target = {
            "Arn": "arn:aws:sqs:us-east-1:123456789012:CallQueue",
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
        }
        first = datetime(2026, 12, 1, 14, 0)
        due = {f"call-{i:07d}": first + timedelta(seconds=i // 5) for i in range(size)}

        def put(operation: Any, name: str, at: datetime, state: str) -> None:
            operation(
                Name=name,
                ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={**target, "Input": json.dumps({"contact": name})},
                State=state,
                ActionAfterCompletion="DELETE",
            )

        phases: dict[str, int] = {}
        for name, at in due.items():
            put(scheduler.create_schedule, name, at, "ENABLED")
        phases["schedule"] = counted.total()
        steps = [
            ("pause", lambda n, at: put(scheduler.update_schedule, n, at, "DISABLED")),
            ("resume", lambda n, at: put(scheduler.update_schedule, n, at, "ENABLED")),
            (
                "re-plan (window change)",
                lambda n, at: put(scheduler.update_schedule, n, at - timedelta(hours=1), "ENABLED"),
            ),
            ("cancel", lambda n, at: scheduler.delete_schedule(Name=n)),
        ]
        for label, step in steps:
            counted.clear()
            for name, at in due.items():
                step(name, at)
            phases[label] = counted.total()
    return phases


# ---------------------------------------------------------------------- the report
def measure(contacts: int = 10_000, sizes: list[int] | None = None) -> dict[str, Any]:
    sizes = sizes or [1000, 4000]
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    prices = load_prices()
    campaign = run_campaign(contacts, prices)
    calls = campaign["calls"]
    scheduled_per_call = 1.0 + 0.0  # the baseline: one scheduled invocation per call
    baseline_scheduling = (
        calls
        * scheduled_per_call
        * prices["eventbridge_scheduler_invocation"]["usd_per_million"]
        / 1e6
    )
    baseline_total = campaign["usd_total"] - campaign["scheduling_usd_total"] + baseline_scheduling
    operations = {}
    for size in sizes:
        operations[str(size)] = {
            "ours": our_operations(size),
            "baseline": baseline_operations(size),
        }
    per_million = 1e6 / calls
    return {
        "prices_date": prices["date"],
        "campaign": campaign,
        "sqs_requests_per_call": campaign["sqs_requests"] / calls,
        "usd_per_million_calls": campaign["usd_total"] * per_million,
        "usd_per_million_calls_by_item": {k: v * per_million for k, v in campaign["usd"].items()},
        "scheduling_usd_per_million_calls": campaign["scheduling_usd_total"] * per_million,
        "baseline_scheduling_usd_per_million_calls": baseline_scheduling * per_million,
        "baseline_usd_per_million_calls": baseline_total * per_million,
        "ratio_to_baseline": campaign["usd_total"] / baseline_total,
        "operations": operations,
        "sizes": sizes,
    }


def report(f: dict[str, Any]) -> None:
    c = f["campaign"]
    print(
        f"A campaign of {c['contacts']:,} contacts: {c['calls']:,} calls placed, {c['status']} "
        f"({c['wall_seconds']:.0f} s under moto); prices of {f['prices_date']}"
    )
    print(f"  cost per million calls   ${f['usd_per_million_calls']:.2f}")
    for item, usd in f["usd_per_million_calls_by_item"].items():
        print(f"    {item:22s} ${usd:8.2f}")
    print(
        f"  baseline (a schedule per call) ${f['baseline_usd_per_million_calls']:.2f}: ours "
        f"{f['ratio_to_baseline']:.2f}x (scheduling layer ours ${f['scheduling_usd_per_million_calls']:.2f}, "
        f"baseline ${f['baseline_scheduling_usd_per_million_calls']:.2f})"
    )
    print(f"  SQS requests per call    {f['sqs_requests_per_call']:.3f}")
    print("  DynamoDB write units per call, by function:")
    for function, units in c["wru_per_call_by_function"].items():
        print(f"    {function:36s} {units:8.2f}")
    print("  requests per call:")
    for name, n in c["requests_per_call"].items():
        print(f"    {name:36s} {n:8.3f}")
    print("  operations (requests):")
    for size, both in f["operations"].items():
        for name, ours in both["ours"].items():
            print(
                f"    {int(size):>7,} contacts  {name:26s} ours {ours['requests']:6} "
                f"(API {ours['api_requests']}, background {ours['background_requests']})  "
                f"baseline {both['baseline'].get(name, 0):6}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 4000])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = measure(args.contacts, args.sizes)
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()

"""Dispatch at scale: 10,000 calls due in one minute across 20 campaigns, claimed, sent,
dialled and ended, under the local runtime's latency model.

Run: .venv/bin/python benchmarks/dispatch.py [--calls 10000] [--campaigns 20]

In process against moto (the tables and queues of template.yaml), with the real delivery
service: the dispatcher's tick (DispatcherFunction), the caller for every message
(CallerFunction) and every call's outcome (ProviderEventsFunction). The call queue and
the provider are in-memory fakes: a message reaches the caller when its DelaySeconds
have passed; the provider accepts every call and ends it `call_seconds` later.

Time is modelled, not measured: each invocation starts at its event's instant (the tick
at `tick_second` of the minute before the calls are due; a message when its delay has
passed; an outcome when its call ends) and its clock moves by the modelled time of the
AWS requests it has made so far (local_stack/latency.py: AWS's typical latency of each
request; the dispatcher's parallel requests overlap). So a message's delay is counted
from the modelled instant it is sent, and a call is placed at its caller's modelled
instant: `placed - scheduled_at` is what AWS would show, less the CPU time of the
handlers and the event source mapping's polling (neither is modelled). Wall times under
moto are printed beside, and say little about AWS.

Two dispatch modes, each on fresh tables: `parallel` (the dispatcher as deployed: 16
workers, 32 claims a transaction) and `sequential` (1 worker, 1 claim a transaction:
the dispatcher as it was, one claim after another). Run alone, this script runs both
one after the other; make bench runs them in two processes side by side (`modes`). The
tick's modelled time and the lateness of the calls are compared as ratios. The
sequential tick's calls are dispatched only (no callers: its lateness is its messages'
arrival).
"""

from __future__ import annotations

import argparse
import contextvars
import heapq
import itertools
import json
import math
import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from moto import mock_aws

from local_stack import aws_requests, moto_hooks
from local_stack.latency import LatencyModel

TENANT = "tenant_bench"
START = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # the tick's minute; calls due the next
TICK_TIMEOUT_SECONDS = 55  # the dispatcher's Timeout in template.yaml


class ModelledClock:
    """`now` = the current invocation's start + the modelled AWS time it has spent."""

    def __init__(self, start: datetime, model: LatencyModel) -> None:
        self.model = model
        # A context variable: the dispatcher's worker threads run in copies of its context.
        self._start: contextvars.ContextVar[datetime] = contextvars.ContextVar(
            "invocation_start", default=start
        )

    def begin(self, instant: datetime) -> None:
        self._start.set(instant)

    def now(self) -> datetime:
        return self._start.get() + timedelta(seconds=self.model.elapsed_seconds())

    def sleep(self, seconds: float) -> None:
        """A wait moves this invocation's (or worker's) clock, as a request does."""
        self.model.wait(max(0.0, seconds))


class Queue:
    """The call queue (moto's SQS, so each send is a modelled request): what was sent,
    when (modelled, once sent), with which delay."""

    def __init__(self, clock: ModelledClock, sqs: Any) -> None:
        self.clock = clock
        self.sqs = sqs
        self.sent: list[tuple[int, dict[str, Any], int]] = []
        self._lock = threading.Lock()

    def send(self, messages: Any) -> list[dict[str, Any]]:
        unsent = self.sqs.send(messages)
        now_ms = int(self.clock.now().timestamp() * 1000)
        with self._lock:
            self.sent += [(now_ms, message, int(delay)) for message, delay in messages]
            # What was sent is kept here; moto's copy goes (nothing receives from it, and
            # moto counts every message a queue holds on each send: 10,000 messages would
            # make the sends quadratic in wall time; the modelled time is unchanged).
            moto_queue(self.sqs.queue_url)._messages.clear()
        return unsent  # type: ignore[no-any-return]

    def take(self) -> list[tuple[int, dict[str, Any], int]]:
        with self._lock:
            taken, self.sent = self.sent, []
            return taken


def moto_queue(queue_url: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    return sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_queue(queue_url.rsplit("/", 1)[1])


class Provider:
    """Accepts every call; remembers when (modelled) and which campaign."""

    def __init__(self, clock: ModelledClock) -> None:
        self.clock = clock
        self.placed: list[tuple[int, str, str]] = []  # (ms, call id, campaign id)

    def place(self, call: Any, budget_seconds: float) -> Any:
        from batchcalls.adapters.provider_http import PlaceResult

        now_ms = int(self.clock.now().timestamp() * 1000)
        self.placed.append((now_ms, call.call_id, call.variables["batch_id"]))
        return PlaceResult("accepted", 200)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]  # nearest rank


def lateness(late: list[float], prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}_early": sum(1 for x in late if x < 0),
        f"{prefix}_late_p50": percentile(late, 0.50),
        f"{prefix}_late_p99": percentile(late, 0.99),
        f"{prefix}_late_max": max(late, default=0.0),
    }


def scenario(
    mode: str,
    calls: int,
    campaigns: int,
    tick_second: float,
    call_seconds: int,
    caps: dict[int, int],
    provider_limit: int,
    callers: int,
) -> dict[str, Any]:
    """One run on fresh tables: set up, one tick, then (`callers` campaigns) every call
    of the first `callers` campaigns through the caller to its outcome."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    with mock_aws():
        # Imported inside the mock so that every client is made against moto.
        from batchcalls.adapters.call_queue import SqsCallQueue
        from batchcalls.adapters.tables import bind_tables
        from batchcalls.clock import use_clock
        from batchcalls.services.delivery import DeliveryConfig, DeliveryService
        from batchcalls.settings import StorageSettings, load_settings

        from tests.support.aws import create_template_resources, environment_for

        physical = create_template_resources()
        os.environ.update(environment_for("DispatcherFunction", physical))
        bind_tables(load_settings(StorageSettings))
        model = LatencyModel()
        clock = ModelledClock(START, model)
        use_clock(clock)
        queue = Queue(clock, SqsCallQueue(physical["CallQueue"]))
        provider = Provider(clock)
        parallel = mode == "parallel"
        service = DeliveryService(
            clock,
            DeliveryConfig(
                provider_wide_call_limit=provider_limit,
                call_timeout_seconds=3600,
                public_base_url="https://api.example.com",
                dispatch_workers=16 if parallel else 1,
                claims_per_transaction=32 if parallel else 1,
            ),
            queue,
            provider,
        )
        setup_began = time.perf_counter()
        due = set_up(calls, campaigns, caps)
        setup_wall = time.perf_counter() - setup_began

        # The tick, `tick_second` into the minute before the calls are due.
        began = time.perf_counter()
        with model, aws_requests.invocation("DispatcherFunction") as tick:
            clock.begin(START + timedelta(seconds=tick_second))
            report = service.tick(TICK_TIMEOUT_SECONDS * 1000)
        tick_wall = time.perf_counter() - began
        tick_modelled = model.invocation_seconds(tick)
        by_operation = model.report()["by_operation"]
        sent = queue.take()
        arrivals = {
            (m["campaign_id"], m["contact_id"]): sent_ms + delay * 1000
            for sent_ms, m, delay in sent
        }
        late = [(arrivals[key] - due_ms) / 1000 for key, due_ms in due.items() if key in arrivals]
        per_second = Counter(at // 1000 for at in arrivals.values())
        figures: dict[str, Any] = {
            "mode": mode,
            "claimed": report.claimed,
            "tick_modelled_seconds": tick_modelled,
            "tick_modelled_serial_seconds": model.serial_seconds,
            "tick_done_at_second": tick_second + tick_modelled,
            "tick_over_timeout": tick_modelled > TICK_TIMEOUT_SECONDS,
            "tick_wall_seconds": tick_wall,
            "tick_requests": {
                name.split(".", 1)[1]: entry["requests"] for name, entry in by_operation.items()
            },
            "setup_wall_seconds": setup_wall,
            "peak_arrivals_per_second": max(per_second.values(), default=0),
            **call_queue_requests(by_operation, per_second, len(arrivals)),
            **lateness(late, "arrival"),
        }
        if callers:
            began = time.perf_counter()
            sampled = {f"batch_bench{i:03d}" for i in range(callers)}
            with model:
                figures |= deliver(
                    service,
                    clock,
                    queue,
                    provider,
                    [s for s in sent if s[1]["campaign_id"] in sampled],
                    {k: v for k, v in due.items() if k[0] in sampled},
                    call_seconds,
                    caps,
                )
            figures["callers_wall_seconds"] = time.perf_counter() - began
        return figures


def call_queue_requests(
    by_operation: dict[str, Any], per_second: Counter[int], calls: int
) -> dict[str, Any]:
    """SQS requests per call on the call queue: the tick's SendMessageBatch requests (as
    made), and the caller's event source mapping's, modelled: the messages that become
    visible in the same second taken 10 a batch (its BatchSize), each batch one
    ReceiveMessage and one DeleteMessageBatch (the mapping's batching window is 0, so a
    batch never waits for the next second's messages)."""
    sends = by_operation.get("sqs.SendMessageBatch", {}).get("requests", 0)
    batches = sum(math.ceil(n / 10) for n in per_second.values())
    return {
        "sqs_sends": sends,
        "sqs_poller_batches": batches,
        "sqs_requests_per_call": (sends + 2 * batches) / max(1, calls),
    }


def campaign_id_of(index: int) -> str:
    return f"batch_bench{index:03d}"


def set_up(calls: int, campaigns: int, caps: dict[int, int]) -> dict[tuple[str, str], int]:
    """`campaigns` active campaigns whose `calls` calls fall due in the minute after
    START, each campaign's spread evenly over the minute (at most 10 a second, its
    rate), `caps[i]` (else 1,000) live calls allowed to campaign i; slots written as the
    planner writes them. Returns {(campaign, contact): due ms}."""
    from batchcalls.adapters.bookings import BookingLedger
    from batchcalls.adapters.campaign_store import CampaignStore
    from batchcalls.adapters.contact_store import ContactPlanWrites, ContactStore
    from batchcalls.adapters.delivery_store import DeliveryStore
    from batchcalls.adapters.slot_store import SlotStore, new_slot
    from batchcalls.clock import to_epoch_ms
    from batchcalls.domain.contacts import NewContact
    from batchcalls.ids import contact_id_for
    from batchcalls.models.campaign import CampaignSettings

    minute_ms = to_epoch_ms(START) + 60_000
    due: dict[tuple[str, str], int] = {}
    sizes = [calls // campaigns + (1 if i < calls % campaigns else 0) for i in range(campaigns)]
    for index, count in enumerate(sizes):
        campaign_id = campaign_id_of(index)
        settings = CampaignSettings.model_validate(
            {
                "agent_id": "agent_1",
                "phone_numbers": ["+12025550100"],
                "timezone": "UTC",
                "start_time": "00:00",
                "end_time": "23:59",
                "legal_hours_guard": False,
                "max_calls_per_second": 10,
                "max_concurrent_calls": caps.get(index, 1000),
            }
        )
        CampaignStore().create(TENANT, campaign_id, "active", settings, START)
        phones = [f"+1212{300 + index:03d}{i:04d}" for i in range(count)]
        ContactStore().add(
            TENANT, campaign_id, [NewContact(p, None, None, {}, ("UTC",)) for p in phones], 1, START
        )
        ids = [contact_id_for(campaign_id, p) for p in phones]
        contacts = DeliveryStore().contacts(((TENANT, campaign_id, c) for c in ids), 16)
        instants = [minute_ms + (i * 60 // count) * 1000 for i in range(count)]
        BookingLedger().book(TENANT, campaign_id, instants)
        SlotStore().put_many(
            new_slot(TENANT, campaign_id, c, 1, 1, at, 0, "+12025550100")
            for c, at in zip(ids, instants, strict=True)
        )
        written = ContactPlanWrites().schedule(
            [(contacts[c], at, "+12025550100") for c, at in zip(ids, instants, strict=True)],
            1,
            START,
        )
        assert all(written)
        due.update({(campaign_id, c): at for c, at in zip(ids, instants, strict=True)})
    return due


def deliver(
    service: Any,
    clock: ModelledClock,
    queue: Queue,
    provider: Provider,
    sent: list[tuple[int, dict[str, Any], int]],
    due: dict[tuple[str, str], int],
    call_seconds: int,
    caps: dict[int, int],
) -> dict[str, Any]:
    """Every message to the caller when its delay has passed, every placed call ended
    `call_seconds` later, in modelled time order, until nothing is left."""
    from batchcalls.clock import from_epoch_ms

    events: list[tuple[int, int, str, Any]] = []
    order = itertools.count()
    for sent_ms, message, delay in sent:
        heapq.heappush(events, (sent_ms + delay * 1000, next(order), "call", message))
    live: Counter[str] = Counter()
    peak_live: Counter[str] = Counter()
    placed_at: dict[tuple[str, str], int] = {}
    starts: Counter[tuple[str, int]] = Counter()
    while events:
        at_ms, _, kind, payload = heapq.heappop(events)
        clock.begin(from_epoch_ms(at_ms))
        before = len(provider.placed)
        if kind == "call":
            with aws_requests.invocation("CallerFunction"):
                service.handle_call(payload, 300_000)
        else:
            with aws_requests.invocation("ProviderEventsFunction"):
                service.handle_outcome(payload[0], "completed", call_seconds, None, False)
            live[payload[1]] -= 1
        for placed_ms, call_id, campaign_id in provider.placed[before:]:
            live[campaign_id] += 1
            peak_live[campaign_id] = max(peak_live[campaign_id], live[campaign_id])
            starts[(campaign_id, placed_ms // 1000)] += 1
            end = (call_id, campaign_id)
            heapq.heappush(events, (placed_ms + call_seconds * 1000, next(order), "outcome", end))
            if kind == "call":
                placed_at[(payload["campaign_id"], payload["contact_id"])] = placed_ms
        for sent_ms, message, delay in queue.take():
            heapq.heappush(events, (sent_ms + delay * 1000, next(order), "call", message))
    capped = {campaign_id_of(i) for i in caps}
    free = [
        (placed_at[key] - due_ms) / 1000
        for key, due_ms in due.items()
        if key in placed_at and key[0] not in capped
    ]
    campaigns = sorted({key[0] for key in due})
    return {
        "sampled_campaigns": len(campaigns),
        "sampled_calls": len(due),
        "placed": len(placed_at),
        "placed_twice": len(provider.placed) - len({c for _, c, _ in provider.placed}),
        **lateness(free, "placed"),
        "peak_starts_per_second_per_campaign": max(starts.values(), default=0),
        "live_against_caps": {
            campaign_id: {
                "peak_live": peak_live[campaign_id],
                "cap": caps.get(int(campaign_id.removeprefix("batch_bench")), 1000),
                "late_max": max(
                    (
                        (placed_at[key] - due_ms) / 1000
                        for key, due_ms in due.items()
                        if key[0] == campaign_id and key in placed_at
                    ),
                    default=0.0,
                ),
            }
            for campaign_id in campaigns
        },
    }


def measure(
    calls: int = 10_000,
    campaigns: int = 20,
    tick_second: float = 30.0,
    call_seconds: int = 20,
    callers: int = 2,
    capped: int = 150,
    provider_limit: int = 10_000,
    modes: tuple[str, ...] = ("parallel", "sequential"),
) -> dict[str, Any]:
    """Each of `modes` on its own fresh tables: the parallel dispatch, its first
    `callers` campaigns' calls delivered to their outcomes (the second one capped at
    `capped` live calls, which binds: about 8 calls a second of 20 s each would be 170
    live), and the old sequential dispatch's tick on the same calls. make bench runs the
    two modes in separate processes side by side and compares their ticks."""
    aws_requests.install()
    moto_hooks.install()  # moto's transactions are not safe across threads without it
    caps = {1: capped} if callers > 1 else {}
    figures: dict[str, Any] = {
        "calls": calls,
        "campaigns": campaigns,
        "tick_second": tick_second,
        "call_seconds": call_seconds,
    }
    for mode in modes:
        dialled = callers if mode == "parallel" else 0
        figures[mode] = scenario(
            mode, calls, campaigns, tick_second, call_seconds, caps, provider_limit, dialled
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--callers", type=int, default=2, help="campaigns delivered to the end")
    parser.add_argument("--no-sequential", action="store_true")
    args = parser.parse_args()
    modes = ("parallel",) if args.no_sequential else ("parallel", "sequential")
    figures = measure(args.calls, args.campaigns, callers=args.callers, modes=modes)
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()

"""Start the local stack, create the campaign over HTTP, run it to the end, report.

    python -m demo                      # 240 contacts over three working days
    python -m demo --contacts 600 --per-day 200 --out out/small.png

Everything goes through the HTTP API and the stack's /_local endpoints; the stack itself
runs in this process (`LocalStack.start`) with a simulated clock, so three working days
take minutes, not days.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from demo.client import ApiError, Client
from demo.contacts import contacts_csv, generate_contacts
from demo.progress import Progress

API_KEY = "demo-key"
TENANT = "tenant_demo"
TIMEZONE = "America/New_York"
CITY = "New York"
WINDOW = ("09:00", "17:00")
WORKING_DAYS = [1, 2, 3, 4, 5]
CALLER_IDS = ["+12122300100", "+12122300101"]
# Monday 30 November 2026, 08:00 in New York: an hour before the first window opens.
DEFAULT_START = "2026-11-30T13:00:00Z"
FINAL_STATUSES = {"completed", "cancelled", "failed"}
OPEN_CONTACT_STATUSES = ("pending", "scheduled", "queued", "in_progress")
# All contacts finished but the campaign still open this long: stop waiting for it.
STALL_SECONDS = 2 * 3600


@dataclass
class Options:
    contacts: int = 2400
    out: Path = Path("out/demo-calls-per-hour.png")
    per_day: int = 1000
    per_second: int = 1
    concurrent: int = 60
    max_attempts: int = 2
    no_answer_delay_minutes: float = 60
    busy_delay_minutes: float = 10
    call_seconds: float | None = None
    start: str = DEFAULT_START
    step_minutes: float = 5
    max_days: float = 7
    max_wall_minutes: float = 90
    quiet: bool = False


@dataclass
class DemoResult:
    options: Options
    settings: dict[str, Any]
    campaign_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    planned: dict[str, str | None] = field(default_factory=dict)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    campaign: dict[str, Any] = field(default_factory=dict)
    upload: dict[str, int] = field(default_factory=dict)
    analytics_status: int | None = None
    analytics: dict[str, Any] = field(default_factory=dict)
    stack_errors: list[str] = field(default_factory=list)
    stopped_because: str = ""
    problems: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    chart: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    started_wall: float = 0.0


def parse_args(argv: list[str] | None = None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Run a whole campaign on the local stack's simulated clock, then print "
        "a summary and save a chart of planned versus placed calls per hour.",
    )
    parser.add_argument("--contacts", type=int, default=defaults.contacts, help="%(default)s")
    parser.add_argument(
        "--out", type=Path, default=defaults.out, help="the chart's PNG path (%(default)s)"
    )
    parser.add_argument(
        "--per-day", type=int, default=defaults.per_day, help="max_calls_per_day (%(default)s)"
    )
    parser.add_argument(
        "--per-second",
        type=int,
        default=defaults.per_second,
        help="max_calls_per_second (%(default)s)",
    )
    parser.add_argument(
        "--concurrent",
        type=int,
        default=defaults.concurrent,
        help="max_concurrent_calls (%(default)s)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=defaults.max_attempts,
        help="retry_strategy.max_attempts, the first attempt included (%(default)s)",
    )
    parser.add_argument(
        "--no-answer-delay",
        type=float,
        default=defaults.no_answer_delay_minutes,
        metavar="MINUTES",
        help="retry delay after no_answer (%(default)s)",
    )
    parser.add_argument(
        "--busy-delay",
        type=float,
        default=defaults.busy_delay_minutes,
        metavar="MINUTES",
        help="retry delay after busy (%(default)s)",
    )
    parser.add_argument(
        "--call-seconds",
        type=float,
        default=None,
        help="length of a simulated call (default: SIM_PROVIDER_CALL_SECONDS or 60)",
    )
    parser.add_argument(
        "--start", default=defaults.start, help="simulated clock start, UTC (%(default)s)"
    )
    parser.add_argument(
        "--step-minutes",
        type=float,
        default=defaults.step_minutes,
        help="simulated minutes per clock advance (%(default)s)",
    )
    parser.add_argument(
        "--max-days",
        type=float,
        default=defaults.max_days,
        help="stop after this many simulated days whatever happens (%(default)s)",
    )
    parser.add_argument(
        "--max-wall",
        type=float,
        default=defaults.max_wall_minutes,
        metavar="MINUTES",
        help="stop after this much real time whatever happens, 0 for no limit (%(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.contacts < 1 or args.contacts > 100_000:
        parser.error("--contacts is 1..100000")
    if args.step_minutes <= 0 or args.max_days <= 0:
        parser.error("--step-minutes and --max-days must be positive")
    return Options(
        contacts=args.contacts,
        out=args.out,
        per_day=args.per_day,
        per_second=args.per_second,
        concurrent=args.concurrent,
        max_attempts=args.max_attempts,
        no_answer_delay_minutes=args.no_answer_delay,
        busy_delay_minutes=args.busy_delay,
        call_seconds=args.call_seconds,
        start=args.start,
        step_minutes=args.step_minutes,
        max_days=args.max_days,
        max_wall_minutes=args.max_wall,
        quiet=args.quiet,
    )


def campaign_start(clock_start: datetime) -> str:
    """The campaign starts when the first day's window opens, or now if that has passed:
    a naive local time (read in the campaign's timezone)."""
    local = clock_start.astimezone(ZoneInfo(TIMEZONE))
    hour, minute = (int(part) for part in WINDOW[0].split(":"))
    opens = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    later = (local + timedelta(minutes=1)).replace(second=0, microsecond=0)
    return max(opens, later if local > opens else opens).replace(tzinfo=None).isoformat()


def campaign_settings(options: Options, base_url: str, scheduled_at: str) -> dict[str, Any]:
    sink = f"{base_url}/_local/webhook-sink/demo"
    return {
        "name": "Demo: winter renewals",
        "agent_id": "agent_demo",
        "phone_numbers": CALLER_IDS,
        "phone_rotation": "round_robin",
        "schedule_type": "scheduled",
        "scheduled_at": scheduled_at,
        "timezone": TIMEZONE,
        "start_time": WINDOW[0],
        "end_time": WINDOW[1],
        "working_days": WORKING_DAYS,
        "max_calls_per_day": options.per_day,
        "max_calls_per_second": options.per_second,
        "max_concurrent_calls": options.concurrent,
        "retry_strategy": {
            "max_attempts": options.max_attempts,
            "no_answer_delay": int(options.no_answer_delay_minutes * 60_000),
            "busy_delay": int(options.busy_delay_minutes * 60_000),
        },
        "webhooks": {
            "on_call_complete": f"{sink}/call-complete",
            "on_batch_complete": f"{sink}/batch-complete",
            "on_batch_failed": f"{sink}/batch-failed",
        },
        "tags": ["demo"],
    }


def parse_instant(text: str) -> datetime:
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _quiet_logs() -> int | None:
    """The functions log every tick at INFO (the template says so); the demo shows its own
    progress instead and keeps warnings and errors. Returns the functions' previous level."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        from batchcalls.observability import logger
    except ImportError:  # the layer is not on sys.path until the stack starts
        return None
    previous = logger.log_level
    logger.setLevel("WARNING")
    return previous


def _restore_log_level(level: int | None) -> None:
    if level is not None:
        from batchcalls.observability import logger

        logger.setLevel(level)


def run_demo(options: Options, stream: TextIO | None = None) -> DemoResult:
    """Run the whole demo; the result holds the raw data, the summary and the chart path."""
    from local_stack import LocalStack
    from local_stack.provider import ProviderSettings

    out = stream or sys.stdout
    began = time.monotonic()
    _quiet_logs()
    start = parse_instant(options.start)
    provider = ProviderSettings.from_env(os.environ)
    if options.call_seconds is not None:
        provider.call_seconds = options.call_seconds
    contacts = generate_contacts(options.contacts)

    stack = LocalStack.start(
        clock="simulated",
        clock_start=start,
        api_keys={API_KEY: TENANT},
        provider=provider,
    )
    previous_level = _quiet_logs()
    result = DemoResult(options, campaign_settings(options, stack.base_url, campaign_start(start)))
    result.started_wall = began
    result.timings["start stack"] = time.monotonic() - began
    try:
        print(f"Local stack on {stack.base_url}, simulated clock at {options.start}", file=out)
        _drive(stack, Client(stack.base_url, API_KEY), result, contacts, out)
    finally:
        stack.stop()
        _restore_log_level(previous_level)
    result.timings["total"] = time.monotonic() - began

    from demo.chart import save_chart
    from demo.report import format_summary, summarise

    result.summary = summarise(result)
    try:
        result.chart = save_chart(result, options.out)
    except Exception as failure:  # a chart problem must not hide the summary
        result.problems.append(f"the chart could not be drawn: {failure!r}")
        result.summary = summarise(result)
    summary_path = options.out.with_suffix(".json")
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(result.summary, indent=2, default=str) + "\n")
    print(format_summary(result), file=out)
    if result.chart is not None:
        print(f"\nChart: {result.chart}", file=out)
    print(f"Summary as JSON: {summary_path}", file=out)
    return result


def _drive(
    stack: Any, api: Client, result: DemoResult, contacts: list[dict[str, Any]], out: TextIO
) -> None:
    """Set up, run the clock, collect: a failure in one phase is reported in the summary,
    and whatever can still be read afterwards is read."""
    try:
        campaign = _set_up(api, result, contacts, out)
        _run_clock(api, result, campaign)
    except Exception as failure:
        result.stopped_because = result.stopped_because or "an error"
        result.problems.append(f"the demo stopped early: {failure}")
    finally:
        if result.campaign_id is not None:
            try:
                _collect(api, result)
            except Exception as failure:
                result.problems.append(f"the results could not all be read: {failure}")
        result.stack_errors = list(stack.loop.errors)


def _set_up(
    api: Client, result: DemoResult, contacts: list[dict[str, Any]], out: TextIO
) -> dict[str, Any]:
    """A draft campaign, its contacts as a contact file, then schedule; the plan as it
    starts."""
    phase = time.monotonic()
    created = api.json("POST", "/batch-calls", {"status": "draft", **result.settings})
    campaign_id = result.campaign_id = created["id"]
    print(
        f"Campaign {campaign_id}: uploading {len(contacts)} contacts as a contact file",
        file=out,
        flush=True,
    )
    given = api.json(
        "POST", f"/batch-calls/{campaign_id}/contact-files", {"filename": "contacts.csv"}
    )
    put_file(given["upload_url"], contacts_csv(contacts))
    imported = _wait_for_import(api, campaign_id, given["import_id"])
    result.upload = {k: int(imported[k]) for k in ("accepted", "duplicates", "invalid")}
    if imported["status"] != "completed":
        result.problems.append(f"the contact file was not imported: {imported['error']}")
    result.timings["upload contacts"] = time.monotonic() - phase

    phase = time.monotonic()
    print("Scheduling: planning every contact's first call", file=out, flush=True)
    api.json("POST", f"/batch-calls/{campaign_id}/schedule")
    campaign = _wait_for_plan(api, campaign_id, result)
    result.timings["plan"] = time.monotonic() - phase

    # What was planned at the start: each contact's first scheduled_at.
    phase = time.monotonic()
    planned = api.items(f"/batch-calls/{campaign_id}/contacts")
    result.planned = {c["id"]: c.get("scheduled_at") for c in planned}
    result.timings["read plan"] = time.monotonic() - phase
    return campaign


def _run_clock(api: Client, result: DemoResult, campaign: dict[str, Any]) -> None:
    """Advance the simulated clock until the campaign ends or a limit is reached."""
    options = result.options
    campaign_id = result.campaign_id
    phase = time.monotonic()
    now = result.started_at = result.ended_at = parse_instant(
        api.json("GET", "/_local/clock")["now"]
    )
    limit = now + timedelta(days=options.max_days)
    wall_limit = (
        result.started_wall + options.max_wall_minutes * 60 if options.max_wall_minutes else None
    )
    step = options.step_minutes * 60
    zone = ZoneInfo(TIMEZONE)
    progress = Progress(
        total=len(result.planned),
        zone=zone,
        city=CITY,
        first_day=now.astimezone(zone).date(),
        stream=sys.stderr,
        enabled=not options.quiet,
    )
    idle_since: datetime | None = None
    try:
        while True:
            result.campaign = campaign
            stats = campaign.get("stats", {})
            progress.show(_done(stats), now, campaign.get("status", "?"))
            if campaign.get("status") in FINAL_STATUSES:
                result.stopped_because = f"the campaign is {campaign['status']}"
                return
            if now >= limit:
                result.stopped_because = f"the simulated time limit ({options.max_days:g} days)"
                return
            if wall_limit is not None and time.monotonic() >= wall_limit:
                result.stopped_because = (
                    f"the wall-time limit ({options.max_wall_minutes:g} minutes, --max-wall)"
                )
                return
            open_contacts = sum(int(stats.get(s, 0)) for s in OPEN_CONTACT_STATUSES)
            if open_contacts == 0 and (campaign.get("planning") or {}).get("done", True):
                idle_since = idle_since or now
                if (now - idle_since).total_seconds() >= STALL_SECONDS:
                    result.stopped_because = (
                        f"no contact left to call for {STALL_SECONDS // 3600} simulated "
                        f"hours, but the campaign is still {campaign.get('status')}"
                    )
                    return
            else:
                idle_since = None
            seconds = min(step, (limit - now).total_seconds())
            clock = api.json("POST", "/_local/clock/advance", {"seconds": seconds})
            now = result.ended_at = parse_instant(clock["now"])
            campaign = api.json("GET", f"/batch-calls/{campaign_id}")
    finally:
        progress.finish()
        result.timings["run the clock"] = time.monotonic() - phase


def _collect(api: Client, result: DemoResult) -> None:
    """What happened: the campaign, its analytics, its contacts, the provider's log (to
    check the analytics against), the webhooks."""
    phase = time.monotonic()
    campaign_id = result.campaign_id
    result.campaign = api.json("GET", f"/batch-calls/{campaign_id}")
    result.contacts = api.items(f"/batch-calls/{campaign_id}/contacts")
    result.calls = [
        c
        for c in api.json("GET", "/_local/provider/calls")["items"]
        if c.get("batch_id") in (campaign_id, None)
    ]
    result.webhooks = api.json("GET", "/_local/webhooks")["items"]
    result.analytics_status, analytics = api.call("GET", f"/batch-calls/{campaign_id}/analytics")
    result.analytics = analytics if isinstance(analytics, dict) else {}
    result.timings["read results"] = time.monotonic() - phase


def put_file(url: str, body: bytes) -> None:
    """PUT a file to a presigned URL, as `curl --upload-file` does."""
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "text/csv"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        if answer.status != 200:
            raise RuntimeError(f"the contact file upload answered {answer.status}")


def _wait_for_import(api: Client, campaign_id: str, import_id: str) -> dict[str, Any]:
    """The import once it ended (the file goes bucket -> queue -> importer on the clock)."""
    deadline = time.monotonic() + 600
    while True:
        found = api.json("GET", f"/batch-calls/{campaign_id}/imports/{import_id}")
        if found["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return found
        api.json("POST", "/_local/clock/advance", {"seconds": 0})


def _wait_for_plan(api: Client, campaign_id: str, result: DemoResult) -> dict[str, Any]:
    """Planning runs at once on the local stack; background chunks run on a zero advance."""
    deadline = time.monotonic() + max(120, result.options.contacts / 10)
    while True:
        campaign = api.json("GET", f"/batch-calls/{campaign_id}")
        planning = campaign.get("planning") or {}
        if planning.get("done") or (
            planning and planning.get("planned", 0) >= planning.get("total", math.inf)
        ):
            return campaign
        if time.monotonic() > deadline:
            result.problems.append(
                f"planning had not finished after {deadline:.0f}s of waiting: {planning}"
            )
            return campaign
        api.json("POST", "/_local/clock/advance", {"seconds": 0})
        time.sleep(0.2)


def _done(stats: dict[str, Any]) -> int:
    total = int(stats.get("total", 0))
    return total - sum(int(stats.get(s, 0)) for s in OPEN_CONTACT_STATUSES)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        result = run_demo(options)
    except ApiError as failure:
        print(f"demo: the API refused a request: {failure}", file=sys.stderr)
        return 1
    return 0 if result.summary else 1

"""The demo's summary: what was planned, what was placed, what came back, what is missing.

Its figures come from the campaign's analytics (GET /batch-calls/{id}/analytics); the
simulated provider's log, the contacts and the webhooks received check them and the
limits (nothing early, nothing outside the window, no cap broken)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from demo.run import DemoResult

OUTCOMES = ("completed", "no_answer", "busy", "failed", "in_progress")
CONTACT_STATUSES = (
    "completed",
    "failed",
    "skipped",
    "cancelled",
    "pending",
    "scheduled",
    "queued",
    "in_progress",
)
OPEN = ("pending", "scheduled", "queued", "in_progress")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def ms(text: str) -> int:
    return round(instant(text).timestamp() * 1000)


def attempts_of(calls: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Each provider call with its attempt number (1 for a contact's first call)."""
    seen: Counter[str] = Counter()
    numbered = []
    for call in sorted(calls, key=lambda c: c["placed_at"]):
        seen[call.get("contact_id") or call["to"]] += 1
        numbered.append((call, seen[call.get("contact_id") or call["to"]]))
    return numbered


def peak_concurrent(calls: list[dict[str, Any]], until: datetime | None) -> int:
    end_default = ms(until.isoformat()) if until else None
    edges = []
    for call in calls:
        edges.append((ms(call["placed_at"]), 1))
        ended = ms(call["ended_at"]) if call.get("ended_at") else end_default
        if ended is not None:
            edges.append((ended, -1))
    live = peak = 0
    for _, delta in sorted(edges):  # an end sorts before a start at the same instant
        live += delta
        peak = max(peak, live)
    return peak


def calls_from_analytics(analytics: dict[str, Any]) -> dict[str, Any]:
    """Calls placed (per day), ended by outcome, first attempts (contacts with one ended)
    and retries, as the campaign's analytics count them."""
    attempts = analytics.get("attempts") or {}
    by_outcome = attempts.get("by_outcome") or {}
    ended = int(attempts.get("total") or 0)
    first = sum(int(n) for n in (attempts.get("per_contact") or {}).values())
    return {
        "placed": sum(int(d["placed"]) for d in analytics.get("per_day", [])),
        "ended": ended,
        "first_attempts": first,
        "retries": ended - first,
        "by_outcome": {o: int(by_outcome.get(o, 0)) for o in (*OUTCOMES[:4], "unknown")},
        "per_contact": attempts.get("per_contact") or {},
    }


def summarise(result: DemoResult) -> dict[str, Any]:
    settings = result.settings
    zone = ZoneInfo(settings["timezone"])
    window = (time.fromisoformat(settings["start_time"]), time.fromisoformat(settings["end_time"]))

    def local_day(text: str) -> str:
        return f"{instant(text).astimezone(zone):%Y-%m-%d %a}"

    # Contacts: every one must be accounted for, by its final status.
    statuses = Counter(c.get("status") for c in result.contacts)
    contacts = {s: statuses.get(s, 0) for s in CONTACT_STATUSES}
    contacts["other"] = sum(n for s, n in statuses.items() if s not in CONTACT_STATUSES)
    accounted = sum(contacts.values())

    # Calls: the simulated provider's log of what it was asked to dial.
    numbered = attempts_of(result.calls)
    outcomes = Counter(c.get("status") for c in result.calls)
    retries = sum(1 for _, n in numbered if n > 1)
    by_caller = Counter(c.get("from") for c in result.calls)
    callbacks_failed = sum(
        1
        for c in result.calls
        if c.get("ended_at")
        and not (isinstance(c.get("callback_status"), int) and 200 <= c["callback_status"] < 300)
    )

    log_days: dict[str, dict[str, int]] = defaultdict(
        lambda: {"planned": 0, "placed": 0, "retries": 0, **{o: 0 for o in OUTCOMES}}
    )
    for scheduled_at in result.planned.values():
        if scheduled_at:
            log_days[local_day(scheduled_at)]["planned"] += 1
    per_second: Counter[int] = Counter()
    outside_window = 0
    for call, attempt in numbered:
        day = log_days[local_day(call["placed_at"])]
        day["placed"] += 1
        day["retries"] += attempt > 1
        outcome = call.get("status") or "in_progress"
        day[outcome] = day.get(outcome, 0) + 1
        per_second[ms(call["placed_at"]) // 1000] += 1
        local = instant(call["placed_at"]).astimezone(zone)
        if local.isoweekday() not in settings["working_days"] or not (
            window[0] <= local.time() < window[1]
        ):
            outside_window += 1

    # First attempts against the plan: never early, and how late.
    first_calls = {c.get("contact_id"): c for c, n in numbered if n == 1}
    early = late_over_1s = 0
    delays = []
    for contact_id, planned_at in result.planned.items():
        first_call = first_calls.get(contact_id)
        if first_call is None or not planned_at:
            continue
        delay = ms(first_call["placed_at"]) - ms(planned_at)
        delays.append(delay)
        early += delay < 0
        late_over_1s += delay > 1000

    # Webhooks received by the local sink.
    hooks = [h for h in result.webhooks if "/_local/webhook-sink/demo/" in h.get("url", "")]
    bodies: list[dict[str, Any]] = [
        h["body"] if isinstance(h.get("body"), dict) else {} for h in hooks
    ]
    by_event = Counter(b.get("event", "?") for b in bodies)
    call_hooks = {b.get("eventId") or id(b) for b in bodies if b.get("event") == "call.completed"}
    batch_hooks = [b for b in bodies if b.get("event") == "batch.completed"]
    ended_calls = sum(1 for c in result.calls if c.get("ended_at"))

    campaign = result.campaign
    analytics = result.analytics
    summary: dict[str, Any] = {
        "campaign": {
            "id": result.campaign_id,
            "status": campaign.get("status"),
            "stats": campaign.get("stats"),
            "stopped_because": result.stopped_because,
            "simulated_from": result.started_at.isoformat() if result.started_at else None,
            "simulated_to": result.ended_at.isoformat() if result.ended_at else None,
        },
        "settings": {
            k: settings[k]
            for k in (
                "timezone",
                "start_time",
                "end_time",
                "working_days",
                "max_calls_per_day",
                "max_calls_per_second",
                "max_concurrent_calls",
                "retry_strategy",
                "phone_numbers",
            )
        },
        "contacts": {
            "generated": result.options.contacts,
            "upload": result.upload,
            "total": len(result.contacts),
            "accounted": accounted,
            "by_status": contacts,
            "planned": sum(1 for v in result.planned.values() if v),
        },
        "calls": calls_from_analytics(analytics),
        "by_day": {
            f"{date.fromisoformat(d['date']):%Y-%m-%d %a}": {
                k: d[k] for k in ("planned", "placed", "completed")
            }
            for d in analytics.get("per_day", [])
        },
        "analytics": {
            k: analytics.get(k)
            for k in ("contacts", "answer_rate", "duration_seconds", "finish_estimate", "webhooks")
        },
        "provider_log": {
            "placed": len(result.calls),
            "first_attempts": len(result.calls) - retries,
            "retries": retries,
            "by_outcome": {o: outcomes.get(o, 0) for o in OUTCOMES},
            "by_caller_id": dict(by_caller),
            "callbacks_not_accepted": callbacks_failed,
            "by_day": {day: log_days[day] for day in sorted(log_days)},
        },
        "limits": {
            "peak_concurrent": peak_concurrent(result.calls, result.ended_at),
            "peak_per_second": max(per_second.values(), default=0),
            "peak_per_day": max((d["placed"] for d in log_days.values()), default=0),
            "outside_window": outside_window,
            "first_attempts_early": early,
            "first_attempts_over_1s_late": late_over_1s,
            "first_attempts_median_delay_s": (
                sorted(delays)[len(delays) // 2] / 1000 if delays else None
            ),
        },
        "webhooks": {
            "received": len(hooks),
            "by_event": dict(by_event),
            "call_completed_distinct": len(call_hooks),
            "calls_ended": ended_calls,
            "batch_completed": batch_hooks[0].get("statistics") if batch_hooks else None,
        },
        "wall_seconds": {k: round(v, 1) for k, v in result.timings.items()},
        "chart": str(result.chart) if result.chart else None,
    }
    summary["not_there_yet"] = not_there_yet(result, summary)
    return summary


def not_there_yet(result: DemoResult, summary: dict[str, Any]) -> list[str]:
    """What did not work end to end, in words a reader can act on."""
    problems = list(result.problems)
    campaign, contacts, calls = summary["campaign"], summary["contacts"], summary["calls"]
    hooks, limits = summary["webhooks"], summary["limits"]
    settings = result.settings
    if campaign["status"] != "completed":
        open_left = {s: contacts["by_status"][s] for s in OPEN if contacts["by_status"][s]}
        problems.append(
            f"the campaign ended {campaign['status']!r}, not 'completed' (stopped: "
            f"{campaign['stopped_because']}); contacts still open: {open_left or 'none'}"
        )
    if contacts["total"] != result.options.contacts:
        problems.append(
            f"{result.options.contacts} contacts were sent but the API lists {contacts['total']}"
        )
    if contacts["accounted"] != contacts["total"]:
        problems.append("some contacts have a status the demo does not know")
    if contacts["planned"] < contacts["total"] - contacts["by_status"]["skipped"]:
        problems.append(
            f"only {contacts['planned']} of {contacts['total']} contacts had a scheduled_at "
            "once planning finished"
        )
    log = summary["provider_log"]
    if calls["placed"] == 0:
        problems.append("no call was placed: delivery did not start")
    if log["by_outcome"]["in_progress"]:
        problems.append(f"{log['by_outcome']['in_progress']} calls never ended")
    if log["callbacks_not_accepted"]:
        problems.append(
            f"{log['callbacks_not_accepted']} provider outcome callbacks were not accepted"
        )
    if calls["placed"] != log["placed"]:
        problems.append(
            f"the analytics count {calls['placed']} calls placed, the provider {log['placed']}"
        )
    ended_in_log = {o: n for o, n in log["by_outcome"].items() if o != "in_progress"}
    counted = {o: n for o, n in calls["by_outcome"].items() if o != "unknown"}
    if counted != ended_in_log:
        problems.append(
            f"the analytics count outcomes {counted}, the provider's log {ended_in_log}"
        )
    batch = hooks["batch_completed"]
    counted_contacts = summary["analytics"]["contacts"] or {}
    expected = {
        "total": counted_contacts.get("total"),
        "succeeded": counted_contacts.get("completed"),
        **{k: counted_contacts.get(k) for k in ("failed", "skipped", "cancelled")},
    }
    if batch is not None and batch != expected:
        problems.append(f"batch.completed says {batch}, the analytics {expected}")
    if (
        settings["webhooks"].get("on_call_complete")
        and hooks["call_completed_distinct"] < (hooks["calls_ended"])
    ):
        problems.append(
            f"on_call_complete received {hooks['call_completed_distinct']} call.completed "
            f"webhooks for {hooks['calls_ended']} ended calls"
        )
    if campaign["status"] == "completed" and hooks["batch_completed"] is None:
        problems.append("the campaign completed but no batch.completed webhook arrived")
    if limits["peak_concurrent"] > settings["max_concurrent_calls"]:
        problems.append(
            f"{limits['peak_concurrent']} calls were live at once "
            f"(max_concurrent_calls {settings['max_concurrent_calls']})"
        )
    if limits["peak_per_second"] > settings["max_calls_per_second"]:
        problems.append(
            f"{limits['peak_per_second']} calls were placed in one second "
            f"(max_calls_per_second {settings['max_calls_per_second']})"
        )
    if limits["peak_per_day"] > settings["max_calls_per_day"]:
        problems.append(
            f"{limits['peak_per_day']} calls were placed on one day "
            f"(max_calls_per_day {settings['max_calls_per_day']})"
        )
    if limits["outside_window"]:
        problems.append(f"{limits['outside_window']} calls were placed outside the window")
    if limits["first_attempts_early"]:
        problems.append(
            f"{limits['first_attempts_early']} first calls were placed before their scheduled_at"
        )
    if result.analytics_status != 200:
        problems.append(
            f"GET /batch-calls/{{id}}/analytics answered {result.analytics_status}: the "
            "figures here are empty"
        )
    if result.stack_errors:
        problems.append(
            f"{len(result.stack_errors)} tasks of the local stack failed, e.g. "
            f"{result.stack_errors[0][:200]}"
        )
    return problems


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def format_summary(result: DemoResult) -> str:
    s = result.summary
    campaign, contacts, calls = s["campaign"], s["contacts"], s["calls"]
    settings, limits, hooks = s["settings"], s["limits"], s["webhooks"]
    figures = s["analytics"]
    retry = settings["retry_strategy"]
    zone = ZoneInfo(settings["timezone"])

    def local(text: str | None) -> str:
        return f"{datetime.fromisoformat(text).astimezone(zone):%a %d %b %H:%M}" if text else "?"

    lines = [
        "",
        "=" * 72,
        f"Campaign {campaign['id']}: {str(campaign['status']).upper()}",
        f"  simulated {local(campaign['simulated_from'])} -> {local(campaign['simulated_to'])} "
        f"{settings['timezone']}; stopped because {campaign['stopped_because']}",
        f"  window {settings['start_time']}-{settings['end_time']} Mon-Fri, "
        f"{settings['max_calls_per_day']}/day, {settings['max_calls_per_second']}/s, "
        f"{settings['max_concurrent_calls']} at once; {retry['max_attempts']} attempts, "
        f"retry after {retry['no_answer_delay'] / 60000:g} min (no answer) / "
        f"{retry['busy_delay'] / 60000:g} min (busy)",
        "",
        f"Contacts: {contacts['total']} (uploaded {contacts['upload'].get('accepted', 0)} "
        f"accepted, {contacts['upload'].get('duplicates', 0)} duplicates, "
        f"{contacts['upload'].get('invalid', 0)} invalid); "
        f"{contacts['accounted']} accounted for",
        "  "
        + ", ".join(f"{k} {v}" for k, v in contacts["by_status"].items() if v or k in OPEN[:2]),
        "",
        f"Calls placed: {calls['placed']} ({calls['first_attempts']} first attempts, "
        f"{calls['retries']} retries; {calls['ended']} ended)",
        "  by outcome: " + ", ".join(f"{k} {v}" for k, v in calls["by_outcome"].items()),
        "  attempts per contact: "
        + ", ".join(f"{k}: {v}" for k, v in calls["per_contact"].items()),
        f"  answer rate {figures['answer_rate']}; durations (s) {figures['duration_seconds']}; "
        f"finish estimate {figures['finish_estimate']}",
        f"  webhooks {figures['webhooks']}",
        "  by caller ID (provider's log): "
        + ", ".join(f"{k} {v}" for k, v in s["provider_log"]["by_caller_id"].items()),
        "",
        "By local day (analytics):",
    ]
    rows = [["day", "planned", "placed", "completed"]]
    for day, counts in s["by_day"].items():
        rows.append([day, *(str(counts[k]) for k in rows[0][1:])])
    lines += _table(rows)
    lines += [
        "",
        f"Limits: peak {limits['peak_concurrent']} live calls (max "
        f"{settings['max_concurrent_calls']}), peak {limits['peak_per_second']}/s (max "
        f"{settings['max_calls_per_second']}), peak {limits['peak_per_day']}/day (max "
        f"{settings['max_calls_per_day']}), {limits['outside_window']} outside the window",
        f"  first attempts: {limits['first_attempts_early']} early, "
        f"{limits['first_attempts_over_1s_late']} more than 1 s after their planned time "
        f"(waiting for a free place), median delay {limits['first_attempts_median_delay_s']} s",
        "",
        f"Webhooks received: {hooks['received']} "
        f"({', '.join(f'{k} {v}' for k, v in hooks['by_event'].items()) or 'none'}); "
        f"{hooks['calls_ended']} calls ended",
        f"  batch.completed statistics: {hooks['batch_completed']}",
        "",
        "Wall time: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in s["wall_seconds"].items() if k != "total")
        + f"; total {s['wall_seconds'].get('total', 0):.1f}s",
    ]
    if s["not_there_yet"]:
        lines += ["", "NOT THERE YET (did not work end to end):"]
        lines += [f"  - {p}" for p in s["not_there_yet"]]
    else:
        lines += ["", "Everything worked end to end."]
    lines.append("=" * 72)
    return "\n".join(lines)

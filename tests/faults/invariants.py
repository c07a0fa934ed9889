"""The promise, checked from the provider's log and the tables after a run:

- at most one dial per contact and attempt (the provider's log, repeated call ids
  answered without dialling again by the simulated provider, as a real one dedupes);
- no dial outside the contact's allowed time at the instant the provider received it;
- no cap exceeded at any instant: live calls per campaign and provider-wide, calls per
  second and calls per campaign day (every attempt counted);
- every contact final, or scheduled for a time still ahead (none lost);
- the campaign's counters equal its contacts' statuses, and no place is held by a
  contact not in progress (leases, live counts);
- one `call.completed` (by eventId) per attempt made, one `batch.completed` once the
  campaign completed, none for anything that did not happen;
- the campaign's analytics count what happened, each attempt once: outcomes as the
  `call.completed` events say, contacts by their latest ended attempt, calls placed
  (every attempt ended or in progress), contacts by status.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from batchcalls.adapters.campaign_store import CampaignStore, settings_of
from batchcalls.adapters.leases import LeaseStore, campaign_sk
from batchcalls.clock import to_epoch_ms
from batchcalls.domain.planning import campaign_day, is_allowed

from tests.faults.world import FINAL, PROVIDER_WIDE_CALL_LIMIT, TENANT, World, ms


@dataclass
class Verdict:
    dials: int = 0
    duplicate_dials: list[str] = field(default_factory=list)
    outside_window: list[str] = field(default_factory=list)
    caps_exceeded: list[str] = field(default_factory=list)
    lost_contacts: list[str] = field(default_factory=list)
    ledgers: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [
            *self.duplicate_dials,
            *self.outside_window,
            *self.caps_exceeded,
            *self.lost_contacts,
            *self.ledgers,
            *self.events,
        ]

    def add(self, other: Verdict) -> None:
        for name, value in other.__dict__.items():
            if isinstance(value, list):
                getattr(self, name).extend(value)
            else:
                setattr(self, name, getattr(self, name) + value)


def peak(intervals: list[tuple[int, int]]) -> int:
    """Most intervals open at one instant (one ending at t frees its place for one at t)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    live = top = 0
    for _, delta in edges:
        live += delta
        top = max(top, live)
    return top


def _interval(call: dict[str, Any], now_ms: int) -> tuple[int, int]:
    return ms(call["placed_at"]), ms(call["ended_at"]) if call["ended_at"] else now_ms


def check(world: World, campaign_id: str) -> Verdict:
    verdict = Verdict()
    now_ms = to_epoch_ms(world.now())
    record = CampaignStore().get(TENANT, campaign_id)
    settings = settings_of(record)
    view = world.campaign(campaign_id)
    contacts = {c["id"]: c for c in world.contacts(campaign_id)}
    calls = world.calls(campaign_id)
    verdict.dials = len(calls)

    per_attempt = Counter((c["contact_id"], c["attempt"]) for c in calls)
    verdict.duplicate_dials += [
        f"{campaign_id}: {contact} attempt {attempt} dialled {n} times"
        for (contact, attempt), n in per_attempt.items()
        if n > 1
    ]
    for call in calls:
        zones = contacts[call["contact_id"]]["timezones"]
        if not is_allowed(settings, zones, ms(call["placed_at"])):
            verdict.outside_window.append(
                f"{campaign_id}: {call['call_id']} at {call['placed_at']}"
            )

    concurrent = peak([_interval(c, now_ms) for c in calls])
    if concurrent > settings.max_concurrent_calls:
        verdict.caps_exceeded.append(f"{campaign_id}: {concurrent} live calls at once")
    per_second = Counter(ms(c["placed_at"]) // 1000 for c in calls)
    if per_second and max(per_second.values()) > settings.max_calls_per_second:
        verdict.caps_exceeded.append(
            f"{campaign_id}: {max(per_second.values())} calls in one second"
        )
    if settings.max_calls_per_day is not None:
        per_day = Counter(campaign_day(settings, ms(c["placed_at"])) for c in calls)
        for day, count in per_day.items():
            if count > settings.max_calls_per_day:
                verdict.caps_exceeded.append(f"{campaign_id}: {count} calls on {day}")

    for contact in contacts.values():
        if contact["status"] in FINAL or (view["status"] == "draft" and not calls):
            continue  # a draft (a create that failed before scheduling) calls nobody
        ahead = contact["status"] == "scheduled" and ms(contact["scheduled_at"]) > now_ms
        if not (ahead and view["status"] in ("scheduled", "active", "paused")):
            verdict.lost_contacts.append(
                f"{campaign_id}: {contact['id']} {contact['status']} at {contact['scheduled_at']}"
            )

    statuses = Counter(c["status"] for c in contacts.values())
    stats = {k: v for k, v in view["stats"].items() if k != "total" and v}
    if stats != dict(statuses):
        verdict.ledgers.append(f"{campaign_id}: stats {stats} but contacts {dict(statuses)}")
    leases = LeaseStore()
    held = [lease for lease in leases.leases() if lease.campaign_id == campaign_id]
    live = leases.live_counts().get(campaign_sk(TENANT, campaign_id), 0)
    if len(held) != statuses["in_progress"] or live != statuses["in_progress"]:
        verdict.ledgers.append(
            f"{campaign_id}: {len(held)} leases, live count {live}, "
            f"{statuses['in_progress']} contacts in progress"
        )

    events = world.bus_events(campaign_id)
    completed = {e["eventId"]: e for e in events if e.get("event") == "call.completed"}
    attempts = sum(int(c["attempts"]) for c in contacts.values())
    in_progress = statuses["in_progress"]
    if len(completed) != attempts - in_progress:
        verdict.events.append(
            f"{campaign_id}: {len(completed)} call.completed for {attempts - in_progress} "
            "ended attempts"
        )
    by_attempt = Counter((e["contactId"], e["attempt"]) for e in completed.values())
    verdict.events += [
        f"{campaign_id}: {n} call.completed for {key}" for key, n in by_attempt.items() if n > 1
    ]
    batch = {e["eventId"] for e in events if e.get("event") == "batch.completed"}
    expected = 1 if view["status"] == "completed" else 0
    if len(batch) != expected:
        verdict.events.append(
            f"{campaign_id}: {len(batch)} batch.completed, status {view['status']}"
        )
    figures = world.request("GET", f"/batch-calls/{campaign_id}/analytics").json()
    verdict.ledgers += analytics_problems(
        campaign_id, figures, list(completed.values()), list(contacts.values())
    )
    return verdict


def analytics_problems(
    campaign_id: str,
    figures: dict[str, Any],
    call_events: list[dict[str, Any]],
    contacts: list[dict[str, Any]],
) -> list[str]:
    """Where the analytics' counters differ from the events and the contacts."""
    problems = []
    outcomes = dict(Counter(e["status"].lower() for e in call_events))
    counted = {k: v for k, v in figures["attempts"]["by_outcome"].items() if v}
    if counted != outcomes or figures["attempts"]["total"] != len(call_events):
        problems.append(f"{campaign_id}: analytics count outcomes {counted}, events {outcomes}")
    statuses = Counter(c["status"] for c in contacts)
    latest = Counter(
        int(c["attempts"]) - (c["status"] == "in_progress")
        for c in contacts
        if int(c["attempts"]) - (c["status"] == "in_progress") > 0
    )
    per_contact = {int(k): v for k, v in figures["attempts"]["per_contact"].items() if v}
    if per_contact != dict(latest):
        problems.append(f"{campaign_id}: analytics per contact {per_contact}, contacts {latest}")
    placed = sum(day["placed"] for day in figures["per_day"])
    if placed != len(call_events) + statuses["in_progress"]:
        problems.append(
            f"{campaign_id}: analytics count {placed} calls placed, for {len(call_events)} "
            f"ended and {statuses['in_progress']} in progress"
        )
    by_status = {k: v for k, v in figures["contacts"].items() if k != "total" and v}
    if by_status != dict(statuses):
        problems.append(f"{campaign_id}: analytics contacts {by_status}, contacts {statuses}")
    return problems


def provider_wide(world: World) -> list[str]:
    """The provider-wide limit, over every call the stack's provider received."""
    now_ms = to_epoch_ms(world.now())
    calls = world.stack.provider.calls()
    by_batch: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for call in calls:
        by_batch[str(call["batch_id"])].append(_interval(call, now_ms))
    everyone = [interval for intervals in by_batch.values() for interval in intervals]
    top = peak(everyone)
    return [f"{top} live calls provider-wide"] if top > PROVIDER_WIDE_CALL_LIMIT else []

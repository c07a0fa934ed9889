"""Planning use case: a campaign's contacts become slots, one idempotent chunk at a time.

A plan request (version v) starts a chain of chunks carried by the planning queue. Chunk
k reads the next `chunk_size` re-plannable contacts in the order they were added, plans
them with the planner state left by chunk k-1 (so the chain gives exactly the plan one
call would), writes their slots in full batches, moves each contact to `scheduled` with
a conditional write, deletes the slots they had, saves the state for chunk k+1 and
queues it. A chunk that runs twice computes the same plan and writes the same items.
A newer plan version or a campaign that stopped delivering ends the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from batchcalls.adapters import call_counters
from batchcalls.adapters.bookings import BookingLedger
from batchcalls.adapters.campaign_store import CampaignStore, settings_of
from batchcalls.adapters.contact_store import ContactPlanWrites, ContactStore
from batchcalls.adapters.number_calls import NumberCallLog, TenantSettingsStore
from batchcalls.adapters.plan_progress import ChunkStart, PlanProgressStore
from batchcalls.adapters.slot_store import SlotKey, SlotStore, key_for, new_slot
from batchcalls.adapters.suppressions import SuppressionStore
from batchcalls.adapters.tables import CampaignRecord, ContactRecord, SlotRecord
from batchcalls.clock import Clock, to_epoch_ms
from batchcalls.domain.campaigns import DELIVERING, plan_start
from batchcalls.domain.frequency import frequency_limit, judge_call
from batchcalls.domain.leases import first_watermark
from batchcalls.domain.planning import (
    Occupancy,
    PlanContact,
    PlanResult,
    PlanSummary,
    Unplaceable,
    contact_reach,
    plan_contacts,
    summarise,
)
from batchcalls.domain.planning_state import PlannerState
from batchcalls.domain.state_rules import max_calls_per_24h, states_with_rules
from batchcalls.errors import Conflict, NotFound
from batchcalls.models.campaign import CampaignSettings
from batchcalls.observability import logger, metrics

WRITE_THREADS = 16
# What the first chunk's occupancy needs of the contacts that keep their calls.
_OCCUPANCY_FIELDS = ("status", "attempts", "scheduled_at")


class ChunkQueue(Protocol):
    def send_chunk(self, message: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ChunkOutcome:
    planned: int
    skipped: int
    lost_races: int
    more: bool


@dataclass(frozen=True)
class _Before:
    status: str
    attempt: int
    plan_version: int
    scheduled_at: int | None

    @classmethod
    def of(cls, contact: ContactRecord) -> _Before:
        due = None if contact.scheduled_at is None else int(contact.scheduled_at)
        return cls(contact.status, int(contact.attempts or 0) + 1, int(contact.plan_version), due)

    @property
    def booked_ms(self) -> int | None:
        """The instant the contact holds a slot (and a booking) at, if any."""
        return self.scheduled_at if self.status == "scheduled" else None

    def slot(self, tenant_id: str, campaign_id: str, contact_id: str) -> list[SlotKey]:
        """The slot the contact had, if any."""
        booked_ms = self.booked_ms
        if booked_ms is None:
            return []
        return [
            key_for(tenant_id, campaign_id, contact_id, self.attempt, self.plan_version, booked_ms)
        ]


def _released(
    before: dict[str, _Before],
    booked: dict[str, int],
    accepted: set[str],
    skipped: set[str],
) -> list[int]:
    """Bookings a chunk gives up once its writes are done: the old instant of each contact
    it moved (`booked` holds the new instants it booked) or skipped, and the new instant
    of each contact that refused the plan (it got queued meanwhile). A chunk that runs
    again books and releases the same instants: the counts end as they were."""
    released: list[int] = []
    for cid, due in booked.items():
        if cid not in accepted:
            released.append(due)
        elif (old := before[cid].booked_ms) is not None:
            released.append(old)
    released.extend(ms for cid in skipped if (ms := before[cid].booked_ms) is not None)
    return released


def replannable(contact: ContactRecord, start_ms: int) -> bool:
    """Pending, or scheduled and not waiting for a retry that is still ahead: retries keep
    their time, except those that fell due while the campaign could not deliver."""
    if contact.status == "pending":
        return True
    if contact.status != "scheduled":
        return False
    return int(contact.attempts or 0) == 0 or int(contact.scheduled_at or 0) < start_ms


PREVIEW_CONTACTS = 100_000  # read within the API's time (29 s on API Gateway)


@dataclass(frozen=True)
class Preview:
    summary: PlanSummary
    contacts: int  # contacts previewed
    more: bool  # more contacts to plan than previewed


class PlanningService:
    def __init__(
        self,
        clock: Clock,
        queue: ChunkQueue | None,
        chunk_size: int = 5000,
        campaigns: CampaignStore | None = None,
        contacts: ContactStore | None = None,
        slots: SlotStore | None = None,
        progress: PlanProgressStore | None = None,
        bookings: BookingLedger | None = None,
        rejected_numbers: Callable[[str, str], set[str]] | None = None,
        on_slots_written: Callable[[list[SlotRecord]], object] | None = None,
        return_waiting: Callable[[str, str], object] | None = None,
        on_plan_done: Callable[[str, str], object] | None = None,
        suppressions: SuppressionStore | None = None,
        number_calls: NumberCallLog | None = None,
        tenant_settings: TenantSettingsStore | None = None,
    ) -> None:
        self.clock = clock
        self.suppressions = suppressions or SuppressionStore()
        self.number_calls = number_calls or NumberCallLog()
        self.tenant_settings = tenant_settings or TenantSettingsStore()
        self.queue = queue
        self.chunk_size = chunk_size
        self.campaigns = campaigns or CampaignStore()
        self.contacts = contacts or ContactStore()
        self.slots = slots or SlotStore()
        self.progress = progress or PlanProgressStore()
        self.bookings = bookings or BookingLedger()
        self.writes = ContactPlanWrites()
        # Caller IDs the provider refused (from_rejected) are left out of later plans.
        self.rejected_numbers = rejected_numbers or (lambda tenant_id, campaign_id: set())
        # Slots due before the next minute tick are handed to delivery at once.
        self.on_slots_written = on_slots_written or (lambda slots: None)
        # A resumed campaign's calls that waited for a free place go back to scheduled.
        self.return_waiting = return_waiting or (lambda tenant_id, campaign_id: 0)
        # A plan that leaves nothing to call (every contact skipped) completes its campaign.
        self.on_plan_done = on_plan_done or (lambda tenant_id, campaign_id: False)

    # ------------------------------------------------------------------ entry points
    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        tenant_id, campaign_id = message["tenant_id"], message["campaign_id"]
        if kind == "plan":
            if message.get("resume"):
                # Calls that waited for a place before the pause are planned again too.
                self.return_waiting(tenant_id, campaign_id)
            self.start_plan(tenant_id, campaign_id, int(message["plan_version"]))
        elif kind == "plan_chunk":
            self.plan_chunk(
                tenant_id, campaign_id, int(message["plan_version"]), int(message["chunk"])
            )
        elif kind == "cancel":
            self.cancel_contacts(tenant_id, campaign_id, int(message.get("after_seq", 0)))
        else:
            logger.warning("unknown planning message", kind=kind)

    def start_plan(self, tenant_id: str, campaign_id: str, version: int) -> None:
        campaign = self._current(tenant_id, campaign_id, version)
        if campaign is None:
            return
        if self.progress.load(tenant_id, campaign_id, version, 0) is None:
            settings = settings_of(campaign)
            start_ms = to_epoch_ms(plan_start(settings, self.clock.now()))
            counts = self.campaigns.with_counts(campaign).counts
            total = counts["pending"] + counts["scheduled"]
            self.progress.save(
                tenant_id, campaign_id, version, 0, ChunkStart(start_ms, 0, None, 0, total)
            )
            self._show_progress(campaign, version, 0, total, done=False)
        self.plan_chunk(tenant_id, campaign_id, version, 0)

    def plan_chunk(
        self, tenant_id: str, campaign_id: str, version: int, chunk: int
    ) -> ChunkOutcome | None:
        campaign = self._current(tenant_id, campaign_id, version)
        start = self.progress.load(tenant_id, campaign_id, version, chunk)
        if campaign is None or start is None:
            return None
        settings = self._usable_settings(campaign, settings_of(campaign))
        batch = list(islice(self._candidates(tenant_id, campaign_id, start), self.chunk_size))
        occupancy = self._occupancy(campaign, settings, start.start_ms) if chunk == 0 else None
        result = self._plan(
            tenant_id,
            settings,
            start.start_ms,
            batch,
            state=PlannerState.from_json(start.planner_state) if start.planner_state else None,
            occupancy=occupancy,
            total=start.total if chunk == 0 else None,
        )
        outcome = self._write(campaign, settings, version, batch, result)
        more = len(batch) == self.chunk_size
        planned = start.planned + outcome.planned
        if more:
            after_seq = int(batch[-1].seq)
            self.progress.save(
                tenant_id,
                campaign_id,
                version,
                chunk + 1,
                ChunkStart(start.start_ms, after_seq, result.state.to_json(), planned, start.total),
            )
            assert self.queue is not None, "planning needs the planning queue"
            self.queue.send_chunk(
                {
                    "kind": "plan_chunk",
                    "tenant_id": tenant_id,
                    "campaign_id": campaign_id,
                    "plan_version": version,
                    "chunk": chunk + 1,
                }
            )
        self._show_progress(campaign, version, planned, max(start.total, planned), done=not more)
        if not more:
            self.on_plan_done(tenant_id, campaign_id)
        metrics.add_metric(name="SlotsPlanned", unit="Count", value=outcome.planned)
        logger.info(
            "planned chunk",
            campaign_id=campaign_id,
            version=version,
            chunk=chunk,
            planned=outcome.planned,
            skipped=outcome.skipped,
            lost_races=outcome.lost_races,
        )
        return ChunkOutcome(outcome.planned, outcome.skipped, outcome.lost_races, more)

    def cancel_contacts(self, tenant_id: str, campaign_id: str, after_seq: int = 0) -> None:
        """Every contact not yet dialled becomes cancelled, a chunk at a time."""
        try:
            self.campaigns.get(tenant_id, campaign_id)
        except NotFound:
            return
        not_dialled = self.contacts.iter_of_statuses(
            tenant_id, campaign_id, ("pending", "scheduled", "queued"), after_seq
        )
        batch = list(islice(not_dialled, self.chunk_size))
        self.writes.cancel(batch, self.clock.now())
        if len(batch) == self.chunk_size:
            assert self.queue is not None, "planning needs the planning queue"
            self.queue.send_chunk(
                {
                    "kind": "cancel",
                    "tenant_id": tenant_id,
                    "campaign_id": campaign_id,
                    "after_seq": int(batch[-1].seq),
                }
            )

    def preview(
        self, campaign: CampaignRecord, settings: CampaignSettings, limit: int = PREVIEW_CONTACTS
    ) -> Preview:
        """The plan that planning the campaign now with `settings` would make, written
        nowhere: the same contacts, occupancy, suppressions and rules as `start_plan` and
        its chunks, planned in one go (chunks carry their state: the same plan). Covers
        the first `limit` contacts to plan."""
        tenant_id, campaign_id = campaign.tenant_id, campaign.campaign_id
        usable = self._usable_settings(campaign, settings)
        start_ms = to_epoch_ms(plan_start(usable, self.clock.now()))
        found = islice(
            self._candidates(tenant_id, campaign_id, ChunkStart(start_ms, 0, None, 0, 0)),
            limit + 1,
        )
        contacts = list(found)
        more = len(contacts) > limit
        contacts = contacts[:limit]
        occupancy = self._occupancy(campaign, usable, start_ms)
        result = self._plan(tenant_id, usable, start_ms, contacts, None, occupancy, len(contacts))
        return Preview(summarise(usable, result), len(contacts), more)

    # ------------------------------------------------------------------ internals
    def _plan(
        self,
        tenant_id: str,
        settings: CampaignSettings,
        start_ms: int,
        batch: list[ContactRecord],
        state: PlannerState | None,
        occupancy: Occupancy | None,
        total: int | None,
    ) -> PlanResult:
        """The plan of a batch of contacts: every rule, the tenant's do-not-call list (a
        suppressed number is skipped, not planned) and the frequency limits (a number
        called as often as its limit allows in the 24 hours before `start_ms` is planned
        from the instant its oldest such call is 24 hours old)."""
        suppressed = self.suppressions.suppressed_of(tenant_id, (c.phone_number for c in batch))
        callable_ = [c for c in batch if c.phone_number not in suppressed]
        not_before = self._frequency_holds(tenant_id, settings, start_ms, callable_)
        result = plan_contacts(
            settings,
            start_ms,
            [
                PlanContact(
                    c.contact_id,
                    contact_reach(
                        settings,
                        c.timezones,
                        c.phone_number,
                        c.state,
                        not_before.get(c.phone_number),
                    ),
                )
                for c in callable_
            ],
            state=state,
            occupancy=occupancy,
            total=total,
        )
        result.unplaceable.extend(
            Unplaceable(c.contact_id, "suppressed") for c in batch if c.phone_number in suppressed
        )
        return result

    def _frequency_holds(
        self,
        tenant_id: str,
        settings: CampaignSettings,
        start_ms: int,
        contacts: list[ContactRecord],
    ) -> dict[str, int]:
        """The numbers their frequency limit holds back at `start_ms`, with the instant
        each may be called again. What planning knows exactly is the log of calls already
        started (every campaign of the tenant, adapters/number_calls); calls planned but not
        yet started, in other campaigns, are not known here and are held at the dial. One
        read of the tenant's settings, and the log of the numbers a limit applies to only,
        100 numbers per request."""
        tenant_cap = self.tenant_settings.get(tenant_id)["max_calls_per_number_per_24h"]
        limits: dict[str, int] = {}
        for contact in contacts:
            state_cap = (
                max_calls_per_24h(states_with_rules(contact.phone_number, contact.state))
                if settings.state_rules
                else None
            )
            limit = frequency_limit(tenant_cap, state_cap)
            if limit is not None:
                limits[contact.phone_number] = limit
        if not limits:
            return {}
        held: dict[str, int] = {}
        for number, calls_ms in self.number_calls.recent_of(tenant_id, limits).items():
            verdict = judge_call(calls_ms, start_ms, limits[number])
            if verdict.not_before_ms is not None:
                held[number] = verdict.not_before_ms
        return held

    def _usable_settings(
        self, campaign: CampaignRecord, settings: CampaignSettings
    ) -> CampaignSettings:
        rejected = self.rejected_numbers(campaign.tenant_id, campaign.campaign_id)
        if not rejected:
            return settings
        usable = [n for n in settings.phone_numbers if n not in rejected]
        return settings.model_copy(update={"phone_numbers": usable})

    def _current(self, tenant_id: str, campaign_id: str, version: int) -> CampaignRecord | None:
        """The campaign, if this plan version is still the one to carry out."""
        try:
            campaign = self.campaigns.get(tenant_id, campaign_id)
        except NotFound:
            return None
        if int(campaign.plan_version) != version or campaign.status not in DELIVERING:
            logger.info(
                "plan superseded",
                campaign_id=campaign_id,
                version=version,
                current=int(campaign.plan_version),
                status=campaign.status,
            )
            return None
        return campaign

    def _candidates(
        self, tenant_id: str, campaign_id: str, start: ChunkStart
    ) -> Iterator[ContactRecord]:
        for contact in self.contacts.iter_of_statuses(
            tenant_id, campaign_id, ("pending", "scheduled"), start.after_seq
        ):
            if replannable(contact, start.start_ms):
                yield contact

    def _occupancy(
        self, campaign: CampaignRecord, settings: CampaignSettings, start_ms: int
    ) -> Occupancy:
        """Calls that stay where they are: queued and in progress, retries still ahead, and
        every call already dialled per local day."""
        tenant_id, campaign_id = campaign.tenant_id, campaign.campaign_id
        staying: list[int] = []
        for contact in self.contacts.iter_of_statuses(
            tenant_id, campaign_id, ("queued", "in_progress", "scheduled"), 0, _OCCUPANCY_FIELDS
        ):
            if contact.scheduled_at is None:
                continue
            if contact.status == "scheduled" and replannable(contact, start_ms):
                continue
            if contact.status != "in_progress":  # in progress: already in the day counters
                staying.append(int(contact.scheduled_at))
        return Occupancy.from_calls(
            settings,
            [ms for ms in staying if ms >= start_ms],
            extra_day_counts=call_counters.day_counts(tenant_id, campaign_id),
        )

    def _write(
        self,
        campaign: CampaignRecord,
        settings: CampaignSettings,
        version: int,
        batch: list[ContactRecord],
        result: PlanResult,
    ) -> ChunkOutcome:
        tenant_id, campaign_id = campaign.tenant_id, campaign.campaign_id
        by_id = {c.contact_id: c for c in batch}
        # What each contact was before this chunk (a write refreshes the record in place).
        before = {c.contact_id: _Before.of(c) for c in batch}
        planned = list(zip(result.contact_ids, result.due_ms, result.caller_ids, strict=True))
        now = self.clock.now()
        # Slots first: a slot whose contact then refuses the plan is stale by version and
        # is deleted below; a contact never points at a slot that does not exist.
        slots = [
            new_slot(
                tenant_id,
                campaign_id,
                cid,
                before[cid].attempt,
                version,
                due,
                settings.priority,
                caller,
            )
            for cid, due, caller in planned
        ]
        if slots:
            # A dispatcher that has never ticked starts reading at its first watermark;
            # set here, before any slot exists, a first tick that comes late (its rule
            # off, its first invocations failing) still reads these slots' minutes.
            self.slots.ensure_watermark(first_watermark(to_epoch_ms(now)))
        # Bookings up before the slots exist, down after they are gone (adapters/bookings).
        booked = {cid: due for cid, due, _ in planned}
        self.bookings.book(tenant_id, campaign_id, booked.values())
        self.slots.put_many(slots)
        # Each contact moves with its counters, a few dozen per transaction.
        accepted = self.writes.schedule(
            [(by_id[cid], due, caller) for cid, due, caller in planned],
            version,
            now,
            result.reasons,
        )
        skipped = self.writes.skip(
            [(by_id[u.contact_id], u.reason) for u in result.unplaceable], version, now
        )

        obsolete: list[SlotKey] = []
        for (cid, due, _), ok in zip(planned, accepted, strict=True):
            if not ok:  # the contact got queued meanwhile: its new slot is stale
                obsolete.append(
                    key_for(tenant_id, campaign_id, cid, before[cid].attempt, version, due)
                )
            elif before[cid].plan_version != version:
                obsolete.extend(before[cid].slot(tenant_id, campaign_id, cid))
        for unplaceable, ok in zip(result.unplaceable, skipped, strict=True):
            if ok:
                obsolete.extend(
                    before[unplaceable.contact_id].slot(
                        tenant_id, campaign_id, unplaceable.contact_id
                    )
                )
        self.slots.delete_many(obsolete)
        self.bookings.release(
            tenant_id,
            campaign_id,
            _released(
                before,
                booked,
                {cid for (cid, _, _), ok in zip(planned, accepted, strict=True) if ok},
                {u.contact_id for u, ok in zip(result.unplaceable, skipped, strict=True) if ok},
            ),
        )
        self.on_slots_written([slot for slot, ok in zip(slots, accepted, strict=True) if ok])
        return ChunkOutcome(sum(accepted), sum(skipped), accepted.count(False), False)

    def _show_progress(
        self, campaign: CampaignRecord, version: int, planned: int, total: int, done: bool
    ) -> None:
        # A campaign that moved on (cancelled, superseded) has nothing to show.
        with suppress(Conflict):
            self.campaigns.set_planning(
                campaign, {"version": version, "planned": planned, "total": total, "done": done}
            )

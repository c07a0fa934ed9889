"""Campaign and contact use cases behind the HTTP API."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from batchcalls.adapters.campaign_store import CampaignStore, Page, settings_of
from batchcalls.adapters.contact_store import ContactStore
from batchcalls.adapters.import_store import ImportStore
from batchcalls.adapters.leases import LeaseStore
from batchcalls.adapters.tables import CampaignRecord, ContactRecord
from batchcalls.clock import Clock, from_epoch_ms, to_iso
from batchcalls.concurrency import parallel_map
from batchcalls.domain import campaigns as rules
from batchcalls.domain.contacts import judge_contacts
from batchcalls.errors import ValidationFailed
from batchcalls.ids import contact_id_for, new_campaign_id
from batchcalls.models.campaign import (
    CreateCampaignRequest,
    PatchCampaignRequest,
    PreviewRequest,
)
from batchcalls.services.planning import PlanningService
from batchcalls.services.webhooks import WebhookUrls


@dataclass
class ContactsReport:
    accepted: int
    duplicates: int
    invalid: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "invalid": self.invalid}


class CampaignService:
    def __init__(
        self,
        clock: Clock,
        campaigns: CampaignStore | None = None,
        contacts: ContactStore | None = None,
        imports: ImportStore | None = None,
        planner: PlanningService | None = None,
        webhook_urls: WebhookUrls | None = None,
    ) -> None:
        self.clock = clock
        self.webhook_urls = webhook_urls or WebhookUrls()
        self.campaigns = campaigns or CampaignStore()
        self.contacts = contacts or ContactStore()
        self.imports = imports or ImportStore()
        # Previews only: it plans and writes nothing (no queue to send chunks to).
        self.planner = planner or PlanningService(
            clock, None, rejected_numbers=LeaseStore().rejected_numbers
        )

    # ------------------------------------------------------------------ campaigns
    def create(
        self, tenant_id: str, request: CreateCampaignRequest
    ) -> tuple[CampaignRecord, ContactsReport | None]:
        now = self.clock.now()
        given = request.merged_fields()
        rows = given.pop("contacts", None)
        draft = given.pop("status", None) == "draft"
        settings = rules.build_settings(given, now)
        self.webhook_urls.check(settings.webhooks.model_dump())
        judged = judge_contacts(rows) if rows is not None else None
        if not draft:
            missing = rules.missing_prerequisites(settings, len(judged.accepted) if judged else 0)
            if missing:
                raise ValidationFailed("the campaign cannot be scheduled", missing)
        campaign_id = new_campaign_id(now)
        record = self.campaigns.create(tenant_id, campaign_id, "draft", settings, now)
        report = None
        if judged is not None:
            report = self._store_contacts(record, judged)
        if not draft:
            self._start(record, now)
        return record, report

    def get(self, tenant_id: str, campaign_id: str) -> CampaignRecord:
        """The campaign with its contact counts and imports (what its view shows)."""
        return self._for_view(self.campaigns.get(tenant_id, campaign_id))

    def list_campaigns(
        self, tenant_id: str, status: str | None, tag: str | None, limit: int, cursor: str | None
    ) -> Page:
        page = self.campaigns.page(tenant_id, status, tag, limit, cursor)
        parallel_map(self._for_view, page.items, 8)
        return page

    def _for_view(self, record: CampaignRecord) -> CampaignRecord:
        record = self.campaigns.with_counts(record)
        record.imports = [
            state.view() for state in self.imports.of_campaign(record.tenant_id, record.campaign_id)
        ]
        return record

    def patch(
        self, tenant_id: str, campaign_id: str, request: PatchCampaignRequest
    ) -> CampaignRecord:
        record = self.campaigns.get(tenant_id, campaign_id)
        rules.require_transition("edit", record.status)
        now = self.clock.now()
        given = {name: getattr(request, name) for name in request.model_fields_set}
        settings = rules.build_settings(given, now, base=settings_of(record))
        if "webhooks" in given:
            self.webhook_urls.check(settings.webhooks.model_dump())
        if record.status in ("scheduled", "active") and rules.SCHEDULING_FIELDS & set(given):
            # The new settings and the re-plan they need, at once.
            self.campaigns.request_plan(record, rules.ALLOWED_FROM["edit"], now, settings=settings)
        else:
            self.campaigns.save_settings(record, settings, rules.ALLOWED_FROM["edit"], now)
        return self.get(tenant_id, campaign_id)

    def delete(self, tenant_id: str, campaign_id: str) -> None:
        record = self.campaigns.get(tenant_id, campaign_id)
        rules.require_transition("delete", record.status)
        self.campaigns.delete(record, rules.ALLOWED_FROM["delete"])

    def schedule(self, tenant_id: str, campaign_id: str) -> CampaignRecord:
        record = self.campaigns.get(tenant_id, campaign_id)
        rules.require_transition("schedule", record.status)
        pending = self.campaigns.with_counts(record).counts["pending"]
        missing = rules.missing_prerequisites(settings_of(record), pending)
        if missing:
            raise ValidationFailed("the campaign cannot be scheduled", missing)
        self._start(record, self.clock.now())
        return self.get(tenant_id, campaign_id)

    def pause(self, tenant_id: str, campaign_id: str) -> CampaignRecord:
        record = self.campaigns.get(tenant_id, campaign_id)
        rules.require_transition("pause", record.status)
        self.campaigns.transition(record, rules.ALLOWED_FROM["pause"], "paused", self.clock.now())
        return self.get(tenant_id, campaign_id)

    def resume(self, tenant_id: str, campaign_id: str) -> CampaignRecord:
        record = self.campaigns.get(tenant_id, campaign_id)
        rules.require_transition("resume", record.status)
        status = "active" if record.first_call_at else "scheduled"
        self.campaigns.request_plan(
            record, rules.ALLOWED_FROM["resume"], self.clock.now(), status=status, resume=True
        )
        return self.get(tenant_id, campaign_id)

    def cancel(self, tenant_id: str, campaign_id: str) -> CampaignRecord:
        record = self.campaigns.get(tenant_id, campaign_id)
        rules.require_transition("cancel", record.status)
        self.campaigns.cancel(record, rules.ALLOWED_FROM["cancel"], self.clock.now())
        return self.get(tenant_id, campaign_id)

    def preview(
        self, tenant_id: str, campaign_id: str, request: PreviewRequest | None
    ) -> dict[str, Any]:
        """What planning the campaign now (with the settings given, else its own) would do."""
        record = self.campaigns.get(tenant_id, campaign_id)
        settings = settings_of(record)
        if request is not None and request.model_fields_set:
            given = {name: getattr(request, name) for name in request.model_fields_set}
            settings = rules.build_settings(given, self.clock.now(), base=settings)
        found = self.planner.preview(record, settings)
        summary = found.summary
        counts = Counter(u.reason for u in summary.unplaceable)

        def instant(ms: int | None) -> str | None:
            return None if ms is None else to_iso(from_epoch_ms(ms))

        return {
            "first_call_at": instant(summary.first_call_ms),
            "last_call_at": instant(summary.last_call_ms),
            "finish_estimate": instant(summary.last_call_ms),
            "calls_per_day": {
                day.isoformat(): n for day, n in sorted(summary.calls_per_day.items())
            },
            "contacts_previewed": found.contacts,
            "more_contacts": found.more,
            "unplaceable_counts": dict(sorted(counts.items())),
            "delayed_counts": summary.delayed,
            "unplaceable": [
                {"contact_id": u.contact_id, "reason": u.reason} for u in summary.unplaceable[:100]
            ],
        }

    # ------------------------------------------------------------------ contacts
    def add_contacts(self, tenant_id: str, campaign_id: str, rows: list[Any]) -> ContactsReport:
        record = self.campaigns.get(tenant_id, campaign_id)
        rules.require_transition("edit", record.status)
        report = self._store_contacts(record, judge_contacts(rows))
        if record.status in ("scheduled", "active"):
            # A full re-plan in order: the new contacts come after the existing ones. Also
            # when all were there already but some are still unplanned (a request retried
            # after it failed between storing them and asking for the plan).
            pending = self.campaigns.with_counts(record).counts["pending"]
            if report.accepted or pending:
                self.campaigns.request_plan(record, rules.ALLOWED_FROM["edit"], self.clock.now())
        return report

    def list_contacts(
        self,
        tenant_id: str,
        campaign_id: str,
        status: str | None,
        limit: int,
        cursor: str | None,
        reason: str | None = None,
    ) -> tuple[CampaignRecord, Page]:
        record = self.campaigns.get(tenant_id, campaign_id)
        return record, self.contacts.page(tenant_id, campaign_id, status, limit, cursor, reason)

    def get_contact(
        self, tenant_id: str, campaign_id: str, contact_id: str
    ) -> tuple[CampaignRecord, ContactRecord]:
        record = self.campaigns.get(tenant_id, campaign_id)
        return record, self.contacts.get(tenant_id, campaign_id, contact_id)

    def cancel_contact(
        self, tenant_id: str, campaign_id: str, contact_id: str
    ) -> tuple[CampaignRecord, ContactRecord]:
        record = self.campaigns.get(tenant_id, campaign_id)
        contact = self.contacts.get(tenant_id, campaign_id, contact_id)
        rules.require_transition("cancel_contact", record.status)
        self.contacts.cancel(contact, self.clock.now())
        return record, self.contacts.get(tenant_id, campaign_id, contact_id)

    # ------------------------------------------------------------------ internals
    def _store_contacts(self, record: CampaignRecord, judged: Any) -> ContactsReport:
        tenant_id, campaign_id = record.tenant_id, record.campaign_id
        ids = [contact_id_for(campaign_id, c.phone_number) for c in judged.accepted]
        existing = self.contacts.existing_ids(tenant_id, campaign_id, ids)
        fresh = [c for c, cid in zip(judged.accepted, ids, strict=True) if cid not in existing]
        added = 0
        if fresh:
            first_seq = self.campaigns.allocate_sequence(
                record, len(fresh), rules.ALLOWED_FROM["edit"]
            )
            # A number added meanwhile by another request is written (and counted) once.
            added = self.contacts.add(tenant_id, campaign_id, fresh, first_seq, self.clock.now())
        return ContactsReport(
            accepted=added,
            duplicates=judged.duplicates + len(judged.accepted) - added,
            invalid=[row.as_dict() for row in judged.invalid],
        )

    def _start(self, record: CampaignRecord, now: Any) -> None:
        """Scheduled (or active at once) with its first plan requested, in one write."""
        settings = settings_of(record)
        status = "active" if settings.schedule_type == "immediate" else "scheduled"
        self.campaigns.request_plan(record, rules.ALLOWED_FROM["schedule"], now, status=status)

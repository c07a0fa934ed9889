"""Campaign storage: every read and write of the Campaigns table goes through here."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition

from batchcalls.adapters.contact_moves import ContactCounts
from batchcalls.adapters.outbox import add_command, add_event
from batchcalls.adapters.tables import CampaignRecord
from batchcalls.adapters.transactions import ConditionFailed, Transaction, transaction
from batchcalls.clock import to_epoch_ms, to_iso
from batchcalls.domain.outcomes import batch_failed_body, status_changed_body
from batchcalls.errors import Conflict, InvalidCursor, NotFound
from batchcalls.models.campaign import CampaignSettings

_CAMPAIGN_ID = re.compile(r"batch_[0-9a-z]{18}")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def encode_cursor(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None, **fields: Callable[[Any], bool]) -> dict[str, Any] | None:
    """The fields of a cursor made by `encode_cursor`, each accepted by its check;
    anything else (tampered, truncated, another list's) is `InvalidCursor`."""
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
    except (ValueError, UnicodeError, RecursionError):
        raise InvalidCursor() from None
    if not isinstance(value, dict) or set(value) != set(fields):
        raise InvalidCursor()
    if not all(check(value[name]) for name, check in fields.items()):
        raise InvalidCursor()
    return value


def is_campaign_id(value: Any) -> bool:
    return isinstance(value, str) and _CAMPAIGN_ID.fullmatch(value) is not None


def is_sequence_number(value: Any) -> bool:
    # bool is an int to Python; a cursor never holds one.
    return type(value) is int and 0 <= value < 2**63


def _conditional_failure(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def settings_of(record: CampaignRecord) -> CampaignSettings:
    return CampaignSettings.model_validate(record.settings)


def _settings_json(settings: CampaignSettings) -> dict[str, Any]:
    return settings.model_dump(mode="json")


class CampaignStore:
    def create(
        self,
        tenant_id: str,
        campaign_id: str,
        status: str,
        settings: CampaignSettings,
        now: datetime,
    ) -> CampaignRecord:
        record = CampaignRecord(
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            status=status,
            settings=_settings_json(settings),
            tags=list(settings.tags),
            created_at=to_iso(now),
            updated_at=to_iso(now),
        )
        try:
            record.save(condition=CampaignRecord.campaign_id.does_not_exist())
        except PutError as error:
            if _conditional_failure(error):
                raise Conflict("a campaign with this id exists") from None
            raise
        return record

    def get(self, tenant_id: str, campaign_id: str, consistent: bool = True) -> CampaignRecord:
        if not campaign_id or len(campaign_id) > 100:
            raise NotFound("no such campaign")
        try:
            return CampaignRecord.get(tenant_id, campaign_id, consistent_read=consistent)
        except DoesNotExist:
            raise NotFound("no such campaign") from None

    def page(
        self, tenant_id: str, status: str | None, tag: str | None, limit: int, cursor: str | None
    ) -> Page:
        start = decode_cursor(cursor, after=is_campaign_id)
        condition: Condition | None = None
        if status is not None:
            condition = CampaignRecord.status == status
        if tag is not None:
            tag_condition = CampaignRecord.tags.contains(tag)
            condition = tag_condition if condition is None else condition & tag_condition
        results = CampaignRecord.query(
            tenant_id,
            filter_condition=condition,
            scan_index_forward=False,  # newest first: ids sort by creation time
            limit=limit,
            last_evaluated_key=(
                {"tenant_id": {"S": tenant_id}, "campaign_id": {"S": str(start["after"])}}
                if start
                else None
            ),
        )
        items = list(results)
        more = results.last_evaluated_key is not None and len(items) == limit
        next_cursor = encode_cursor({"after": items[-1].campaign_id}) if more and items else None
        return Page(items, next_cursor)

    def save_settings(
        self,
        record: CampaignRecord,
        settings: CampaignSettings,
        allowed: Iterable[str],
        now: datetime,
    ) -> None:
        self._update(
            record,
            [
                CampaignRecord.settings.set(_settings_json(settings)),
                CampaignRecord.tags.set(list(settings.tags)),  # type: ignore[arg-type]
                CampaignRecord.updated_at.set(to_iso(now)),
            ],
            allowed,
        )

    def transition(
        self,
        record: CampaignRecord,
        allowed: Iterable[str],
        status: str,
        now: datetime,
        extra: list[Any] | None = None,
    ) -> None:
        """Move to `status` only if the stored status is still one of `allowed`, with its
        `campaign.status_changed` event. Raises Conflict."""

        def write(current: CampaignRecord) -> None:
            tx = transaction("campaign transition")
            actions = [
                CampaignRecord.status.set(status),
                CampaignRecord.updated_at.set(to_iso(now)),
                *(extra or []),
            ]
            tx.update(current, actions, CampaignRecord.status == current.status, label="campaign")
            add_status_changed(tx, current, status, now)
            tx.commit()

        self._from_current(record, allowed, write)

    def _from_current(
        self,
        record: CampaignRecord,
        allowed: Iterable[str],
        write: Callable[[CampaignRecord], None],
    ) -> None:
        """`write(record)`, conditional on the status read (so its event names the status
        it leaves); when that moved on to another allowed status meanwhile (scheduled ->
        active), read again and write from there. Raises Conflict."""
        allowed = frozenset(allowed)
        current = record
        for _ in range(3):
            if current.status not in allowed:
                break
            try:
                write(current)
                return
            except ConditionFailed:
                try:
                    current = self.get(record.tenant_id, record.campaign_id)
                except NotFound:
                    break
        raise Conflict(
            f"the campaign is no longer {' or '.join(sorted(allowed))} (or changed meanwhile)"
        )

    def request_plan(
        self,
        record: CampaignRecord,
        allowed: Iterable[str],
        now: datetime,
        status: str | None = None,
        settings: CampaignSettings | None = None,
        resume: bool = False,
    ) -> int:
        """A new plan version, and the planner's request for it, in one transaction (with
        the move to `status` and new `settings` if given), only while the campaign is still
        in one of `allowed` and at the version read; returns the version. Raises Conflict."""
        tx = transaction("request plan")
        version = self.add_plan_request(tx, record, allowed, now, status, settings, resume)
        self._commit(tx, allowed)
        return version

    @staticmethod
    def add_plan_request(
        tx: Transaction,
        record: CampaignRecord,
        allowed: Iterable[str],
        now: datetime,
        status: str | None = None,
        settings: CampaignSettings | None = None,
        resume: bool = False,
    ) -> int:
        """`request_plan`'s writes added to `tx` (the campaign's, labelled `campaign`);
        returns the new plan version."""
        version = int(record.plan_version) + 1
        actions = [
            CampaignRecord.plan_version.set(version),
            CampaignRecord.planning.set(
                {"version": version, "planned": 0, "total": 0, "done": False}
            ),
            CampaignRecord.updated_at.set(to_iso(now)),
        ]
        condition = CampaignRecord.status.is_in(*allowed) & (
            CampaignRecord.plan_version == int(record.plan_version)
        )
        if status is not None:
            actions.append(CampaignRecord.status.set(status))
            condition = condition & (CampaignRecord.status == record.status)
            if status != record.status:
                add_status_changed(tx, record, status, now)
        if settings is not None:
            actions += [
                CampaignRecord.settings.set(_settings_json(settings)),
                CampaignRecord.tags.set(list(settings.tags)),  # type: ignore[arg-type]
            ]
        tx.update(record, actions, condition, label="campaign")
        command = {
            "kind": "plan",
            "tenant_id": record.tenant_id,
            "campaign_id": record.campaign_id,
            "plan_version": version,
            "resume": resume,
        }
        add_command(tx, command, to_epoch_ms(now))
        return version

    def cancel(self, record: CampaignRecord, allowed: Iterable[str], now: datetime) -> None:
        """Cancelled, and the planner asked to cancel every contact not yet dialled, in one
        transaction (with `campaign.status_changed`). Raises Conflict."""

        def write(current: CampaignRecord) -> None:
            tx = transaction("cancel campaign")
            tx.update(
                current,
                [
                    CampaignRecord.status.set("cancelled"),
                    CampaignRecord.updated_at.set(to_iso(now)),
                ],
                CampaignRecord.status == current.status,
                label="campaign",
            )
            add_status_changed(tx, current, "cancelled", now)
            add_command(tx, _cancel_contacts(current), to_epoch_ms(now))
            tx.commit()

        self._from_current(record, allowed, write)

    def fail(
        self, record: CampaignRecord, error: str, webhook_url: str | None, now: datetime
    ) -> None:
        """scheduled or active -> failed (the campaign cannot go on), with `batch.failed`,
        `campaign.status_changed` and the planner asked to cancel every contact not yet
        dialled, in one transaction. Raises Conflict when it is no longer delivering."""

        def write(current: CampaignRecord) -> None:
            tx = transaction("fail campaign")
            tx.update(
                current,
                [
                    CampaignRecord.status.set("failed"),
                    CampaignRecord.updated_at.set(to_iso(now)),
                    CampaignRecord.finished_at.set(to_iso(now)),
                    CampaignRecord.failure.set(error),
                ],
                CampaignRecord.status == current.status,
                label="campaign",
            )
            add_status_changed(tx, current, "failed", now)
            body = batch_failed_body(current.campaign_id, error, to_iso(now))
            add_event(tx, body, webhook_url, to_epoch_ms(now), tenant_id=current.tenant_id)
            add_command(tx, _cancel_contacts(current), to_epoch_ms(now))
            tx.commit()

        self._from_current(record, ("scheduled", "active"), write)

    @staticmethod
    def _commit(tx: Transaction, allowed: Iterable[str]) -> None:
        try:
            tx.commit()
        except ConditionFailed:
            raise Conflict(
                f"the campaign is no longer {' or '.join(sorted(allowed))} (or changed meanwhile)"
            ) from None

    def allocate_sequence(self, record: CampaignRecord, count: int, allowed: Iterable[str]) -> int:
        """Reserve `count` consecutive contact numbers; returns the first one."""
        self._update(record, [CampaignRecord.contact_seq.add(count)], allowed)
        return int(record.contact_seq) - count + 1

    def with_counts(self, record: CampaignRecord) -> CampaignRecord:
        """The record with `counts` filled in from the campaign's contact counters."""
        record.counts = ContactCounts().totals(record.tenant_id, record.campaign_id)
        return record

    def delete(self, record: CampaignRecord, allowed: Iterable[str]) -> None:
        try:
            record.delete(condition=CampaignRecord.status.is_in(*allowed))
        except DeleteError as error:
            if _conditional_failure(error):
                raise Conflict("the campaign changed status meanwhile") from None
            raise

    def _update(self, record: CampaignRecord, actions: list[Any], allowed: Iterable[str]) -> None:
        try:
            record.update(actions=actions, condition=CampaignRecord.status.is_in(*allowed))
        except UpdateError as error:
            if _conditional_failure(error):
                raise Conflict(
                    f"the campaign is no longer {' or '.join(sorted(allowed))}"
                ) from None
            raise

    def complete(
        self,
        record: CampaignRecord,
        now: datetime,
        event: dict[str, Any],
        webhook_url: str | None,
        now_ms: int,
    ) -> None:
        """active (or scheduled) -> completed with its event, only while the campaign is in
        the status read, the plan read is still current and no contact is open. Raises
        ConditionFailed otherwise."""
        tx = transaction("complete campaign")
        tx.update(
            record,
            [
                CampaignRecord.status.set("completed"),
                CampaignRecord.updated_at.set(to_iso(now)),
                CampaignRecord.finished_at.set(to_iso(now)),
            ],
            (CampaignRecord.status == record.status)
            & CampaignRecord.status.is_in("scheduled", "active")
            & (CampaignRecord.plan_version == int(record.plan_version)),
            label="campaign",
        )
        ContactCounts().require_none_open(tx, record.tenant_id, record.campaign_id)
        add_event(tx, event, webhook_url, now_ms, tenant_id=record.tenant_id)
        add_status_changed(tx, record, "completed", now)
        tx.commit()

    def set_planning(self, record: CampaignRecord, planning: dict[str, Any]) -> None:
        """Progress of the plan in the background, shown as the campaign's `planning`;
        written only while that plan version is still current."""
        try:
            record.update(
                actions=[CampaignRecord.planning.set(planning)],
                condition=CampaignRecord.plan_version == planning["version"],
            )
        except UpdateError as error:
            if _conditional_failure(error):
                raise Conflict("a newer plan replaced this one") from None
            raise


def add_status_changed(tx: Transaction, record: CampaignRecord, status: str, now: datetime) -> None:
    """`campaign.status_changed` from the status read to `status`, sent if `tx` commits."""
    body = status_changed_body(
        record.campaign_id, record.status, status, to_iso(now), to_epoch_ms(now)
    )
    add_event(tx, body, None, to_epoch_ms(now), tenant_id=record.tenant_id)


def _cancel_contacts(record: CampaignRecord) -> dict[str, Any]:
    """The planner's request to cancel every contact of the campaign not yet dialled."""
    return {"kind": "cancel", "tenant_id": record.tenant_id, "campaign_id": record.campaign_id}

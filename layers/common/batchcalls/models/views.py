"""How campaigns and contacts read back over the API (snake_case, UTC `Z` timestamps)."""

from __future__ import annotations

from typing import Any

from batchcalls.adapters.tables import CampaignRecord, ContactRecord, plain_dict
from batchcalls.clock import from_epoch_ms, to_iso
from batchcalls.domain.campaigns import CONTACT_STATUSES
from batchcalls.domain.phones import effective_timezones
from batchcalls.models.campaign import CampaignSettings


def campaign_view(record: CampaignRecord) -> dict[str, Any]:
    settings = CampaignSettings.model_validate(record.settings)
    body = settings.model_dump(mode="json")
    if settings.scheduled_at is not None:
        body["scheduled_at"] = to_iso(settings.scheduled_at)
    stored = plain_dict(record.counts)
    counts = {name: int(stored.get(name, 0)) for name in CONTACT_STATUSES}
    return {
        "id": record.campaign_id,
        **body,
        "status": record.status,
        "stats": {"total": sum(counts.values()), **counts},
        "planning": record.planning,
        "imports": record.imports or [],
        "error": record.failure,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def contact_view(record: ContactRecord, campaign_timezone: str) -> dict[str, Any]:
    return {
        "id": record.contact_id,
        "phone_number": record.phone_number,
        "name": record.name,
        "timezone": record.timezone,
        "state": record.state,
        "variables": plain_dict(record.variables),
        "status": record.status,
        "scheduled_at": (
            to_iso(from_epoch_ms(int(record.scheduled_at)))
            if record.scheduled_at is not None
            else None
        ),
        "attempts": int(record.attempts or 0),
        "last_outcome": record.last_outcome,
        "caller_id": record.caller_id,
        "call_id": record.call_id,
        "timezones": list(effective_timezones(record.timezones or [], campaign_timezone)),
        "reason": record.reason,
        "duration_seconds": record.duration_seconds,
        "summary": record.summary,
    }

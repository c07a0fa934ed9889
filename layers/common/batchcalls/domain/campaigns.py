"""Campaign rules: settings with defaults, the state machine, scheduling prerequisites."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from batchcalls.errors import Conflict, ErrorDetail, ValidationFailed
from batchcalls.models.campaign import CampaignSettings

Action = Literal["schedule", "pause", "resume", "cancel", "delete", "edit", "cancel_contact"]

# API.md "State machine": the statuses each action may start from; anything else is 409.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "schedule": frozenset({"draft"}),
    "pause": frozenset({"scheduled", "active"}),
    "resume": frozenset({"paused"}),
    "cancel": frozenset({"draft", "scheduled", "active", "paused"}),
    "delete": frozenset({"draft"}),
    "edit": frozenset({"draft", "scheduled", "active", "paused"}),
    "cancel_contact": frozenset({"draft", "scheduled", "active", "paused"}),
}

DELIVERING = frozenset({"scheduled", "active"})
CONTACT_STATUSES = (
    "pending",
    "scheduled",
    "queued",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
    "skipped",
)
# Contacts the planner may still move: nothing queued, in progress or finished moves.
REPLANNABLE_CONTACT_STATUSES = frozenset({"pending", "scheduled"})

SCHEDULING_FIELDS = frozenset(
    {
        "schedule_type",
        "scheduled_at",
        "timezone",
        "start_time",
        "end_time",
        "working_days",
        "blackout_dates",
        "holiday_calendars",
        "max_calls_per_day",
        "max_calls_per_second",
        "pacing",
        "respect_contact_timezone",
        "legal_hours_guard",
        "state_rules",
        "retry_strategy",
        "phone_numbers",
        "phone_rotation",
        "agent_id",
    }
)


def require_transition(action: Action, status: str) -> None:
    if status not in ALLOWED_FROM[action]:
        raise Conflict(f"cannot {action.replace('_', ' ')} a campaign that is {status}")


def status_when_planned(first_call_at: datetime | None, now: datetime) -> str:
    """`scheduled` while the first call is in the future, `active` from it."""
    return "scheduled" if first_call_at is not None and first_call_at > now else "active"


def _aware(value: datetime, timezone: str) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def build_settings(
    given: dict[str, Any], now: datetime, base: CampaignSettings | None = None
) -> CampaignSettings:
    """Settings after defaults from a create (no base) or a patch (base = current settings).

    Raises ValidationFailed listing each problem. `given` holds only the fields the client
    sent; `None` clears a field back to its default.
    """
    current = (base or CampaignSettings()).model_dump()
    defaults = CampaignSettings().model_dump()
    merged = dict(current)
    for name, value in given.items():
        merged[name] = defaults[name] if value is None else value
    if hasattr(merged.get("retry_strategy"), "model_dump"):
        merged["retry_strategy"] = merged["retry_strategy"].model_dump()
    if hasattr(merged.get("webhooks"), "model_dump"):
        merged["webhooks"] = merged["webhooks"].model_dump()

    problems: list[ErrorDetail] = []
    if "scheduled_at" in given and given["scheduled_at"] is not None:
        merged["scheduled_at"] = _aware(given["scheduled_at"], merged["timezone"])
        if "schedule_type" not in given:
            merged["schedule_type"] = "scheduled"
        if merged["scheduled_at"] < now:
            problems.append(ErrorDetail("scheduled_at", "must not be in the past"))
    if given.get("schedule_type") == "immediate" and "scheduled_at" not in given:
        merged["scheduled_at"] = None
    if merged["schedule_type"] == "scheduled" and merged["scheduled_at"] is None:
        problems.append(ErrorDetail("scheduled_at", "required when schedule_type is scheduled"))
    if merged["schedule_type"] == "immediate" and merged["scheduled_at"] is not None:
        problems.append(
            ErrorDetail("schedule_type", "immediate campaigns take no scheduled_at; use scheduled")
        )
    if problems:
        raise ValidationFailed("the campaign's settings are not valid", problems)
    try:
        return CampaignSettings.model_validate(merged)
    except ValidationError as error:  # a combination the request model could not see
        raise ValidationFailed(
            "the campaign's settings are not valid",
            [
                ErrorDetail(".".join(str(p) for p in e["loc"]) or "body", e["msg"])
                for e in error.errors()
            ],
        ) from None


def missing_prerequisites(settings: CampaignSettings, pending_contacts: int) -> list[ErrorDetail]:
    """Seed 000: an agent, at least one outbound number, at least one pending contact."""
    missing = []
    if not settings.agent_id:
        missing.append(ErrorDetail("agent_id", "an agent is required to schedule"))
    if not settings.phone_numbers:
        missing.append(ErrorDetail("phone_numbers", "at least one outbound number is required"))
    if pending_contacts < 1:
        missing.append(ErrorDetail("contacts", "at least one pending contact is required"))
    return missing


def plan_start(settings: CampaignSettings, now: datetime) -> datetime:
    """Planning rule 2: nothing before the campaign's start (or now, for immediate)."""
    if settings.schedule_type == "scheduled" and settings.scheduled_at is not None:
        return max(settings.scheduled_at, now)
    return now

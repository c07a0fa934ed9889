"""What the API answers, as models for the OpenAPI document (API.md "Campaign", "Contact",
"Conventions"). The views build these bodies; a test checks every answer against them.

Examples come from the seeds (000: scheduling, 003: options), with dates moved ahead."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from batchcalls.models.campaign import CampaignSettings, CampaignStatus

ContactStatus = Literal[
    "pending", "scheduled", "queued", "in_progress", "completed", "failed", "cancelled", "skipped"
]
ERROR_CODES = {
    400: "`invalid_json` (the body is not JSON, nested deeper than 32 levels or has a number "
    "of more than 100 digits) or `invalid_cursor` (a cursor this list did not issue)",
    401: "`unauthorized`: no API key, or not a known one",
    404: "`not_found`: no such campaign or contact for this tenant (another tenant's id too)",
    405: "`method_not_allowed`",
    409: "`conflict`: the campaign's state does not allow it (e.g. scheduling a cancelled "
    "campaign), or a request with this Idempotency-Key is still running",
    413: "`payload_too_large`: bodies are limited to 5 MB; send larger lists as contact files",
    422: "`validation_error`: `details` names each field and its problem",
}


class Answer(BaseModel):
    """Every answer lists all of its fields, and no other."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class ErrorDetail(Answer):
    field: str = Field(description="The field, dotted for nested ones (`contacts.3.phone_number`).")
    problem: str


class ErrorInfo(Answer):
    code: Literal[
        "invalid_json",
        "invalid_cursor",
        "unauthorized",
        "not_found",
        "method_not_allowed",
        "conflict",
        "payload_too_large",
        "validation_error",
    ]
    message: str
    details: list[ErrorDetail]


class ErrorResponse(Answer):
    """Every error, whatever its status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "validation_error",
                        "message": "the request is not valid",
                        "details": [
                            {
                                "field": "max_calls_per_second",
                                "problem": "Input should be less than or equal to 30",
                            }
                        ],
                    }
                }
            ]
        }
    )

    error: ErrorInfo


class ContactStats(Answer):
    """Contacts of the campaign by status."""

    total: int
    pending: int
    scheduled: int
    queued: int
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    skipped: int


class PlanningProgress(BaseModel):
    """Progress of the plan written in the background."""

    model_config = ConfigDict(extra="allow")

    planned: int
    total: int
    version: int | None = None
    done: bool | None = None


class ContactImport(Answer):
    """A contact file and what its import found (API.md "Contact files")."""

    id: str
    file: str = Field(description="The file's S3 key in the contacts bucket.")
    status: Literal["pending", "running", "completed", "failed"] = Field(
        description="`pending` until the file arrives (an upload URL not used yet)."
    )
    rows: int = Field(description="Data rows read so far (the header not counted).")
    accepted: int = Field(description="Rows stored as new contacts.")
    duplicates: int = Field(
        description="Rows whose number was earlier in the file or in the campaign."
    )
    invalid: int = Field(description="Rows refused (bad number, timezone, state, size...).")
    report_key: str | None = Field(
        description="S3 key of the error report (`<file>.errors.csv`), once there is one."
    )
    error: str | None = Field(description="Why the file as a whole failed.")
    created_at: str
    updated_at: str


class ContactImportDetail(ContactImport):
    """One import, with a presigned GET of its error report (15 minutes)."""

    report_url: str | None


class ContactFileUpload(Answer):
    """Where to PUT the contact file: the URL is valid for 15 minutes, for this key only."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "import_id": "imp_01kbq5hc0g7mxd2sfa",
                    "upload_url": "https://batch-calls-contacts.s3.amazonaws.com/imports/...",
                    "key": "imports/tenant_a/batch_01kbq5hc0g7mxd2sfa/imp_01kbq5hc0g7mxd2sfa/list.csv",
                    "expires_at": "2027-03-01T14:15:00.000Z",
                }
            ]
        }
    )

    import_id: str
    upload_url: str
    key: str
    expires_at: str


CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "id": "batch_01kbq5hc0g7mxd2sfa",
    "name": "Q4 renewals",
    "agent_id": "agent_123",
    "user_id": "user_456",
    "phone_numbers": ["+14155550100"],
    "phone_rotation": "round_robin",
    "schedule_type": "scheduled",
    "scheduled_at": "2027-03-01T14:00:00Z",
    "timezone": "America/New_York",
    "start_time": "09:00",
    "end_time": "18:00",
    "working_days": [1, 2, 3, 4, 5],
    "blackout_dates": [],
    "max_calls_per_day": 500,
    "max_calls_per_second": 12,
    "max_concurrent_calls": 5,
    "pacing": "asap",
    "priority": 7,
    "retry_strategy": {"max_attempts": 3, "no_answer_delay": 3600000, "busy_delay": 300000},
    "respect_contact_timezone": False,
    "legal_hours_guard": True,
    "webhooks": {
        "on_call_complete": "https://api.yourcompany.com/webhooks/call-complete",
        "on_batch_complete": "https://api.yourcompany.com/webhooks/batch-complete",
        "on_batch_failed": None,
    },
    "tags": ["Q4_2025", "lead_qualification", "high_value"],
    "status": "scheduled",
    "stats": {
        "total": 2,
        "pending": 0,
        "scheduled": 2,
        "queued": 0,
        "in_progress": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "skipped": 0,
    },
    "planning": {"version": 1, "planned": 2, "total": 2, "done": True},
    "imports": [],
    "error": None,
    "created_at": "2027-02-26T10:00:00.000Z",
    "updated_at": "2027-02-26T10:00:00.125Z",
}


class Campaign(CampaignSettings):
    """A campaign: its settings after defaults, its state and its counters."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CAMPAIGN_EXAMPLE]})

    id: str
    status: CampaignStatus
    stats: ContactStats
    planning: PlanningProgress | None
    imports: list[ContactImport]
    error: str | None = Field(
        default=None,
        description="Why a `failed` campaign could not go on (as `batch.failed` says: "
        "`agent_not_found: ...`, `unauthorized: ...`, `from_rejected: ...`); null otherwise.",
    )
    created_at: str
    updated_at: str


class InvalidContact(Answer):
    index: int = Field(description="Position of the row in the request's `contacts`.")
    phone_number: str | None
    problem: str


class ContactsReport(Answer):
    """How the rows of a request were judged."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 2,
                    "duplicates": 1,
                    "invalid": [
                        {
                            "index": 3,
                            "phone_number": "+1555",
                            "problem": "phone_number: not a valid phone number",
                        }
                    ],
                }
            ]
        }
    )

    accepted: int
    duplicates: int
    invalid: list[InvalidContact]


class CreatedCampaign(Campaign):
    """The campaign as created; `contacts_report` when the body carried contacts."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    **CAMPAIGN_EXAMPLE,
                    "contacts_report": {"accepted": 2, "duplicates": 0, "invalid": []},
                }
            ]
        },
    )

    contacts_report: ContactsReport | None = None


class Contact(Answer):
    """A contact of a campaign and where its calls stand."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ct_5w1x7n2c3d4e5f6g",
                    "phone_number": "+12125550104",
                    "name": "Ada",
                    "timezone": None,
                    "state": None,
                    "variables": {"plan": "gold"},
                    "status": "scheduled",
                    "scheduled_at": "2027-03-01T14:00:00.000Z",
                    "attempts": 0,
                    "last_outcome": None,
                    "caller_id": "+14155550100",
                    "call_id": None,
                    "timezones": ["America/New_York"],
                    "reason": None,
                    "duration_seconds": None,
                    "summary": None,
                }
            ]
        }
    )

    id: str
    phone_number: str = Field(description="E.164.")
    name: str | None
    timezone: str | None = Field(description="As given; `timezones` is what planning uses.")
    state: str | None = Field(description="US state or territory code, as given.")
    variables: dict[str, str]
    status: ContactStatus
    scheduled_at: str | None = Field(description="When the next call is placed (UTC).")
    attempts: int
    last_outcome: Literal["completed", "no_answer", "busy", "failed", "unknown"] | None
    caller_id: str | None
    call_id: str | None
    timezones: list[str]
    reason: str | None = Field(description="Why a contact was skipped, moved or not called.")
    duration_seconds: int | None
    summary: str | None


class CampaignPage(Answer):
    items: list[Campaign]
    next_cursor: str | None = Field(description="Pass as `?cursor=` for the next page.")


class InvalidNumber(Answer):
    index: int = Field(description="Position of the number in the request's `phone_numbers`.")
    phone_number: str | None
    problem: str


class SuppressionsReport(Answer):
    """How the numbers of a request were judged; valid ones are on the list now."""

    added: int = Field(description="Numbers put on the list by this request.")
    already_suppressed: int = Field(description="Numbers on it before (or twice in the request).")
    invalid: list[InvalidNumber]


class Suppression(Answer):
    phone_number: str = Field(description="E.164.")
    source: Literal["api", "opt_out"] = Field(
        description="`api`: POST /suppressions; `opt_out`: a call outcome with `opt_out: true`."
    )
    created_at: str


class SuppressionPage(Answer):
    items: list[Suppression]
    next_cursor: str | None = Field(description="Pass as `?cursor=` for the next page.")


class TenantSettings(Answer):
    max_calls_per_number_per_24h: int | None = Field(
        description="Calls to one number in any rolling 24 hours, all campaigns; null: no "
        "cap of the tenant's own (state limits still apply, docs/compliance.md)."
    )


class WebhookAttempt(Answer):
    at: str = Field(description="When the attempt started (the `webhook-timestamp`).")
    status_code: int | None = Field(description="The receiver's status; null: no answer.")
    latency_ms: int
    error: str | None = Field(description="Why it failed (`HTTP 500`, a timeout, a refusal).")


class WebhookDelivery(Answer):
    id: str
    event_id: str = Field(description="The event's `eventId`, sent as `webhook-id`.")
    event: str = Field(description="`call.completed`, `batch.completed` or `batch.failed`.")
    url: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int = Field(description="Attempts made, replays included.")
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: str | None
    next_attempt_at: str | None = Field(description="While pending: when the next attempt is due.")
    attempt_log: list[WebhookAttempt] = Field(description="Every attempt, oldest first.")


class WebhookDeliveryPage(Answer):
    items: list[WebhookDelivery]
    next_cursor: str | None = Field(description="Pass as `?cursor=` for the next page.")


class ReplayAccepted(Answer):
    id: str
    status: Literal["pending"]


class WebhookSecret(Answer):
    secret: str = Field(
        description="`whsec_` and the base64 of the key: pass it whole to "
        "`standardwebhooks.Webhook(secret)`."
    )
    previous_valid_until: str | None = Field(
        description="After a rotation: until when the previous secret still signs too."
    )


class UnplaceableContact(Answer):
    contact_id: str
    reason: str = Field(description="`suppressed`, `no_allowed_window` or `beyond_horizon`.")


class PlanPreview(Answer):
    """What planning the campaign now would do; nothing is written."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "first_call_at": "2027-03-01T14:00:00.000Z",
                    "last_call_at": "2027-03-02T15:10:00.000Z",
                    "finish_estimate": "2027-03-02T15:10:00.000Z",
                    "calls_per_day": {"2027-03-01": 500, "2027-03-02": 120},
                    "contacts_previewed": 622,
                    "more_contacts": False,
                    "unplaceable_counts": {"suppressed": 2},
                    "delayed_counts": {"state_rule:FL": 14, "frequency_limit": 3},
                    "unplaceable": [
                        {"contact_id": "ct_5w1x7n2c3d4e5f6g", "reason": "suppressed"},
                        {"contact_id": "ct_8a2b7n2c3d4e5f6h", "reason": "suppressed"},
                    ],
                }
            ]
        }
    )

    first_call_at: str | None
    last_call_at: str | None
    finish_estimate: str | None = Field(description="When the last planned call is due.")
    calls_per_day: dict[str, int] = Field(
        description="First attempts per campaign day (local dates of its timezone)."
    )
    contacts_previewed: int = Field(description="Contacts to plan, as planning would read them.")
    more_contacts: bool = Field(
        description="True when the campaign has more contacts to plan than a preview reads "
        "(100,000): the figures are those of the first 100,000."
    )
    unplaceable_counts: dict[str, int] = Field(
        description="Contacts that cannot be placed, by reason."
    )
    unplaceable: list[UnplaceableContact] = Field(description="The first 100 of them.")
    delayed_counts: dict[str, int] = Field(
        description="Contacts that will be called, but later than the campaign's own hours "
        "would allow, by the rule that holds them back (`frequency_limit`, `legal_hours`, "
        "`state_rule:<XX>`, `holiday:<calendar>`, `blackout_date`); each keeps it as its "
        "`reason` once planned."
    )


class ContactPage(Answer):
    items: list[Contact]
    next_cursor: str | None = Field(description="Pass as `?cursor=` for the next page.")


class OutcomeCounts(Answer):
    completed: int
    no_answer: int
    busy: int
    failed: int
    unknown: int = Field(description="No outcome within the call timeout.")


class AttemptStats(Answer):
    total: int = Field(description="Attempts that ended (the sum of `by_outcome`).")
    by_outcome: OutcomeCounts
    per_contact: dict[str, int] = Field(
        description='Contacts by the number of their latest ended attempt: `"2": 40` means 40 '
        "contacts have had exactly two attempts end so far (their second was their last, or "
        "a third is still to come). Every number from 1 to `max_attempts` is listed."
    )


class DurationStats(Answer):
    mean: float | None = Field(description="Exact mean of the completed calls' durations.")
    p50: float | None = Field(
        description="Median, from a fixed histogram: the mean of the bucket holding it (exact "
        "when that bucket holds one value, else within its bounds)."
    )
    p95: float | None = Field(description="95th percentile, as `p50`.")


class DayStats(Answer):
    date: str = Field(description="Local date in the campaign's timezone.")
    planned: int = Field(description="Calls planned for that day: made or still to make.")
    placed: int = Field(description="Calls placed (dialled) that day.")
    completed: int = Field(description="Calls that ended completed that day.")


class HourStats(Answer):
    hour: str = Field(
        description="Start of the local hour, with its UTC offset "
        "(`2026-11-01T01:00:00-04:00`): a fall-back night's two 01:00 stay apart."
    )
    planned: int
    placed: int


class WebhookStats(Answer):
    sent: int
    succeeded: int
    failed: int
    pending: int


class CampaignAnalytics(Answer):
    """A campaign's figures, from counters kept as events happen."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": "batch_01jbz6k2qa7d3xw1mn",
                    "status": "completed",
                    "contacts": {
                        "total": 10,
                        "pending": 0,
                        "scheduled": 0,
                        "queued": 0,
                        "in_progress": 0,
                        "completed": 7,
                        "failed": 3,
                        "cancelled": 0,
                        "skipped": 0,
                    },
                    "attempts": {
                        "total": 14,
                        "by_outcome": {
                            "completed": 7,
                            "no_answer": 4,
                            "busy": 2,
                            "failed": 1,
                            "unknown": 0,
                        },
                        "per_contact": {"1": 7, "2": 0, "3": 3},
                    },
                    "answer_rate": 0.5,
                    "duration_seconds": {"mean": 60.0, "p50": 60.0, "p95": 60.0},
                    "per_day": [
                        {"date": "2027-03-01", "planned": 14, "placed": 14, "completed": 7}
                    ],
                    "per_hour": [
                        {"hour": "2027-03-01T09:00:00-05:00", "planned": 10, "placed": 10},
                        {"hour": "2027-03-01T10:00:00-05:00", "planned": 4, "placed": 4},
                    ],
                    "finish_estimate": None,
                    "webhooks": {"sent": 15, "succeeded": 15, "failed": 0, "pending": 0},
                }
            ]
        }
    )

    batch_id: str
    status: CampaignStatus
    contacts: ContactStats
    attempts: AttemptStats
    answer_rate: float | None = Field(
        description="Completed attempts / ended attempts (0..1); null before any ended."
    )
    duration_seconds: DurationStats
    per_day: list[DayStats]
    per_hour: list[HourStats]
    finish_estimate: str | None = Field(
        description="The planned time of the last open call; null when none is left."
    )
    webhooks: WebhookStats

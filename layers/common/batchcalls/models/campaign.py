"""Campaign settings (the normalised, stored form) and the create/patch request bodies."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from batchcalls.domain.holiday_calendars import check_calendar
from batchcalls.domain.phones import (
    InvalidPhoneNumber,
    is_known_timezone,
    is_region_code,
    normalise_e164,
)
from batchcalls.models.base import ApiModel

MAX_CONTACTS_PER_REQUEST = 10_000
# Dates and instants the API takes: far enough for any campaign, near enough that no
# conversion between timezones overflows Python's datetime (years 1..9999).
FIRST_YEAR, LAST_YEAR = 2000, 2099
# A contact's size is capped so its item (with the provider's summary, up to 10,000
# characters) always fits DynamoDB's 400 KB: name <= 200 characters, at most
# MAX_VARIABLES variables, names <= 100 characters, values <= 4,000 characters, and
# names and values together <= MAX_VARIABLES_BYTES bytes of UTF-8.
MAX_VARIABLES = 100
MAX_VARIABLES_BYTES = 32_768
MAX_PHONE_LENGTH = 64
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

Rotation = Literal["sequential", "random", "round_robin"]
Pacing = Literal["asap", "spread"]
ScheduleType = Literal["immediate", "scheduled"]
CampaignStatus = Literal[
    "draft", "scheduled", "active", "paused", "completed", "cancelled", "failed"
]


def _timezone(value: str) -> str:
    if not is_known_timezone(value):
        raise ValueError(f"unknown IANA timezone '{value}' (e.g. America/New_York)")
    return value


def _start_time(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("must be HH:MM between 00:00 and 23:59")
    return value


def _end_time(value: str) -> str:
    if value != "24:00" and not _HHMM.match(value):
        raise ValueError("must be HH:MM between 00:01 and 24:00")
    return value


def _e164(value: str) -> str:
    try:
        return normalise_e164(value)
    except InvalidPhoneNumber as error:
        raise ValueError(str(error)) from None


def _in_supported_years(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31")
    return value


# USPS codes of the states, DC and the territories with NANP numbers (API.md: a contact's
# `state`, for the state calling-time rules).
US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
    ]
)


def _us_state(value: str) -> str:
    code = value.strip().upper()
    if code not in US_STATES:
        raise ValueError("must be a US state or territory code such as FL")
    return code


def _variables_size(variables: dict[str, str] | None) -> dict[str, str] | None:
    if variables is None:
        return None
    size = sum(len(k.encode()) + len(v.encode()) for k, v in variables.items())
    if size > MAX_VARIABLES_BYTES:
        raise ValueError(
            f"variables take {size} bytes of UTF-8; at most {MAX_VARIABLES_BYTES} are allowed"
        )
    return variables


def _webhook_url(value: str) -> str:
    if len(value) > 2048:
        raise ValueError("URL longer than 2048 characters")
    if value.startswith("https://") and len(value) > len("https://"):
        return value
    # The local stack's sink is plain http on loopback (API.md "Local stack").
    if re.match(r"^http://127\.0\.0\.1(:\d+)?/_local/webhook-sink/", value):
        return value
    raise ValueError("must be an https:// URL")


TimezoneName = Annotated[StrictStr, AfterValidator(_timezone)]
StartTime = Annotated[StrictStr, AfterValidator(_start_time)]
EndTime = Annotated[StrictStr, AfterValidator(_end_time)]
E164 = Annotated[StrictStr, AfterValidator(_e164)]
WebhookUrl = Annotated[StrictStr, AfterValidator(_webhook_url)]
HolidayCalendar = Annotated[StrictStr, Field(max_length=12), AfterValidator(check_calendar)]
UsState = Annotated[
    StrictStr,
    Field(max_length=8, description="US state or territory code (USPS), e.g. `FL`."),
    AfterValidator(_us_state),
]
Tag = Annotated[StrictStr, Field(min_length=1, max_length=100)]
Weekday = Annotated[StrictInt, Field(ge=1, le=7)]
ScheduledAt = Annotated[
    datetime,
    AfterValidator(_in_supported_years),
    Field(
        description="ISO 8601; a naive value is read in `timezone`. Not in the past, "
        f"years {FIRST_YEAR}..{LAST_YEAR}."
    ),
]
CalendarDate = Annotated[date, AfterValidator(_in_supported_years)]
VariableName = Annotated[StrictStr, Field(min_length=1, max_length=100)]
VariableValue = Annotated[StrictStr, Field(max_length=4_000)]


class ContactIn(ApiModel):
    """One contact row. Its size is capped so that a stored contact always fits a
    DynamoDB item (400 KB) whatever happens to it later."""

    phone_number: Annotated[
        StrictStr,
        Field(
            min_length=1,
            max_length=MAX_PHONE_LENGTH,
            description="Any format `phonenumbers` reads with a country code; stored in E.164.",
        ),
    ]
    name: Annotated[StrictStr, Field(max_length=200)] | None = None
    timezone: TimezoneName | None = None
    state: UsState | None = None
    variables: (
        Annotated[
            dict[VariableName, VariableValue],
            Field(
                max_length=MAX_VARIABLES,
                description=f"At most {MAX_VARIABLES} variables: names of 1..100 characters, "
                f"values of up to 4,000, all names and values together at most "
                f"{MAX_VARIABLES_BYTES:,} bytes of UTF-8. Passed to the agent with the call.",
            ),
            AfterValidator(_variables_size),
        ]
        | None
    ) = None

    extra_spellings: ClassVar[dict[str, tuple[str, ...]]] = {"phone_number": ("phone",)}


# Rows are judged one by one (a bad row is reported, the others are kept), so the body
# takes any list; the document shows what a good row is.
# (The schema is worked out when the document is, not at import: handlers that never
# write the document don't pay for it.)
def _contact_rows_schema(schema: dict[str, Any]) -> None:
    schema.clear()
    schema.update(
        {
            "type": "array",
            "maxItems": MAX_CONTACTS_PER_REQUEST,
            "items": ContactIn.model_json_schema(),
            "description": "Judged row by row: an invalid row is reported in the answer "
            "(`invalid`), the others are stored.",
        }
    )


ContactRows = Annotated[
    list[Any],
    Field(max_length=MAX_CONTACTS_PER_REQUEST, json_schema_extra=_contact_rows_schema),
]


# Examples shown in the OpenAPI document, from the seeds (000: scheduling, 003: options)
# with dates moved ahead and, where the seed has a placeholder, real values.
SEED_003_RETRY = {"maxAttempts": 3, "noAnswerDelay": 3600000, "busyDelay": 300000}
SEED_003_WEBHOOKS = {
    "onBatchComplete": "https://api.yourcompany.com/webhooks/batch-complete",
    "onCallComplete": "https://api.yourcompany.com/webhooks/call-complete",
}
SEED_CONTACTS = [
    {"phone_number": "+12125550104", "name": "Ada"},
    {"phone_number": "+13125550188", "variables": {"plan": "gold"}},
]


class RetryStrategy(ApiModel):
    schema_examples: ClassVar[list[dict[str, Any]]] = [SEED_003_RETRY]

    max_attempts: StrictInt = Field(default=3, ge=1, le=5)
    no_answer_delay: StrictInt = Field(default=3_600_000, ge=0, le=30 * 86_400_000)
    busy_delay: StrictInt = Field(default=300_000, ge=0, le=30 * 86_400_000)


class Webhooks(ApiModel):
    schema_examples: ClassVar[list[dict[str, Any]]] = [SEED_003_WEBHOOKS]

    on_call_complete: WebhookUrl | None = None
    on_batch_complete: WebhookUrl | None = None
    on_batch_failed: WebhookUrl | None = None


class SchedulingFields(ApiModel):
    """Fields that decide when calls happen; a change to any of them re-plans."""

    schedule_type: ScheduleType | None = None
    scheduled_at: ScheduledAt | None = None
    timezone: TimezoneName | None = None
    start_time: StartTime | None = None
    end_time: EndTime | None = None
    working_days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = None
    blackout_dates: Annotated[list[CalendarDate], Field(max_length=366)] | None = None
    holiday_calendars: (
        Annotated[
            list[HolidayCalendar],
            Field(
                max_length=20,
                description="Codes of the `holidays` package: a country (`US`, `GB`) or a "
                "country and a subdivision (`US-TX`, `DE-BY`). No window starts on their "
                "public holidays, as on a blackout date.",
            ),
        ]
        | None
    ) = None
    max_calls_per_day: Annotated[StrictInt, Field(ge=1, le=10_000_000)] | None = None
    max_calls_per_second: Annotated[StrictInt, Field(ge=1, le=30)] | None = None
    max_concurrent_calls: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    pacing: Pacing | None = None
    respect_contact_timezone: StrictBool | None = None
    legal_hours_guard: StrictBool | None = None
    state_rules: (
        Annotated[
            StrictBool,
            Field(
                description="Also apply the calling-time rules of the recipient's US state "
                "(its `state`, else its number's area code): stricter hours, barred days, "
                "state holidays (docs/state-rules.md). Only narrows."
            ),
        ]
        | None
    ) = None
    retry_strategy: RetryStrategy | None = None
    phone_numbers: Annotated[list[E164], Field(max_length=100)] | None = None
    phone_rotation: Rotation | None = None
    agent_id: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None

    extra_spellings: ClassVar[dict[str, tuple[str, ...]]] = {
        "scheduled_at": ("scheduled_start_time",),
    }

    @field_validator("working_days")
    @classmethod
    def _distinct_days(cls, days: list[int] | None) -> list[int] | None:
        return None if days is None else sorted(set(days))

    @field_validator("blackout_dates")
    @classmethod
    def _distinct_dates(cls, dates: list[date] | None) -> list[date] | None:
        return None if dates is None else sorted(set(dates))

    @field_validator("holiday_calendars")
    @classmethod
    def _distinct_calendars(cls, codes: list[str] | None) -> list[str] | None:
        return None if codes is None else sorted(set(codes))

    @field_validator("phone_numbers")
    @classmethod
    def _distinct_numbers(cls, numbers: list[str] | None) -> list[str] | None:
        if numbers is not None and len(set(numbers)) != len(numbers):
            raise ValueError("an outbound number is listed twice")
        return numbers


class LabelFields(ApiModel):
    """Fields that do not affect the plan."""

    name: Annotated[StrictStr, Field(max_length=200)] | None = None
    user_id: Annotated[StrictStr, Field(max_length=200)] | None = None
    priority: Annotated[StrictInt, Field(ge=1, le=10)] | None = None
    webhooks: Webhooks | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None


class CreateOptions(ApiModel):
    """The `options` object of seed 003."""

    schema_examples: ClassVar[list[dict[str, Any]]] = [
        {
            "priority": 5,
            "maxCallsPerSecond": 10,
            "scheduledStartTime": "2027-03-01T14:00:00.000Z",
            "timezone": "UTC",
            "retryStrategy": SEED_003_RETRY,
            "webhooks": SEED_003_WEBHOOKS,
            "tags": ["Q4_campaign", "high_priority"],
        }
    ]

    priority: Annotated[StrictInt, Field(ge=1, le=10)] | None = None
    max_calls_per_second: Annotated[StrictInt, Field(ge=1, le=30)] | None = None
    scheduled_at: ScheduledAt | None = None
    timezone: TimezoneName | None = None
    retry_strategy: RetryStrategy | None = None
    webhooks: Webhooks | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None

    extra_spellings: ClassVar[dict[str, tuple[str, ...]]] = {
        "scheduled_at": ("scheduled_start_time",),
    }


class CreateCampaignRequest(SchedulingFields, LabelFields):
    schema_examples: ClassVar[list[dict[str, Any]]] = [
        {  # seed 000, option A: scheduling given on creation
            "name": "Q4 renewals",
            "agent_id": "agent_123",
            "phone_numbers": ["+14155550100", "+14155550101"],
            "schedule_type": "scheduled",
            "scheduled_at": "2027-03-01T09:00:00",
            "timezone": "America/New_York",
            "start_time": "09:00",
            "end_time": "18:00",
            "working_days": [1, 2, 3, 4, 5],
            "max_calls_per_day": 500,
            "max_concurrent_calls": 5,
            "contacts": SEED_CONTACTS,
        },
        {  # seed 003, "Complete Example", with outbound numbers and real contacts
            "agentId": "agent_123",
            "userId": "user_456",
            "phoneNumbers": ["+14155550100"],
            "contacts": SEED_CONTACTS,
            "options": {
                "priority": 7,
                "maxCallsPerSecond": 12,
                "scheduledStartTime": "2027-03-01T14:00:00.000Z",
                "timezone": "America/New_York",
                "retryStrategy": SEED_003_RETRY,
                "webhooks": SEED_003_WEBHOOKS,
                "tags": ["Q4_2025", "lead_qualification", "high_value"],
            },
        },
        {  # seed 000, option B: a draft, then contacts, then POST .../schedule
            "status": "draft",
            "agentId": "agent_123",
            "phoneNumbers": ["+14155550100"],
        },
    ]

    status: Literal["draft"] | None = None
    contacts: ContactRows | None = None
    options: CreateOptions | None = None

    @model_validator(mode="after")
    def _options_do_not_repeat_fields(self) -> CreateCampaignRequest:
        if self.options is None:
            return self
        for name in self.options.model_fields_set:
            if name in self.model_fields_set:
                raise ValueError(f"'{name}' is given both at the top level and in options")
        return self

    def merged_fields(self) -> dict[str, Any]:
        """Top-level fields and options as one flat dict of the fields that were given."""
        fields = {name: getattr(self, name) for name in self.model_fields_set}
        fields.pop("options", None)
        if self.options is not None:
            fields.update({n: getattr(self.options, n) for n in self.options.model_fields_set})
        return fields


class PatchCampaignRequest(SchedulingFields, LabelFields):
    """Only the fields given change; `null` clears an optional field."""

    schema_examples: ClassVar[list[dict[str, Any]]] = [
        {"start_time": "10:00"},  # seed 000: adjust the schedule later
        {"max_calls_per_day": 300, "working_days": [1, 2, 3, 4]},
    ]


class PreviewRequest(SchedulingFields):
    """Settings to preview instead of the campaign's own (only those given; the others
    stay as they are)."""

    schema_examples: ClassVar[list[dict[str, Any]]] = [
        {"start_time": "10:00", "max_calls_per_day": 300},
        {"holiday_calendars": ["US"], "state_rules": True},
    ]


class AddContactsRequest(ApiModel):
    schema_examples: ClassVar[list[dict[str, Any]]] = [{"contacts": SEED_CONTACTS}]

    contacts: ContactRows


def _region(value: str) -> str:
    if not is_region_code(value):
        raise ValueError("must be an ISO 3166 region code phonenumbers knows, e.g. US or GB")
    return value.upper()


class ContactFileRequest(ApiModel):
    schema_examples: ClassVar[list[dict[str, Any]]] = [
        {"filename": "renewals.csv", "default_region": "US"}
    ]

    filename: Annotated[
        StrictStr,
        Field(
            min_length=1,
            max_length=200,
            description="The file's name: ends in .csv, .jsonl or .ndjson, optionally .gz.",
        ),
    ]
    default_region: (
        Annotated[
            StrictStr,
            Field(
                max_length=3,
                description="Region of numbers written without a country code (default: "
                "that of the campaign's first outbound number).",
            ),
            AfterValidator(_region),
        ]
        | None
    ) = None


class TenantSettingsRequest(ApiModel):
    """Only the fields given change; `null` removes the cap."""

    schema_examples: ClassVar[list[dict[str, Any]]] = [{"max_calls_per_number_per_24h": 2}]

    max_calls_per_number_per_24h: (
        Annotated[
            StrictInt,
            Field(
                ge=1,
                le=100,
                description="No number is called more often in any rolling 24 hours, "
                "across all the tenant's campaigns (every attempt counts).",
            ),
        ]
        | None
    ) = None


class SuppressRequest(ApiModel):
    schema_examples: ClassVar[list[dict[str, Any]]] = [
        {"phone_numbers": ["+12125550104", "+13125550188"]}
    ]

    # Judged one by one (a bad number is reported, the others kept), so the body takes
    # any list; the document shows what a good entry is.
    phone_numbers: Annotated[
        list[Any],
        Field(min_length=1, max_length=MAX_CONTACTS_PER_REQUEST),
        WithJsonSchema(
            {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_CONTACTS_PER_REQUEST,
                "items": {"type": "string", "description": "A phone number with its country code."},
            }
        ),
    ]


class CampaignSettings(BaseModel):
    """A campaign's settings after defaults: what the planner and delivery read."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str | None = None
    agent_id: str | None = None
    user_id: str | None = None
    phone_numbers: list[str] = []
    phone_rotation: Rotation = "round_robin"
    schedule_type: ScheduleType = "immediate"
    scheduled_at: datetime | None = None
    timezone: str = "UTC"
    start_time: str = "00:00"
    end_time: str = "24:00"
    working_days: list[int] = [1, 2, 3, 4, 5, 6, 7]
    blackout_dates: list[date] = []
    holiday_calendars: list[str] = []
    max_calls_per_day: int | None = None
    max_calls_per_second: int = 10
    max_concurrent_calls: int = 10
    pacing: Pacing = "asap"
    priority: int = 5
    retry_strategy: RetryStrategy = RetryStrategy()
    respect_contact_timezone: bool = False
    legal_hours_guard: bool = True
    state_rules: bool = True
    webhooks: Webhooks = Webhooks()
    tags: list[str] = []

    def window(self) -> tuple[time, time | None]:
        """Daily window start and end (`None` end means 24:00)."""
        start = time.fromisoformat(self.start_time)
        end = None if self.end_time == "24:00" else time.fromisoformat(self.end_time)
        return start, end

"""The voice provider's callback (API.md "Provider"): what it posts and what it gets back."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr


class ProviderOutcome(BaseModel):
    """A call outcome posted to `POST /provider/events`; fields not listed are ignored."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "call_id": "call_0123456789abcdef01234567",
                    "status": "completed",
                    "duration_seconds": 180,
                    "summary": "Call summary text...",
                }
            ]
        },
    )

    call_id: StrictStr = Field(min_length=1, max_length=200)
    status: Literal["completed", "no_answer", "busy", "failed"]
    duration_seconds: int | None = Field(default=None, ge=0, le=7 * 86_400)
    summary: StrictStr | None = Field(default=None, max_length=10_000)
    opt_out: StrictBool = Field(
        default=False, description="The callee asked not to be called again."
    )


class OutcomeRecorded(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: str
    recorded: bool = Field(description="False for a call_id this deployment never placed.")

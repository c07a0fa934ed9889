"""Domain errors; the API maps each to its HTTP status in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ErrorDetail:
    field: str
    problem: str


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[ErrorDetail] = details or []


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """A transition the state machine does not allow, or a lost conditional write."""

    code = "conflict"


class ValidationFailed(DomainError):
    code = "validation_error"


class InvalidCursor(DomainError):
    """A list cursor the API did not issue (tampered, truncated, another list's): 400."""

    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__(
            "the cursor was not issued by this list",
            [ErrorDetail("cursor", "pass next_cursor of the page before, unchanged")],
        )


@dataclass
class ErrorBody:
    code: str
    message: str
    details: list[ErrorDetail] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": [{"field": d.field, "problem": d.problem} for d in self.details],
            }
        }

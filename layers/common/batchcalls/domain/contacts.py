"""Contacts judged row by row: valid rows are normalised, the rest reported by index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from batchcalls.domain.phones import InvalidPhoneNumber, read_number
from batchcalls.models.campaign import ContactIn


@dataclass(frozen=True)
class NewContact:
    phone_number: str
    name: str | None
    timezone: str | None
    variables: dict[str, str]
    timezones: tuple[str, ...]
    state: str | None = None


@dataclass(frozen=True)
class RejectedRow:
    index: int
    phone_number: Any
    problem: str

    def as_dict(self) -> dict[str, Any]:
        phone = self.phone_number if isinstance(self.phone_number, str) else None
        return {"index": self.index, "phone_number": phone, "problem": self.problem}


@dataclass
class JudgedContacts:
    accepted: list[NewContact] = field(default_factory=list)
    duplicates: int = 0
    invalid: list[RejectedRow] = field(default_factory=list)


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def judge_row(row: Any, default_region: str | None = None) -> NewContact | str:
    """One row as a contact to store, or the reason it is refused. A number without a
    country code is read in `default_region` if given (contact files)."""
    try:
        contact = ContactIn.model_validate(row)
        number = read_number(contact.phone_number, default_region)
    except ValidationError as error:
        return _problem(error)
    except InvalidPhoneNumber as error:
        return f"phone_number: {error}"
    return NewContact(
        phone_number=number.e164,
        name=contact.name,
        timezone=contact.timezone,
        variables=dict(contact.variables or {}),
        timezones=number.zones_for(contact.timezone),
        state=contact.state,
    )


def judge_contacts(rows: list[Any]) -> JudgedContacts:
    """Each row is accepted, a duplicate (same E.164 number earlier in the list), or invalid."""
    judged = JudgedContacts()
    seen: set[str] = set()
    for index, row in enumerate(rows):
        verdict = judge_row(row)
        if isinstance(verdict, str):
            raw_phone = (
                row.get("phone_number", row.get("phoneNumber")) if isinstance(row, dict) else None
            )
            judged.invalid.append(RejectedRow(index, raw_phone, verdict))
        elif verdict.phone_number in seen:
            judged.duplicates += 1
        else:
            seen.add(verdict.phone_number)
            judged.accepted.append(verdict)
    return judged

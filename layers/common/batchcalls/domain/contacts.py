"""Contacts judged row by row: valid rows are normalised, the rest reported by index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from batchcalls.domain.phones import InvalidPhoneNumber, normalise_e164, timezones_for_contact
from batchcalls.models.campaign import ContactIn


@dataclass(frozen=True)
class NewContact:
    phone_number: str
    name: str | None
    timezone: str | None
    variables: dict[str, str]
    timezones: tuple[str, ...]


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


def judge_contacts(rows: list[Any]) -> JudgedContacts:
    """Each row is accepted, a duplicate (same E.164 number earlier in the list), or invalid."""
    judged = JudgedContacts()
    seen: set[str] = set()
    for index, row in enumerate(rows):
        raw_phone = (
            row.get("phone_number", row.get("phoneNumber")) if isinstance(row, dict) else None
        )
        try:
            contact = ContactIn.model_validate(row)
            e164 = normalise_e164(contact.phone_number)
        except ValidationError as error:
            judged.invalid.append(RejectedRow(index, raw_phone, _problem(error)))
            continue
        except InvalidPhoneNumber as error:
            judged.invalid.append(RejectedRow(index, raw_phone, f"phone_number: {error}"))
            continue
        if e164 in seen:
            judged.duplicates += 1
            continue
        seen.add(e164)
        judged.accepted.append(
            NewContact(
                phone_number=e164,
                name=contact.name,
                timezone=contact.timezone,
                variables=dict(contact.variables or {}),
                timezones=timezones_for_contact(e164, contact.timezone),
            )
        )
    return judged

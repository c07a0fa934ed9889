"""The tenant's do-not-call list over the API (API.md "Calling-time rules": Do-not-call)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchcalls.adapters.campaign_store import Page
from batchcalls.adapters.suppressions import SuppressionStore
from batchcalls.clock import Clock
from batchcalls.domain.phones import InvalidPhoneNumber, normalise_e164
from batchcalls.errors import NotFound


@dataclass
class SuppressionsReport:
    added: int
    already_suppressed: int
    invalid: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "already_suppressed": self.already_suppressed,
            "invalid": self.invalid,
        }


class SuppressionService:
    def __init__(self, clock: Clock, store: SuppressionStore | None = None) -> None:
        self.clock = clock
        self.store = store or SuppressionStore()

    def add(self, tenant_id: str, phone_numbers: list[Any]) -> SuppressionsReport:
        """Each number judged as a contact's is (E.164); the valid ones suppressed, the
        others reported by index. Numbers suppressed already keep their source and time."""
        valid: list[str] = []
        invalid = []
        for index, raw in enumerate(phone_numbers):
            try:
                valid.append(normalise_e164(raw))
            except InvalidPhoneNumber as error:
                shown = raw if isinstance(raw, str) else None
                invalid.append({"index": index, "phone_number": shown, "problem": str(error)})
        unique = list(dict.fromkeys(valid))
        added = self.store.add_many(tenant_id, unique, "api", self.clock.now())
        return SuppressionsReport(added, len(valid) - added, invalid)

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> Page:
        return self.store.page(tenant_id, limit, cursor)

    def remove(self, tenant_id: str, phone_number: str) -> None:
        """The number may be called again (contacts skipped for it stay skipped)."""
        try:
            number = normalise_e164(phone_number)
        except InvalidPhoneNumber:
            raise NotFound("no such suppressed number") from None
        if not self.store.remove(tenant_id, number):
            raise NotFound("no such suppressed number")

"""Imports of contact files: one item per import in the Coordination table
(`import#<tenant>#<campaign>` / `<import id>`), holding its status, its counts and where
the file's reading stands (byte offset and line), so a chunk resumes where the last one
committed. Every write bumps the item's `version` and is conditional on the version it
read: two invocations on the same import (a redelivered message) cannot both advance it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from batchcalls.adapters.tables import ImportItem
from batchcalls.adapters.transactions import Transaction, conditional
from batchcalls.errors import NotFound

KEEP_SECONDS = 400 * 86_400  # an import's record outlives its campaign's usual life
# An upload URL lives 15 minutes: a `pending` import whose file never came goes after a day.
KEEP_PENDING_SECONDS = 86_400


def imports_pk(tenant_id: str, campaign_id: str) -> str:
    return f"import#{tenant_id}#{campaign_id}"


@dataclass
class ImportState:
    """An import as stored. `offset` and `line`: where the next record starts (bytes
    into the file, after decompression; the number of the last line read). `object_tag`:
    the S3 object version (or ETag) this import reads: one version, one import."""

    import_id: str
    tenant_id: str
    campaign_id: str
    key: str
    filename: str
    status: str  # pending | running | completed | failed
    created_at: str
    updated_at: str
    default_region: str | None = None
    object_tag: str | None = None
    format: str | None = None
    gzipped: bool = False
    header: dict[str, Any] | None = None
    offset: int = 0
    line: int = 0
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    invalid: int = 0
    report_parts: list[int] = field(default_factory=list)
    report_key: str | None = None
    error: str | None = None
    chunks: int = 0
    version: int = 0

    def as_item(self) -> ImportItem:
        data = asdict(self)
        return ImportItem(
            pk=imports_pk(self.tenant_id, self.campaign_id),
            sk=self.import_id,
            version=data.pop("version"),
            data=data,
        )

    @classmethod
    def from_item(cls, item: ImportItem) -> ImportState:
        return cls(**dict(item.data), version=int(item.version))

    def view(self) -> dict[str, Any]:
        return {
            "id": self.import_id,
            "file": self.key,
            "status": self.status,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "report_key": self.report_key,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class ImportStore:
    def create(self, state: ImportState) -> bool:
        """Store a new import; False if one with its id exists already."""
        item = state.as_item()
        item.ttl = _ttl(state)
        return conditional(
            lambda: item.save(condition=ImportItem.sk.does_not_exist()), "create import"
        )

    def get(self, tenant_id: str, campaign_id: str, import_id: str) -> ImportState:
        try:
            item = ImportItem.get(
                imports_pk(tenant_id, campaign_id), import_id, consistent_read=True
            )
        except DoesNotExist:
            raise NotFound("no such import") from None
        return ImportState.from_item(item)

    def find(self, tenant_id: str, campaign_id: str, import_id: str) -> ImportState | None:
        try:
            return self.get(tenant_id, campaign_id, import_id)
        except NotFound:
            return None

    def of_campaign(self, tenant_id: str, campaign_id: str) -> list[ImportState]:
        """The campaign's imports, oldest first."""
        found = [
            ImportState.from_item(item)
            for item in ImportItem.query(imports_pk(tenant_id, campaign_id), consistent_read=True)
        ]
        return sorted(found, key=lambda s: (s.created_at, s.import_id))

    def advance(self, after: ImportState) -> bool:
        """Write `after` only if the stored import is still at the version it was read
        in (`after.version`), bumping it; False if another invocation moved it meanwhile."""
        item = self._next(after)
        written = conditional(
            lambda: item.save(condition=ImportItem.version == after.version), "advance import"
        )
        if written:
            after.version += 1
        return written

    def advance_in(self, tx: Transaction, after: ImportState) -> None:
        """As `advance`, written in `tx` (with what else must commit with it); the caller
        bumps `after.version` once `tx` committed."""
        tx.put(self._next(after), ImportItem.version == after.version, label="import")

    @staticmethod
    def _next(after: ImportState) -> ImportItem:
        item = after.as_item()
        item.version = after.version + 1
        item.ttl = _ttl(after)
        return item


def _ttl(state: ImportState) -> int:
    keep = KEEP_PENDING_SECONDS if state.status == "pending" else KEEP_SECONDS
    return int(datetime.fromisoformat(state.updated_at.replace("Z", "+00:00")).timestamp()) + keep

"""Contact-file imports (API.md "Contact files"): the upload URL the API hands out, and the
importer's work on each file, chunk by chunk.

A file is read from where the import's last committed batch ended. Each batch of rows is
judged, its new contacts written (each only if its number is not in the campaign yet,
marked with `<import id>:<line>`), its refused rows written to a report part, then the
import's place in the file and its counts advance in one conditional write. So:
- a crash anywhere re-reads at most one batch: its contacts are found again by their
  mark and counted once, its report part is written again under the same key;
- two invocations on one import (a message delivered twice) cannot both advance it: the
  loser stops at its next commit;
- a chunk stops after `chunk_seconds` (or `chunk_rows`) and sends the import's next
  message to the import queue; if it dies first, its own message comes back.
The end (completed or failed) commits with its `import.*` event and, in a campaign that
is calling, the re-plan that takes the new contacts in, all in one transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import unquote_plus

from batchcalls.adapters.campaign_store import CampaignStore, settings_of
from batchcalls.adapters.contact_file_bucket import (
    URL_SECONDS,
    ContactFileBucket,
    FileChanged,
    object_tag,
)
from batchcalls.adapters.contact_store import ContactStore
from batchcalls.adapters.import_store import ImportState, ImportStore
from batchcalls.adapters.outbox import add_event
from batchcalls.adapters.tables import CampaignRecord
from batchcalls.adapters.transactions import ConditionFailed, transaction
from batchcalls.clock import Clock, to_epoch_ms, to_iso
from batchcalls.domain import campaigns as rules
from batchcalls.domain.contact_files import (
    FileRefused,
    Header,
    Record,
    csv_records,
    file_kind,
    jsonl_records,
    read_csv_header,
)
from batchcalls.domain.contacts import NewContact, judge_row
from batchcalls.domain.outcomes import import_finished_body
from batchcalls.domain.phones import region_of
from batchcalls.errors import Conflict, ErrorDetail, NotFound, ValidationFailed
from batchcalls.ids import contact_id_for
from batchcalls.observability import logger, metrics

IMPORTS_PREFIX = "imports/"
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()-]{0,199}$")
_IMPORT_ID = re.compile(r"^imp_[0-9a-z]{20}$")
CONTACTS_PER_TRANSACTION = 96  # + one counter item: DynamoDB takes 100 per transaction


class NextChunk(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...


@dataclass
class Batch:
    """What one batch of rows found."""

    refused: list[tuple[int, str | None, str]] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    invalid: int = 0


def new_import_id() -> str:
    return "imp_" + secrets.token_hex(10)


def derived_import_id(key: str, tag: str) -> str:
    """The import of a file dropped without the API: one per object version."""
    return "imp_" + hashlib.sha256(f"{key}|{tag}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class DroppedFile:
    tenant_id: str
    campaign_id: str
    named_import: str | None  # the import id in the key, as the API lays it out
    filename: str


def parse_key(key: str) -> DroppedFile | None:
    """`imports/<tenant>/<batch_id>/[<import_id>/]<filename>`; None for anything else."""
    parts = key.split("/")
    if len(parts) < 4 or parts[0] + "/" != IMPORTS_PREFIX or not all(parts[1:]):
        return None
    named = parts[3] if len(parts) >= 5 and _IMPORT_ID.match(parts[3]) else None
    return DroppedFile(parts[1], parts[2], named, parts[-1])


def is_report_key(key: str) -> bool:
    """The importer's own reports, written beside the files (not contact files)."""
    return key.endswith(".errors.csv") or ".errors.parts/" in key


class ImportService:
    def __init__(
        self,
        clock: Clock,
        bucket: ContactFileBucket,
        next_chunk: NextChunk | None = None,
        campaigns: CampaignStore | None = None,
        contacts: ContactStore | None = None,
        imports: ImportStore | None = None,
        batch_rows: int = 2000,
        chunk_rows: int = 500_000,
        chunk_seconds: float = 90.0,
    ) -> None:
        self.clock = clock
        self.bucket = bucket
        self.next_chunk = next_chunk
        self.campaigns = campaigns or CampaignStore()
        self.contacts = contacts or ContactStore()
        self.imports = imports or ImportStore()
        self.batch_rows = batch_rows
        self.chunk_rows = chunk_rows
        self.chunk_seconds = chunk_seconds

    # ------------------------------------------------------------------ the API
    def start_upload(
        self, tenant_id: str, campaign_id: str, filename: str, default_region: str | None
    ) -> dict[str, Any]:
        """A pending import and a presigned PUT for exactly its key."""
        record = self.campaigns.get(tenant_id, campaign_id)
        rules.require_transition("edit", record.status)
        if not _FILENAME.match(filename):
            raise ValidationFailed(
                "invalid filename",
                [
                    ErrorDetail(
                        "filename",
                        "1..200 characters: letters, digits, space, . _ - ( ), "
                        "not starting with a symbol",
                    )
                ],
            )
        try:
            file_kind(filename, b"")
        except FileRefused as error:
            raise ValidationFailed(
                "invalid filename", [ErrorDetail("filename", str(error))]
            ) from None
        now = self.clock.now()
        import_id = new_import_id()
        key = f"{IMPORTS_PREFIX}{tenant_id}/{campaign_id}/{import_id}/{filename}"
        state = ImportState(
            import_id=import_id,
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            key=key,
            filename=filename,
            status="pending",
            created_at=to_iso(now),
            updated_at=to_iso(now),
            default_region=default_region.upper() if default_region else None,
        )
        self.imports.create(state)
        return {
            "import_id": import_id,
            "upload_url": self.bucket.upload_url(key),
            "key": key,
            "expires_at": to_iso(now + timedelta(seconds=URL_SECONDS)),
        }

    def get(self, tenant_id: str, campaign_id: str, import_id: str) -> dict[str, Any]:
        """One import, with a presigned GET of its error report."""
        self.campaigns.get(tenant_id, campaign_id)
        if not _IMPORT_ID.match(import_id):
            raise NotFound("no such import")
        state = self.imports.get(tenant_id, campaign_id, import_id)
        url = self.bucket.download_url(state.report_key) if state.report_key else None
        return {**state.view(), "report_url": url}

    # ------------------------------------------------------------------ the importer
    def on_object(self, raw_key: str, version_id: str | None, etag: str | None) -> None:
        """An object was put in the bucket (its S3 notification, maybe again)."""
        key = unquote_plus(raw_key)
        if is_report_key(key):
            return
        dropped = parse_key(key)
        if dropped is None:
            self._refuse(key, "not under imports/<tenant>/<batch_id>/")
            return
        try:
            record = self.campaigns.get(dropped.tenant_id, dropped.campaign_id)
        except NotFound:
            self._refuse(key, f"tenant {dropped.tenant_id} has no campaign {dropped.campaign_id}")
            return
        tag = object_tag(version_id, etag)
        state = self._claim(record, dropped, key, tag)
        if state is not None:
            self.run(state)

    def on_next_chunk(self, message: dict[str, Any]) -> None:
        state = self.import_of_chunk(message)
        if state is not None:
            self.run(state)

    def give_up(self, state: ImportState | None, error: str) -> None:
        """The last delivery of a message failed too: its import ends `failed` (what was
        imported stays) instead of staying `running` with its message in the DLQ."""
        if state is not None and state.status == "running":
            self._finish(state, f"the import kept failing: {error}")

    def import_of_chunk(self, message: dict[str, Any]) -> ImportState | None:
        return self.imports.find(
            str(message["tenant_id"]), str(message["campaign_id"]), str(message["import_id"])
        )

    def import_of_object(
        self, raw_key: str, version_id: str | None, etag: str | None
    ) -> ImportState | None:
        """The import an object version started, if it did."""
        key = unquote_plus(raw_key)
        dropped = parse_key(key)
        if dropped is None:
            return None
        tag = object_tag(version_id, etag)
        for import_id in (dropped.named_import, derived_import_id(key, tag)):
            if import_id:
                state = self.imports.find(dropped.tenant_id, dropped.campaign_id, import_id)
                if state is not None and state.object_tag == tag:
                    return state
        return None

    def run(self, state: ImportState) -> None:
        """Import from where `state` stands, for one chunk; then the next chunk's message,
        or the end."""
        if state.status != "running":
            return
        started = time.monotonic()
        try:
            if state.format is None and not self._open(state):
                return
            rows = 0
            records = self._records(state)
            while True:
                batch = _take(records, self.batch_rows)
                if not batch:
                    self._finish(state, None if state.rows else "the file has no contact rows")
                    return
                if not self._import_batch(state, batch):
                    return
                rows += len(batch)
                if rows >= self.chunk_rows or time.monotonic() - started >= self.chunk_seconds:
                    break
        except FileChanged as error:
            self._finish(state, str(error))
            return
        assert self.next_chunk is not None, "a chunked import needs the import queue"
        self.next_chunk.send(
            {
                "tenant_id": state.tenant_id,
                "campaign_id": state.campaign_id,
                "import_id": state.import_id,
            }
        )

    # ------------------------------------------------------------------ internals
    def _claim(
        self, record: CampaignRecord, dropped: DroppedFile, key: str, tag: str
    ) -> ImportState | None:
        """The import this object version belongs to: the API's pending one named in
        the key (the first version put there), else one of its own."""
        tenant_id, campaign_id = record.tenant_id, record.campaign_id
        if dropped.named_import:
            named = self.imports.find(tenant_id, campaign_id, dropped.named_import)
            if named is not None and named.key == key:
                if named.object_tag == tag:
                    return named  # this version's import, delivered again
                if named.status == "pending":
                    claimed = replace(named, status="running", object_tag=tag)
                    claimed.updated_at = to_iso(self.clock.now())
                    if self.imports.advance(claimed):
                        return claimed
                    return self._claim(record, dropped, key, tag)
        import_id = derived_import_id(key, tag)
        existing = self.imports.find(tenant_id, campaign_id, import_id)
        if existing is not None:
            return existing
        now = to_iso(self.clock.now())
        state = ImportState(
            import_id=import_id,
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            key=key,
            filename=dropped.filename,
            status="running",
            created_at=now,
            updated_at=now,
            object_tag=tag,
        )
        if not self.imports.create(state):
            return self.imports.find(tenant_id, campaign_id, import_id)
        return state

    def _open(self, state: ImportState) -> bool:
        """The file's format (and a CSV's header) found and committed; False if the
        import ended (refused file) or another invocation got there first."""
        try:
            kind = file_kind(state.filename, self.bucket.head(state.key, _tag(state)))
            region = state.default_region or campaign_region(
                self.campaigns.get(state.tenant_id, state.campaign_id)
            )
            opened = replace(state, format=kind.format, gzipped=kind.gzipped, default_region=region)
            if kind.format == "csv":
                lines = self.bucket.lines(state.key, _tag(state), kind.gzipped, 0)
                try:
                    header, offset, line = read_csv_header(lines)
                finally:
                    lines.close()
                opened = replace(opened, header=header.as_dict(), offset=offset, line=line)
        except NotFound:
            self._finish(state, "the campaign no longer exists")
            return False
        except (FileRefused, OSError, EOFError) as error:
            # OSError/EOFError: not gzip after all, or a truncated gzip stream.
            self._finish(state, _refusal(error))
            return False
        opened.updated_at = to_iso(self.clock.now())
        if not self.imports.advance(opened):
            return False
        state.__dict__.update(opened.__dict__)
        return True

    def _records(self, state: ImportState) -> Iterator[Record]:
        lines = self.bucket.lines(state.key, _tag(state), state.gzipped, state.offset)
        if state.format == "csv":
            assert state.header is not None
            header = Header.from_dict(state.header)
            return csv_records(lines, header, state.offset, state.line)
        return jsonl_records(lines, state.offset, state.line)

    def _import_batch(self, state: ImportState, records: list[Record]) -> bool:
        """Judge, write and commit one batch; False if the import ended or moved on."""
        found = Batch()
        candidates: list[tuple[Record, NewContact]] = []
        first_line: dict[str, int] = {}
        for record in records:
            verdict = record.problem or judge_row(record.row, state.default_region)
            if isinstance(verdict, str):
                found.invalid += 1
                found.refused.append((record.line, record.raw_phone, verdict))
            elif verdict.phone_number in first_line:
                found.duplicates += 1
                found.refused.append(
                    (
                        record.line,
                        record.raw_phone,
                        f"duplicate of line {first_line[verdict.phone_number]}",
                    )
                )
            else:
                first_line[verdict.phone_number] = record.line
                candidates.append((record, verdict))
        if candidates and not self._write_contacts(state, candidates, found):
            return False
        if found.refused:
            self.bucket.put_report_part(state.key, records[0].line, found.refused)
        last = records[-1]
        after = replace(
            state,
            offset=last.end,
            line=last.last_line,
            rows=state.rows + len(records),
            accepted=state.accepted + found.accepted,
            duplicates=state.duplicates + found.duplicates,
            invalid=state.invalid + found.invalid,
            report_parts=sorted({*state.report_parts, records[0].line})
            if found.refused
            else state.report_parts,
            updated_at=to_iso(self.clock.now()),
        )
        if not self.imports.advance(after):
            logger.info("import moved on elsewhere", import_id=state.import_id)
            return False
        state.__dict__.update(after.__dict__)
        return True

    def _write_contacts(
        self, state: ImportState, candidates: list[tuple[Record, NewContact]], found: Batch
    ) -> bool:
        try:
            record = self.campaigns.get(state.tenant_id, state.campaign_id)
            first_seq = self.campaigns.allocate_sequence(
                record, len(candidates), rules.ALLOWED_FROM["edit"]
            )
        except (Conflict, NotFound):
            line = candidates[0][0].line
            self._finish(
                state,
                f"the campaign no longer takes contacts; rows from line {line} on were not imported",
            )
            return False
        own = [f"{state.import_id}:{r.line}" for r, _ in candidates]
        written = self.contacts.add_each(
            state.tenant_id,
            state.campaign_id,
            [c for _, c in candidates],
            first_seq,
            self.clock.now(),
            origins=own,
            per_transaction=CONTACTS_PER_TRANSACTION,
        )
        taken = [i for i, ok in enumerate(written) if not ok]
        origins = self.contacts.origins(
            state.tenant_id,
            state.campaign_id,
            [contact_id_for(state.campaign_id, candidates[i][1].phone_number) for i in taken],
        )
        found.accepted += len(candidates) - len(taken)
        for i in taken:
            row, contact = candidates[i]
            origin = origins.get(contact_id_for(state.campaign_id, contact.phone_number))
            if origin == own[i]:
                found.accepted += 1  # written by an earlier try of this batch
                continue
            found.duplicates += 1
            if origin and origin.startswith(f"{state.import_id}:"):
                reason = f"duplicate of line {origin.split(':', 1)[1]}"
            else:
                reason = "duplicate: the number is in the campaign already"
            found.refused.append((row.line, row.raw_phone, reason))
        return True

    def _finish(self, state: ImportState, error: str | None) -> None:
        """Completed (or failed, with `error`), with its event and, in a campaign that
        is calling, the re-plan of its new contacts: one transaction."""
        report_key = state.report_key
        if state.report_parts:
            report_key = self.bucket.join_report(state.key, state.report_parts)
        elif error and not state.rows:
            report_key = self.bucket.put_report(state.key, [(0, None, error)])
        for _ in range(5):
            now = self.clock.now()
            after = replace(
                state,
                status="failed" if error else "completed",
                error=error,
                report_key=report_key,
                updated_at=to_iso(now),
            )
            tx = transaction("finish import")
            self.imports.advance_in(tx, after)
            event = import_finished_body(
                state.campaign_id,
                state.import_id,
                state.key,
                {
                    "accepted": state.accepted,
                    "duplicates": state.duplicates,
                    "invalid": state.invalid,
                },
                error,
                to_iso(now),
            )
            add_event(tx, event, None, to_epoch_ms(now), tenant_id=state.tenant_id)
            try:
                campaign = self.campaigns.get(state.tenant_id, state.campaign_id)
            except NotFound:
                campaign = None
            if campaign is not None and state.accepted and campaign.status in rules.DELIVERING:
                self.campaigns.add_plan_request(tx, campaign, rules.DELIVERING, now)
            try:
                tx.commit()
            except ConditionFailed as lost:
                if lost.failed("import"):
                    return  # another invocation finished it
                continue  # the campaign moved (status or plan) meanwhile: read it again
            after.version += 1
            state.__dict__.update(after.__dict__)
            metrics.add_metric(
                name="ImportsFailed" if error else "ImportsCompleted", unit="Count", value=1
            )
            logger.info(
                "import finished",
                import_id=state.import_id,
                status=state.status,
                rows=state.rows,
                accepted=state.accepted,
                error=error,
            )
            return
        raise Conflict("the campaign kept changing while the import finished")

    def _refuse(self, key: str, reason: str) -> None:
        """A file that belongs to no campaign of its tenant: reported, never imported."""
        logger.warning("contact file refused", key=key, reason=reason)
        metrics.add_metric(name="ImportsRefused", unit="Count", value=1)
        self.bucket.put_report(key, [(0, None, f"refused: {reason}")])


def _take(records: Iterator[Record], count: int) -> list[Record]:
    batch = []
    for record in records:
        batch.append(record)
        if len(batch) == count:
            break
    return batch


def _tag(state: ImportState) -> str:
    assert state.object_tag is not None
    return state.object_tag


def _refusal(error: Exception) -> str:
    if isinstance(error, FileRefused):
        return str(error)
    return "not a readable gzip file"


def campaign_region(record: CampaignRecord) -> str | None:
    """A file's default region when none was given: that of the campaign's first
    outbound number (a US caller ID: numbers without a country code are US ones)."""
    numbers = settings_of(record).phone_numbers
    return region_of(numbers[0]) if numbers else None

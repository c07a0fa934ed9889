"""Contact files (API.md "Contact files"): CSV with a header row, or JSONL, read as a stream
of lines and turned into rows judged one by one.

Pure: no AWS. The importer hands in the file's lines (bytes, each with its line ending) and
where to start; this module says which format the file is, maps the header, and yields each
record with the number of the line it starts on and the byte offset just after it, so an
import can stop after any record and resume there in another invocation.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from batchcalls.models.campaign import MAX_VARIABLES

GZIP_MAGIC = b"\x1f\x8b"
# The spellings of the phone column, matched case-insensitively after trimming (API.md).
PHONE_COLUMNS = ("phone_number", "phone", "phone number", "mobile", "phonenumber")
READ_COLUMNS = ("name", "timezone", "state")
# A row is refused (not the file) past these: every other column is a variable, and a
# contact holds at most MAX_VARIABLES of them.
MAX_COLUMNS = MAX_VARIABLES + 1 + len(READ_COLUMNS)
MAX_RECORD_BYTES = 64 * 1024
TOO_LONG = "a line longer than 64 KB"
csv.field_size_limit(MAX_RECORD_BYTES)

_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class FileRefused(ValueError):
    """The file as a whole cannot be imported (not CSV or JSONL, empty, no phone column...)."""


@dataclass(frozen=True)
class FileKind:
    format: str  # "csv" | "jsonl"
    gzipped: bool


def file_kind(filename: str, head: bytes) -> FileKind:
    """The file's format from its name (`.csv`, `.jsonl` or `.ndjson`, each optionally
    `.gz`) and whether it is gzipped from its first bytes."""
    name = filename.lower()
    gzipped = head.startswith(GZIP_MAGIC)
    if name.endswith(".gz"):
        name = name[:-3]
    for extension, kind in _EXTENSIONS.items():
        if name.endswith(extension):
            return FileKind(kind, gzipped)
    raise FileRefused(
        "not a contact file: the name must end in .csv, .jsonl or .ndjson (optionally .gz)"
    )


@dataclass(frozen=True)
class Header:
    """Where each field is in a CSV row: the phone column, the read ones, the variables."""

    columns: tuple[str, ...]
    phone: int
    read: dict[str, int] = field(default_factory=dict)
    variables: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns)}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Header:
        return header_of([str(c) for c in stored["columns"]])


def _column_key(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", name.strip().lower())


_PHONE_KEYS = tuple(_column_key(c) for c in PHONE_COLUMNS)


def header_of(columns: list[str]) -> Header:
    """The header row mapped (API.md): the phone column (`phone_number`, `phone`,
    `phone number`, `mobile`, any case), `name`, `timezone`, `state`; every other column
    a variable under its name as written."""
    names = [c.strip() for c in columns]
    if not any(names):
        raise FileRefused("the first line is empty: a CSV contact file starts with a header row")
    keys = [_column_key(c) for c in names]
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key and key in seen:
            raise FileRefused(f"the header names column '{names[index]}' twice")
        seen[key] = index
    phone_at = [i for i, key in enumerate(keys) if key in _PHONE_KEYS]
    if not phone_at:
        raise FileRefused(
            "no phone column: the header needs one of phone_number, phone, phone number, mobile"
        )
    # Two spellings of the phone column: the one first in PHONE_COLUMNS is the number.
    phone = min(phone_at, key=lambda i: _PHONE_KEYS.index(keys[i]))
    read = {key: i for i, key in enumerate(keys) if key in READ_COLUMNS}
    variables = {
        names[i]: i for i in range(len(names)) if i != phone and i not in read.values() and names[i]
    }
    return Header(tuple(names), phone, read, variables)


@dataclass(frozen=True)
class Record:
    """One record of the file: `line` it starts on (the header is line 1), where it ends
    (`last_line`, and `end`, the byte offset just after it: where to resume), and the row
    to judge or why it is refused before judging."""

    line: int
    last_line: int
    end: int
    row: dict[str, Any] | None
    problem: str | None = None
    raw_phone: str | None = None


class LongLine(bytes):
    """A line longer than MAX_RECORD_BYTES, kept as its first bytes only (a file with no
    line breaks must not be read into memory whole); `size` is its real length."""

    size: int

    def __new__(cls, head: bytes, size: int) -> LongLine:
        line = super().__new__(cls, head)
        line.size = size
        return line


def bounded_lines(stream: BinaryIO) -> Iterator[bytes]:
    """The lines of a binary stream (each with its line ending), an overlong one as a
    `LongLine`: memory stays bounded whatever the file holds."""
    while line := stream.readline(MAX_RECORD_BYTES + 1):
        if len(line) <= MAX_RECORD_BYTES or line.endswith(b"\n"):
            yield line
            continue
        size = len(line)
        while rest := stream.readline(MAX_RECORD_BYTES):
            size += len(rest)
            if rest.endswith(b"\n"):
                break
        yield LongLine(line[:64], size)


class LineReader:
    """Lines of bytes from an iterable of lines, counting lines and bytes as it goes;
    `overlong` tells that a LongLine went by (reset by whoever reads it)."""

    def __init__(self, lines: Iterable[bytes], offset: int, line: int) -> None:
        self._lines = iter(lines)
        self.offset = offset
        self.line = line  # the number of the last line handed out
        self.overlong = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        raw = next(self._lines)
        self.line += 1
        if isinstance(raw, LongLine):
            self.offset += raw.size
            self.overlong = True
            return b"\n"
        self.offset += len(raw)
        return raw


def _decoded(reader: LineReader, first: bool) -> Iterator[str]:
    """Each line as text; a BOM is dropped from the file's first line. A line that is not
    UTF-8 is handed on with replacement characters and refused by `csv_records`."""
    for raw in reader:
        if first:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
            first = False
        yield raw.decode("utf-8", errors="replace")


def read_csv_header(lines: Iterable[bytes]) -> tuple[Header, int, int]:
    """The header of a CSV file from its first lines: (header, byte offset after it, its
    last line number). Raises FileRefused for an empty file or a bad header."""
    reader = LineReader(lines, 0, 0)
    try:
        columns = next(csv.reader(_decoded(reader, first=True)))
    except StopIteration:
        raise FileRefused("the file is empty") from None
    except csv.Error as error:
        raise FileRefused(f"the header row cannot be read as CSV: {error}") from None
    if reader.overlong:
        raise FileRefused("the header row is longer than 64 KB: not a CSV contact file")
    return header_of(columns), reader.offset, reader.line


def csv_records(lines: Iterable[bytes], header: Header, offset: int, line: int) -> Iterator[Record]:
    """The records after the header, starting at byte `offset`, just after line `line`."""
    reader = LineReader(lines, offset, line)
    rows = csv.reader(_decoded(reader, first=offset == 0))
    while True:
        start = reader.line + 1
        try:
            values = next(rows)
        except StopIteration:
            return
        except csv.Error as error:
            reader.overlong = False
            yield Record(start, reader.line, reader.offset, None, f"not readable as CSV: {error}")
            continue
        if reader.overlong:
            reader.overlong = False
            yield Record(start, reader.line, reader.offset, None, TOO_LONG)
            continue
        if not values or not any(v.strip() for v in values):
            continue  # a blank line is no contact
        yield _csv_record(values, header, (start, reader.line, reader.offset))


def _csv_record(values: list[str], header: Header, at: tuple[int, int, int]) -> Record:
    raw_phone = values[header.phone].strip() if header.phone < len(values) else None
    if len(values) > len(header.columns):
        return Record(
            *at, None, f"{len(values)} columns; the header has {len(header.columns)}", raw_phone
        )
    if len(values) > MAX_COLUMNS:
        return Record(*at, None, f"more than {MAX_COLUMNS} columns", raw_phone)
    if "\ufffd" in "".join(values):
        return Record(*at, None, "not UTF-8 text", raw_phone)
    row: dict[str, Any] = {"phone_number": raw_phone or ""}
    for key, index in header.read.items():
        if index < len(values) and values[index].strip():
            row[key] = values[index].strip()
    variables = {
        name: values[index]
        for name, index in header.variables.items()
        if index < len(values) and values[index] != ""
    }
    if variables:
        row["variables"] = variables
    return Record(*at, row, None, raw_phone)


def jsonl_records(lines: Iterable[bytes], offset: int, line: int) -> Iterator[Record]:
    """JSONL: one object per line with `phone_number` (or another phone spelling),
    `name`, `timezone`, `state`, `variables`; any other key is a variable too. Blank
    lines are skipped."""
    reader = LineReader(lines, offset, line)
    for raw in reader:
        if reader.overlong:
            reader.overlong = False
            yield Record(reader.line, reader.line, reader.offset, None, TOO_LONG)
            continue
        if reader.line == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            yield Record(reader.line, reader.line, reader.offset, None, "not a JSON object")
            continue
        if not isinstance(value, dict):
            yield Record(reader.line, reader.line, reader.offset, None, "not a JSON object")
            continue
        yield _jsonl_record(value, (reader.line, reader.line, reader.offset))


def _jsonl_record(value: dict[str, Any], at: tuple[int, int, int]) -> Record:
    row: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    nested = value.get("variables")
    phone_keys = [k for k in value if _column_key(k) in _PHONE_KEYS]
    phone_key = min(phone_keys, key=lambda k: _PHONE_KEYS.index(_column_key(k)), default=None)
    for key, item in value.items():
        column = _column_key(key)
        if key == phone_key:
            row["phone_number"] = item
        elif column in READ_COLUMNS:
            row[column] = item
        elif key != "variables":
            variables[key] = item
    raw_phone = row.get("phone_number") if isinstance(row.get("phone_number"), str) else None
    if phone_key is None:
        return Record(*at, None, "no phone_number", None)
    if isinstance(nested, dict):
        variables = {**nested, **variables}
    elif nested is not None:
        return Record(*at, None, "variables: must be an object of text values", raw_phone)
    if len(variables) + len(row) > MAX_COLUMNS:
        return Record(*at, None, f"more than {MAX_COLUMNS} fields", raw_phone)
    text = {}
    for key, item in variables.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            if item is None:
                continue
            return Record(*at, None, f"variables: '{key}' must be text or a number", raw_phone)
        text[key] = item if isinstance(item, str) else json.dumps(item)
    if text:
        row["variables"] = text
    return Record(*at, row, None, raw_phone)

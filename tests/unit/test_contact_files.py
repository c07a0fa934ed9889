"""Contact files read as the importer reads them (domain/contact_files.py): formats, the
header, each record's line and end, and resuming at any record's end."""

from __future__ import annotations

import io

import pytest
from batchcalls.domain.contact_files import (
    MAX_RECORD_BYTES,
    TOO_LONG,
    FileRefused,
    Header,
    LongLine,
    bounded_lines,
    csv_records,
    file_kind,
    header_of,
    jsonl_records,
    read_csv_header,
)
from batchcalls.domain.contacts import judge_row
from hypothesis import given, settings
from hypothesis import strategies as st


def lines_of(data: bytes, offset: int = 0) -> list[bytes]:
    return list(bounded_lines(io.BytesIO(data[offset:])))


def read_csv(data: bytes) -> tuple[Header, list]:
    header, offset, line = read_csv_header(lines_of(data))
    return header, list(csv_records(lines_of(data, offset), header, offset, line))


@pytest.mark.parametrize(
    ("name", "format_"),
    [("a.csv", "csv"), ("A.CSV.GZ", "csv"), ("x.jsonl", "jsonl"), ("x.ndjson.gz", "jsonl")],
)
def test_the_format_follows_the_name(name: str, format_: str) -> None:
    assert file_kind(name, b"").format == format_


def test_gzip_is_told_by_its_content_not_its_name() -> None:
    assert file_kind("list.csv", b"\x1f\x8b\x08\x00").gzipped
    assert not file_kind("list.csv.gz", b"phone\n").gzipped


@pytest.mark.parametrize("name", ["list.xlsx", "list.txt", "list", "list.csv.zip"])
def test_a_file_that_is_not_csv_or_jsonl_is_refused(name: str) -> None:
    with pytest.raises(FileRefused, match=r"\.csv, \.jsonl or \.ndjson"):
        file_kind(name, b"")


@pytest.mark.parametrize(
    "spelling", ["phone_number", "Phone", "PHONE NUMBER", "mobile", "Phone-Number"]
)
def test_the_phone_column_is_found_in_any_common_spelling(spelling: str) -> None:
    header = header_of(["name", spelling, "plan"])
    assert header.phone == 1
    assert header.read == {"name": 0}
    assert header.variables == {"plan": 2}


def test_phone_number_wins_over_another_phone_spelling() -> None:
    header = header_of(["mobile", "phone_number"])
    assert header.phone == 1
    assert header.variables == {"mobile": 0}


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        (["name", "plan"], "no phone column"),
        (["phone", "Phone"], "twice"),
        (["", ""], "header row"),
    ],
)
def test_a_bad_header_refuses_the_file(columns: list[str], problem: str) -> None:
    with pytest.raises(FileRefused, match=problem):
        header_of(columns)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(FileRefused, match="empty"):
        read_csv_header([])


def test_a_bom_and_crlf_are_read_as_plain_utf8_lines() -> None:
    data = "\ufeffPhone,Name,Ville\r\n+33612345678,Zoé,Paris\r\n".encode()
    header, records = read_csv(data)
    assert header.columns == ("Phone", "Name", "Ville")
    [record] = records
    assert record.row == {
        "phone_number": "+33612345678",
        "name": "Zoé",
        "variables": {"Ville": "Paris"},
    }
    assert (record.line, record.end) == (2, len(data))


def test_a_quoted_field_over_two_lines_is_one_record_starting_on_its_first_line() -> None:
    data = b'phone,note\n+12125550101,"two\nlines"\n+12125550102,x\n'
    _, records = read_csv(data)
    assert [(r.line, r.last_line) for r in records] == [(2, 3), (4, 4)]
    assert records[0].row["variables"] == {"note": "two\nlines"}


def test_rows_the_file_itself_makes_bad_are_refused_before_judging() -> None:
    data = b"phone,name\n+12125550101,a,extra\n+12125550102,\xff\xfe\n\n+12125550103,c\n"
    _, records = read_csv(data)
    assert [(r.line, r.problem) for r in records] == [
        (2, "3 columns; the header has 2"),
        (3, "not UTF-8 text"),
        (5, None),
    ]
    assert records[0].raw_phone == "+12125550101"


def test_a_record_longer_than_the_field_limit_is_refused_and_the_next_one_read() -> None:
    # A quoted cell over many short lines, 80 KB in all
    cell = b'"' + b"x" * 1000 + (b"\n" + b"x" * 1000) * 80 + b'"'
    data = b"phone,note\n+12125550101," + cell + b"\n+12125550102,y\n"
    _, records = read_csv(data)
    assert records[0].problem is not None and "CSV" in records[0].problem
    assert records[-1].row == {"phone_number": "+12125550102", "variables": {"note": "y"}}


def test_a_line_longer_than_64_kb_is_never_held_whole_and_refuses_its_row_only() -> None:
    # Given a file with a 1 MB line (no line break in it) between two good rows
    huge = b"+12125550102," + b"x" * 1_000_000 + b"\n"
    data = b"phone,note\n+12125550101,a\n" + huge + b"+12125550103,c\n"
    # When its lines are read
    lines = lines_of(data)
    # Then the long one is kept as its first bytes and its length
    assert max(len(line) for line in lines) <= MAX_RECORD_BYTES + 1
    [long_line] = [line for line in lines if isinstance(line, LongLine)]
    assert long_line.size == len(huge)
    # and only its row is refused; the offsets stay those of the file
    _, records = read_csv(data)
    assert [(r.line, r.problem) for r in records] == [(2, None), (3, TOO_LONG), (4, None)]
    assert records[1].end == data.index(b"+12125550103")
    assert records[-1].end == len(data)
    jsonl = b'{"phone": "+12125550101"}\n{"phone": "' + b"1" * 100_000 + b'"}\n'
    assert [r.problem for r in jsonl_records(lines_of(jsonl), 0, 0)] == [None, TOO_LONG]


def test_a_file_whose_first_line_is_huge_is_no_csv_file() -> None:
    with pytest.raises(FileRefused, match="longer than 64 KB"):
        read_csv_header(lines_of(b"\x00" * 200_000))


def test_jsonl_reads_every_phone_spelling_and_makes_other_keys_variables() -> None:
    data = (
        b'{"Mobile": "+12125550101", "name": "A", "state": "fl", "plan": "gold", "seats": 3}\n'
        b"\n"
        b'{"phone_number": "+12125550102", "variables": {"x": "1"}, "y": null}\n'
        b"[1, 2]\n"
        b'{"name": "no phone"}\n'
        b'{"phone": "+12125550103", "variables": {"deep": {"a": 1}}}\n'
    )
    records = list(jsonl_records(lines_of(data), 0, 0))
    assert [r.line for r in records] == [1, 3, 4, 5, 6]
    assert records[0].row == {
        "phone_number": "+12125550101",
        "name": "A",
        "state": "fl",
        "variables": {"plan": "gold", "seats": "3"},
    }
    assert records[1].row == {"phone_number": "+12125550102", "variables": {"x": "1"}}
    assert [r.problem for r in records[2:]] == [
        "not a JSON object",
        "no phone_number",
        "variables: 'deep' must be text or a number",
    ]


def test_a_row_is_judged_with_the_default_region_and_its_state() -> None:
    contact = judge_row({"phone_number": "(212) 555-0147", "state": "ny"}, "US")
    assert not isinstance(contact, str)
    assert (contact.phone_number, contact.state) == ("+12125550147", "NY")
    assert contact.timezones == ("America/New_York",)
    assert judge_row({"phone_number": "(212) 555-0147"}, None) == (
        "phone_number: not a phone number with a country code (E.164, e.g. +14155550123)"
    )
    assert judge_row({"phone_number": "+12125550147", "state": "ZZ"}).startswith("state:")


CELLS = st.text(alphabet='ab ,"\n\r1+é', max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(CELLS, CELLS), min_size=1, max_size=12), st.data())
def test_resuming_after_any_record_reads_the_rest_exactly_as_reading_on(rows, data) -> None:
    # Given a CSV file (quotes, commas, line breaks inside cells) read whole
    text = "phone,note\r\n" + "".join(
        '"' + a.replace('"', '""') + '","' + b.replace('"', '""') + '"\r\n' for a, b in rows
    )
    raw = text.encode()
    header, whole = read_csv(raw)
    # When the reading stops after any record and resumes at its end, as a chunk does
    stop = data.draw(st.integers(0, len(whole)))
    first_offset = read_csv_header(lines_of(raw))[1]
    resume_at, line = (
        (whole[stop - 1].end, whole[stop - 1].last_line) if stop else (first_offset, 1)
    )
    rest = list(csv_records(lines_of(raw, resume_at), header, resume_at, line))
    # Then the records after it are the same, with the same lines and ends
    assert rest == whole[stop:]

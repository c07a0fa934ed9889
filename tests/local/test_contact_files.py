"""Contact files on the local stack: upload URL or a drop into the bucket, then S3's
notification -> import queue -> importer, as on AWS (issue: contact files dropped in S3).

Imports here run in batches of 40 rows and chunks of 100, so that a file of a few hundred
rows crosses batches and chunks (each chunk hands on to the next through the queue)."""

from __future__ import annotations

import gzip
import json
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack import LocalStack
from tests.local.conftest import LOCAL_START
from tests.local.helpers import BusEvents

KEY, TENANT = "key-files", "tenant_files"
OTHER_KEY, OTHER_TENANT = "key-files-other", "tenant_files_other"
BATCH_ROWS, CHUNK_ROWS = 40, 100


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(
        clock="simulated",
        clock_start=LOCAL_START,
        api_keys={KEY: TENANT, OTHER_KEY: OTHER_TENANT},
    )
    # Set once the stack saved the environment, before the importer loads its settings.
    os.environ["IMPORT_BATCH_ROWS"] = str(BATCH_ROWS)
    os.environ["IMPORT_CHUNK_ROWS"] = str(CHUNK_ROWS)
    try:
        yield stack
    finally:
        stack.stop()


def api(
    stack: LocalStack, method: str, path: str, body: Any = None, expect: int = 200, key: str = KEY
) -> Any:
    answer = stack.request(method, path, body, api_key=key)
    assert answer.status == expect, f"{method} {path}: {answer.status} {answer.body[:400]!r}"
    return answer.json() if answer.body else None


def new_campaign(stack: LocalStack, draft: bool = True, **fields: Any) -> str:
    body = {"agent_id": "agent_1", "phone_numbers": ["+12025550100"], **fields}
    if draft:
        body["status"] = "draft"
    return str(api(stack, "POST", "/batch-calls", body, 201)["id"])


def put_file(url: str, body: bytes) -> None:
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def upload(stack: LocalStack, campaign_id: str, filename: str, body: bytes, **fields: Any) -> str:
    """Through the API's presigned URL, then the queue runs; returns the import id."""
    given = api(
        stack,
        "POST",
        f"/batch-calls/{campaign_id}/contact-files",
        {"filename": filename, **fields},
        201,
    )
    assert given["key"] == f"imports/{TENANT}/{campaign_id}/{given['import_id']}/{filename}"
    put_file(given["upload_url"], body)
    stack.run_due()
    return str(given["import_id"])


def drop(stack: LocalStack, key: str, body: bytes) -> None:
    """Straight into the bucket, as a pipeline with write access would."""
    stack.client("s3").put_object(Bucket=stack.resource("ContactsBucket"), Key=key, Body=body)
    stack.run_due()


def the_import(stack: LocalStack, campaign_id: str, import_id: str) -> dict[str, Any]:
    return api(stack, "GET", f"/batch-calls/{campaign_id}/imports/{import_id}")


def report(found: dict[str, Any]) -> list[str]:
    with urllib.request.urlopen(found["report_url"], timeout=10) as answer:
        return answer.read().decode().splitlines()


def phones(stack: LocalStack, campaign_id: str) -> list[str]:
    found, cursor = [], None
    while True:
        path = f"/batch-calls/{campaign_id}/contacts?limit=1000"
        page = api(stack, "GET", path + (f"&cursor={cursor}" if cursor else ""))
        found += [c["phone_number"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def numbers(count: int, start: int = 0) -> list[str]:
    """Numbers the simulated provider completes at the first attempt (last digit 4)."""
    return [f"+1212555{n:03d}4" for n in range(start, start + count)]


def csv_of(rows: list[str], header: str = "phone_number,name") -> bytes:
    return (header + "\n" + "".join(f"{r}\n" for r in rows)).encode()


# ---------------------------------------------------------------------- rows
def test_good_bad_and_duplicate_rows_are_stored_counted_and_reported(
    stack: LocalStack, bus: BusEvents
) -> None:
    # Given a draft already holding one number, and a file of good, bad and repeated rows
    campaign = new_campaign(stack)
    api(
        stack,
        "POST",
        f"/batch-calls/{campaign}/contacts",
        {"contacts": [{"phone_number": "+12125550999"}]},
    )
    body = csv_of(
        [
            "+12125550001,Ada",
            "(212) 555-0002,Grace",  # no country code: the campaign's number says US
            "12345,Bad",
            "+12125550001,Ada again",
            "+12125550999,Known",
            '+12125550003,"Name, with comma"',
        ]
    )
    # When it is uploaded through the API
    import_id = upload(stack, campaign, "list.csv", body)
    # Then the good rows are contacts, the others counted and reported with their lines
    found = the_import(stack, campaign, import_id)
    assert {k: found[k] for k in ("status", "rows", "accepted", "duplicates", "invalid")} == {
        "status": "completed",
        "rows": 6,
        "accepted": 3,
        "duplicates": 2,
        "invalid": 1,
    }
    assert phones(stack, campaign) == [
        "+12125550999",
        "+12125550001",
        "+12125550002",
        "+12125550003",
    ]
    lines = report(found)
    assert lines[0] == "line,phone_number,reason"
    assert lines[1].startswith("4,12345,phone_number:")
    assert lines[2:] == [
        '5,"+12125550001",duplicate of line 2',
        '6,"+12125550999",duplicate: the number is in the campaign already',
    ]
    assert found["report_key"] == found["file"] + ".errors.csv"
    # and the campaign lists the import, and the bus carries import.completed
    listed = api(stack, "GET", f"/batch-calls/{campaign}")["imports"]
    assert [i["id"] for i in listed] == [import_id]
    [event] = bus.of_import(import_id)
    assert {k: event[k] for k in ("event", "batchId", "accepted", "duplicates", "invalid")} == {
        "event": "import.completed",
        "batchId": campaign,
        "accepted": 3,
        "duplicates": 2,
        "invalid": 1,
    }
    assert event["eventId"].startswith("evt_") and "error" not in event


def test_jsonl_gzip_bom_and_crlf_files_import_alike(stack: LocalStack) -> None:
    campaign = new_campaign(stack)
    csv_crlf = "\ufeffPhone,Name,Plan\r\n+12125550101,Zoé,gold\r\n".encode()
    jsonl = b'{"mobile": "+12125550102", "plan": "silver", "state": "fl"}\n'
    for filename, body in [
        ("bom.csv", csv_crlf),
        ("list.jsonl.gz", gzip.compress(jsonl)),
        ("plain.csv.gz", gzip.compress(csv_of(["+12125550103,Gz"]))),
    ]:
        assert the_import(stack, campaign, upload(stack, campaign, filename, body))["accepted"] == 1
    contacts = api(stack, "GET", f"/batch-calls/{campaign}/contacts")["items"]
    assert [(c["phone_number"], c["name"], c["variables"], c["state"]) for c in contacts] == [
        ("+12125550101", "Zoé", {"Plan": "gold"}, None),
        ("+12125550102", None, {"plan": "silver"}, "FL"),
        ("+12125550103", "Gz", {}, None),
    ]


@pytest.mark.parametrize(
    ("filename", "body", "error"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("header.csv", b"phone_number,name\r\n", "the file has no contact rows"),
        ("nophone.csv", b"name,plan\nAda,gold\n", "no phone column"),
        ("empty.jsonl", b"\n\n", "the file has no contact rows"),
        ("fake.csv.gz", b"phone\n+12125550101\n", None),  # named .gz, plain inside: read plain
        ("broken.csv", b"\x1f\x8b\x08\x00broken", "not a readable gzip file"),
    ],
)
def test_a_file_that_cannot_be_a_contact_list_fails_as_a_whole(
    stack: LocalStack, bus: BusEvents, filename: str, body: bytes, error: str | None
) -> None:
    campaign = new_campaign(stack)
    import_id = upload(stack, campaign, filename, body)
    found = the_import(stack, campaign, import_id)
    if error is None:
        assert (found["status"], found["accepted"]) == ("completed", 1)
        return
    assert found["status"] == "failed"
    assert error in found["error"]
    assert found["accepted"] == 0 and phones(stack, campaign) == []
    assert report(found)[1] == f"0,,{found['error']}" or error in report(found)[1]
    assert [e["event"] for e in bus.of_import(import_id)] == ["import.failed"]
    assert error in bus.of_import(import_id)[0]["error"]


def test_an_upload_url_refuses_a_name_that_is_not_a_contact_file(stack: LocalStack) -> None:
    campaign = new_campaign(stack)
    for body in (
        {"filename": "list.xlsx"},
        {"filename": "../x.csv"},
        {"filename": "a.csv", "default_region": "XX"},
    ):
        answer = stack.request("POST", f"/batch-calls/{campaign}/contact-files", body, api_key=KEY)
        assert answer.status == 422, body
        assert answer.json()["error"]["code"] == "validation_error"
    assert api(stack, "GET", f"/batch-calls/{campaign}")["imports"] == []


# ---------------------------------------------------------------------- drops
def test_a_file_dropped_in_the_bucket_is_imported_once_however_often_s3_says_so(
    stack: LocalStack, bus: BusEvents
) -> None:
    # Given a file dropped without the API
    campaign = new_campaign(stack)
    key = f"imports/{TENANT}/{campaign}/2026-11-30/list.csv"
    drop(stack, key, csv_of(numbers(5, 100)))
    [found] = api(stack, "GET", f"/batch-calls/{campaign}")["imports"]
    assert (found["status"], found["accepted"], found["file"]) == ("completed", 5, key)
    # When S3's notification of that object arrives again (at least once, out of order)
    head = stack.client("s3").head_object(Bucket=stack.resource("ContactsBucket"), Key=key)
    notification = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"object": {"key": key, "eTag": head["ETag"].strip('"')}},
            }
        ]
    }
    stack.client("sqs").send_message(
        QueueUrl=stack.resource("ImportQueue"), MessageBody=json.dumps(notification)
    )
    stack.run_due()
    # Then nothing is imported twice: one import, one event, five contacts
    assert len(api(stack, "GET", f"/batch-calls/{campaign}")["imports"]) == 1
    assert len(bus.of_import(found["id"])) == 1
    assert len(phones(stack, campaign)) == 5


def test_a_file_outside_its_tenants_campaigns_is_refused_and_never_imported(
    stack: LocalStack,
) -> None:
    # Given another tenant's campaign, and a campaign id that does not exist
    theirs = new_campaign(stack)
    for key in (
        f"imports/{OTHER_TENANT}/{theirs}/list.csv",
        f"imports/{TENANT}/batch_00000000000000000000/list.csv",
    ):
        # When a file is dropped under them
        drop(stack, key, csv_of(numbers(2, 960)))
        # Then it is reported beside the file, and nothing is imported anywhere
        body = (
            stack.client("s3")
            .get_object(Bucket=stack.resource("ContactsBucket"), Key=key + ".errors.csv")["Body"]
            .read()
        )
        assert b"refused: tenant" in body
    assert phones(stack, theirs) == []
    assert api(stack, "GET", f"/batch-calls/{theirs}")["imports"] == []
    assert stack.request("GET", f"/batch-calls/{theirs}", api_key=OTHER_KEY).status == 404


# ---------------------------------------------------------------------- chunks
def test_a_large_file_goes_in_chunks_through_the_queue_and_resumes_where_it_stopped(
    stack: LocalStack,
) -> None:
    # Given 350 rows (9 batches, 4 chunks), with a bad row in the third chunk
    rows = numbers(350, 500)
    rows[250] = "bad"
    campaign = new_campaign(stack)
    stack.faults.clear_recorder()
    import_id = upload(stack, campaign, "big.csv", csv_of(rows))
    found = the_import(stack, campaign, import_id)
    assert (found["accepted"], found["invalid"], found["rows"]) == (349, 1, 350)
    # (the importer is also told of its own reports, and ignores them)
    writers = [
        r
        for r in stack.faults.recorder("ImporterFunction")
        if "dynamodb.TransactWriteItems" in r.requests
    ]
    assert len(writers) == 4
    assert phones(stack, campaign) == [r for r in rows if r != "bad"]
    assert report(found)[1].startswith("252,bad,")


def test_a_crash_in_the_middle_of_a_batch_imports_nothing_twice_and_loses_nothing(
    stack: LocalStack, faults: Any
) -> None:
    # Given the importer dying right after the second write of its contacts
    rows = [*numbers(120, 200), "+12125552004"]  # and a duplicate of the first row
    campaign = new_campaign(stack)
    crash = faults.add(
        kind="crash", function="ImporterFunction", after="dynamodb.TransactWriteItems", nth=2
    )
    # When the file is uploaded, and the message comes back after the crash
    import_id = upload(stack, campaign, "crash.csv", csv_of(rows))
    stack.advance(1200)
    # Then every number is there once, counted once, and the duplicate reported once
    found = the_import(stack, campaign, import_id)
    assert crash.fired == 1
    assert (found["status"], found["accepted"], found["duplicates"]) == ("completed", 120, 1)
    assert sorted(phones(stack, campaign)) == sorted(rows[:120])
    assert report(found)[1:] == ['122,"+12125552004",duplicate of line 2']


def test_imported_contacts_of_a_calling_campaign_are_planned_after_the_others_and_called(
    stack: LocalStack,
) -> None:
    # Given an active campaign with two contacts, one call a second (so in plan order)
    campaign = new_campaign(
        stack,
        draft=False,
        max_calls_per_second=1,
        contacts=[{"phone_number": n} for n in numbers(2, 900)],
    )
    # When a file adds three more
    upload(stack, campaign, "more.csv", csv_of(numbers(3, 902)))
    # Then they are listed after the first two and planned in the file's order
    listed = api(stack, "GET", f"/batch-calls/{campaign}/contacts")["items"]
    assert [c["phone_number"] for c in listed] == numbers(5, 900)
    planned = [c["scheduled_at"] for c in listed[2:]]
    assert all(planned) and planned == sorted(planned)
    # and every one is called, once
    stack.advance(600)
    called = [c["to"] for c in stack.provider.calls() if c["to"] in numbers(5, 900)]
    assert sorted(called) == numbers(5, 900)
    assert api(stack, "GET", f"/batch-calls/{campaign}")["stats"]["completed"] == 5


def test_a_file_imported_while_paused_is_planned_on_resume(stack: LocalStack) -> None:
    campaign = new_campaign(stack, draft=False, contacts=[{"phone_number": numbers(1, 920)[0]}])
    api(stack, "POST", f"/batch-calls/{campaign}/pause")
    upload(stack, campaign, "paused.csv", csv_of(numbers(2, 921)))
    assert api(stack, "GET", f"/batch-calls/{campaign}")["stats"]["pending"] == 2
    api(stack, "POST", f"/batch-calls/{campaign}/resume", expect=202)
    stack.advance(600)
    called = {c["to"] for c in stack.provider.calls()}
    assert set(numbers(3, 920)) <= called
    assert api(stack, "GET", f"/batch-calls/{campaign}")["stats"]["completed"] == 3


def test_a_cancelled_campaign_takes_no_file(stack: LocalStack, bus: BusEvents) -> None:
    campaign = new_campaign(stack)
    given = api(
        stack, "POST", f"/batch-calls/{campaign}/contact-files", {"filename": "late.csv"}, 201
    )
    api(stack, "POST", f"/batch-calls/{campaign}/cancel")
    put_file(given["upload_url"], csv_of(numbers(3, 950)))
    stack.run_due()
    found = the_import(stack, campaign, given["import_id"])
    assert found["status"] == "failed" and "no longer takes contacts" in found["error"]
    assert phones(stack, campaign) == []
    assert api(stack, "POST", f"/batch-calls/{campaign}/contact-files", {"filename": "x.csv"}, 409)

"""A 100,000-row contact file end to end on the local stack: presigned upload, S3's
notification, the import queue, the importer in chunks (each handing on to the next),
every row accounted for. About two minutes of moto's time, so not in `make test`:
`make test-large` runs it."""

from __future__ import annotations

import gzip
import os
import urllib.request
from collections.abc import Iterator

import pytest

from local_stack import LocalStack
from tests.local.conftest import LOCAL_START

pytestmark = pytest.mark.large

ROWS = 100_000
KEY, TENANT = "key-large", "tenant_large"


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(clock="simulated", clock_start=LOCAL_START, api_keys={KEY: TENANT})
    # Chunks of 30,000 rows: the file crosses four invocations.
    os.environ["IMPORT_CHUNK_ROWS"] = "30000"
    try:
        yield stack
    finally:
        stack.stop()


def test_a_100000_row_gzipped_file_imports_every_row_once(stack: LocalStack) -> None:
    # Given a draft campaign and a gzipped file of 100,000 rows: every 100th a bad number,
    # every 1,000th a repeat of the row before it
    created = stack.request(
        "POST",
        "/batch-calls",
        {"status": "draft", "agent_id": "a", "phone_numbers": ["+14155550100"]},
        api_key=KEY,
    ).json()
    lines = ["phone_number,name,plan"]
    expected = set()
    for i in range(ROWS):
        number = f"+1{212 + i % 3}{300 + i // 10_000:03d}{i % 10_000:04d}"
        if i % 100 == 50:
            number = "555"
        elif i % 1000 == 999:
            number = f"+1{212 + (i - 1) % 3}{300 + (i - 1) // 10_000:03d}{(i - 1) % 10_000:04d}"
        else:
            expected.add(number)
        lines.append(f"{number},Contact {i},gold")
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    # When it is uploaded through the presigned URL
    given = stack.request(
        "POST",
        f"/batch-calls/{created['id']}/contact-files",
        {"filename": "large.csv.gz"},
        api_key=KEY,
    ).json()
    request = urllib.request.Request(given["upload_url"], data=body, method="PUT")
    request.add_header("Content-Type", "application/gzip")
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200
    stack.run_due()
    # Then every good row is one contact, every other one counted
    found = stack.request(
        "GET", f"/batch-calls/{created['id']}/imports/{given['import_id']}", api_key=KEY
    ).json()
    assert found["status"] == "completed", found
    assert (found["rows"], found["accepted"], found["invalid"], found["duplicates"]) == (
        ROWS,
        len(expected),
        ROWS // 100,
        ROWS // 1000,
    )
    stats = stack.request("GET", f"/batch-calls/{created['id']}", api_key=KEY).json()["stats"]
    assert stats["pending"] == stats["total"] == len(expected)
    writers = [
        r
        for r in stack.faults.recorder("ImporterFunction")
        if "dynamodb.TransactWriteItems" in r.requests
    ]
    assert len(writers) == 4

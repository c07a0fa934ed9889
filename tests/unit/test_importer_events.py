"""What the importer reads of its queue's messages: S3's notifications, as S3 sends them
(events/importer_s3_notification.json, the key URL-encoded), and nothing else."""

from __future__ import annotations

import json

from batchcalls.services.imports import parse_key

from functions.importer import app
from tests.support.api import load_event


def body_of(event: dict) -> dict:
    return json.loads(event["Records"][0]["body"])


def test_a_created_object_is_read_with_its_version_and_etag() -> None:
    [(key, version, etag)] = app._objects(body_of(load_event("importer_s3_notification.json")))
    assert key.endswith("/Q4+renewals+%282%29.csv")  # decoded by the service, once
    assert version == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert etag == "d41d8cd98f00b204e9800998ecf8427e"


def test_s3s_test_event_and_removals_start_no_import() -> None:
    body = body_of(load_event("importer_s3_notification.json"))
    body["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert app._objects(body) == []
    assert app._objects({"Service": "Amazon S3", "Event": "s3:TestEvent"}) == []


def test_the_key_names_tenant_campaign_import_and_file() -> None:
    dropped = parse_key(
        "imports/tenant_a/batch_01m8pc2qr07vyjgbbb/imp_0123456789abcdef0123/Q4 renewals (2).csv"
    )
    assert dropped is not None
    assert (dropped.tenant_id, dropped.campaign_id, dropped.named_import, dropped.filename) == (
        "tenant_a",
        "batch_01m8pc2qr07vyjgbbb",
        "imp_0123456789abcdef0123",
        "Q4 renewals (2).csv",
    )
    assert parse_key("imports/tenant_a/list.csv") is None

"""The campaign endpoints of API.md, driven through the api handler under moto."""

from __future__ import annotations

import json

import pytest

from tests.support.api import load_event

READY = {
    "agent_id": "agent_123",
    "phone_numbers": ["+14155550100"],
    "timezone": "America/New_York",
    "start_time": "09:00",
    "end_time": "17:00",
}
CONTACT = {"phone_number": "+12125550104", "name": "Ada"}


def draft(api, **fields):
    reply = api.post("/batch-calls", {**READY, "status": "draft", **fields})
    assert reply.status == 201, reply.body
    return reply.body


def test_the_seed_complete_example_is_created_as_given(api):
    # Given seed 003's complete example, with a future start, a number and real contacts
    body = json.loads(load_event("api_create_campaign.json")["body"])
    # When it is posted
    reply = api.post("/batch-calls", body)
    # Then every option is taken and the campaign is scheduled
    assert reply.status == 201, reply.body
    campaign = reply.body
    assert campaign["status"] == "scheduled"
    assert campaign["schedule_type"] == "scheduled"
    assert campaign["scheduled_at"] == "2026-12-01T14:00:00.000Z"  # 09:00 New York
    assert campaign["agent_id"] == "agent_123" and campaign["user_id"] == "user_456"
    assert campaign["priority"] == 7 and campaign["max_calls_per_second"] == 12
    assert campaign["retry_strategy"] == {
        "max_attempts": 3,
        "no_answer_delay": 3600000,
        "busy_delay": 300000,
    }
    assert campaign["webhooks"]["on_call_complete"].endswith("/call-complete")
    assert campaign["tags"] == ["Q4_2025", "lead_qualification"]
    assert campaign["contacts_report"] == {"accepted": 1, "duplicates": 0, "invalid": []}
    assert campaign["stats"]["total"] == 1


def test_the_seed_example_kept_as_a_draft(api):
    body = json.loads(load_event("api_create_campaign.json")["body"])
    reply = api.post("/batch-calls", {**body, "status": "draft"})
    assert reply.status == 201
    assert reply.body["status"] == "draft"
    assert reply.body["stats"]["pending"] == 1


def test_defaults_follow_the_contract(api):
    campaign = api.post("/batch-calls", {"status": "draft"}).body
    assert campaign["timezone"] == "UTC"
    assert (campaign["start_time"], campaign["end_time"]) == ("00:00", "24:00")
    assert campaign["working_days"] == [1, 2, 3, 4, 5, 6, 7]
    assert campaign["max_calls_per_second"] == 10
    assert campaign["max_concurrent_calls"] == 10
    assert campaign["priority"] == 5
    assert campaign["pacing"] == "asap"
    assert campaign["phone_rotation"] == "round_robin"
    assert campaign["legal_hours_guard"] is True
    assert campaign["respect_contact_timezone"] is False
    assert campaign["schedule_type"] == "immediate"
    assert campaign["id"].startswith("batch_")


def test_an_immediate_campaign_with_contacts_is_active_at_once(api):
    reply = api.post("/batch-calls", {**READY, "contacts": [CONTACT]})
    assert reply.status == 201
    assert reply.body["status"] == "active"


def test_camel_case_spellings_are_accepted(api):
    reply = api.post(
        "/batch-calls",
        {
            "status": "draft",
            "agentId": "a",
            "phoneNumbers": ["+14155550100"],
            "maxCallsPerDay": 50,
            "startTime": "08:30",
            "endTime": "12:00",
            "workingDays": [1, 2],
            "blackoutDates": ["2026-12-25"],
            "respectContactTimezone": True,
            "legalHoursGuard": False,
            "scheduledStartTime": "2026-12-02T10:00:00Z",
        },
    )
    assert reply.status == 201, reply.body
    campaign = reply.body
    assert campaign["max_calls_per_day"] == 50
    assert campaign["working_days"] == [1, 2]
    assert campaign["blackout_dates"] == ["2026-12-25"]
    assert campaign["schedule_type"] == "scheduled"  # a start without schedule_type means scheduled
    assert campaign["respect_contact_timezone"] is True and campaign["legal_hours_guard"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"agent_id": "a", "agentId": "b"},
        {"scheduled_at": "2026-12-02T10:00:00Z", "scheduledStartTime": "2026-12-02T10:00:00Z"},
        {"priority": 3, "options": {"priority": 4}},
        {"options": {"priority": 4, "Priority": 5}},
    ],
)
def test_one_field_given_twice_is_refused(api, body):
    reply = api.post("/batch-calls", {"status": "draft", **body})
    assert reply.status == 422
    assert reply.body["error"]["code"] == "validation_error"
    assert api.get("/batch-calls").body["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent_id": 5}, "agent_id"),
        ({"max_calls_per_day": "10"}, "max_calls_per_day"),
        ({"respect_contact_timezone": "yes"}, "respect_contact_timezone"),
        ({"working_days": "1,2"}, "working_days"),
        ({"tags": "a"}, "tags"),
        ({"max_calls_per_second": 0}, "max_calls_per_second"),
        ({"max_calls_per_second": 31}, "max_calls_per_second"),
        ({"max_concurrent_calls": 1001}, "max_concurrent_calls"),
        ({"priority": 11}, "priority"),
        ({"max_calls_per_day": 0}, "max_calls_per_day"),
        ({"working_days": [0]}, "working_days.0"),
        ({"working_days": [8]}, "working_days.0"),
        ({"working_days": []}, "working_days"),
        ({"start_time": "9:00"}, "start_time"),
        ({"start_time": "24:00"}, "start_time"),
        ({"end_time": "25:00"}, "end_time"),
        ({"blackout_dates": ["2026-02-30"]}, "blackout_dates.0"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "EST5EDT "}, "timezone"),
        ({"phone_numbers": ["+1415555"]}, "phone_numbers.0"),
        ({"phone_numbers": ["4155550100"]}, "phone_numbers.0"),
        ({"phone_numbers": ["+14155550100", "+1 415 555 0100"]}, "phone_numbers"),
        ({"retry_strategy": {"max_attempts": 6}}, "retry_strategy.max_attempts"),
        ({"retry_strategy": {"busy_delay": -1}}, "retry_strategy.busy_delay"),
        ({"retry_strategy": {"retries": 2}}, "retry_strategy.retries"),
        (
            {"webhooks": {"on_call_complete": "http://example.com/hook"}},
            "webhooks.on_call_complete",
        ),
        ({"webhooks": {"onSomething": "https://example.com"}}, "webhooks.onSomething"),
        ({"tags": ["x" * 101]}, "tags.0"),
        ({"tags": [f"t{i}" for i in range(51)]}, "tags"),
        ({"name": "n" * 201}, "name"),
        ({"pacing": "fast"}, "pacing"),
        ({"phone_rotation": "shuffle"}, "phone_rotation"),
        ({"schedule_type": "later"}, "schedule_type"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"scheduled_at": "2026-11-30T13:59:00Z"}, "scheduled_at"),
        ({"schedule_type": "scheduled"}, "scheduled_at"),
        ({"status": "active"}, "status"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"options": {"maxAttempts": 2}}, "options.maxAttempts"),
        ({"contacts": "none"}, "contacts"),
    ],
)
def test_bad_fields_are_refused_with_the_field_named_and_nothing_stored(api, body, field):
    # When a create carries one bad field
    reply = api.post("/batch-calls", {"status": "draft", **body})
    # Then it is a 422 naming that field, and no campaign exists
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "validation_error"
    assert field in [d["field"] for d in reply.body["error"]["details"]], reply.body
    assert api.get("/batch-calls").body["items"] == []


@pytest.mark.parametrize("raw", ["{", "{'a': 1}", "not json", '{"a": 1,}', "\x00"])
def test_malformed_json_is_400_invalid_json(api, raw):
    reply = api.post("/batch-calls", raw_body=raw)
    assert reply.status == 400
    assert reply.body["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("raw", ["[]", "null", "5", '"text"'])
def test_a_body_that_is_not_an_object_is_422(api, raw):
    reply = api.post("/batch-calls", raw_body=raw)
    assert reply.status == 422


def test_a_body_over_5_mb_is_413(api):
    reply = api.post("/batch-calls", raw_body='{"name": "' + "x" * (5 * 1024 * 1024) + '"}')
    assert reply.status == 413
    assert reply.body["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/batch-calls"),
        ("DELETE", "/batch-calls"),
        ("PUT", "/batch-calls/batch_x"),
        ("POST", "/batch-calls/batch_x"),
        ("GET", "/batch-calls/batch_x/schedule"),
        ("PATCH", "/batch-calls/batch_x/contacts"),
        ("OPTIONS", "/batch-calls"),
    ],
)
def test_unknown_methods_are_405(api, method, path):
    reply = api.request(method, path)
    assert reply.status == 405
    assert reply.body["error"]["code"] == "method_not_allowed"


def test_unknown_paths_are_404(api):
    reply = api.get("/batch-calls/batch_x/nothing-here")
    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"


def test_missing_or_unknown_api_keys_are_401(api):
    assert api.get("/batch-calls", key=None).status == 401
    assert api.get("/batch-calls", key="not-a-key").body["error"]["code"] == "unauthorized"
    assert (
        api.request("GET", "/batch-calls", key=None, headers={"x-api-key": "key-tenant-a"}).status
        == 200
    )


def test_openapi_document_needs_no_key_and_lists_the_endpoints(api):
    reply = api.get("/openapi.json", key=None)
    assert reply.status == 200
    paths = reply.body["paths"]
    assert {
        "/batch-calls",
        "/batch-calls/{campaign_id}",
        "/batch-calls/{campaign_id}/contacts",
    } <= set(paths)
    assert "post" in paths["/batch-calls"]


def test_get_shows_stats_by_contact_status(api):
    campaign = draft(api, contacts=[CONTACT, {"phone_number": "+12125550105"}])
    reply = api.get(f"/batch-calls/{campaign['id']}")
    assert reply.status == 200
    assert reply.body["stats"]["total"] == 2
    assert reply.body["stats"]["pending"] == 2


def test_list_filters_by_status_and_tag_and_pages_with_cursors(api, clock):
    # Given five drafts created a second apart, two tagged "vip", and one active campaign
    ids = []
    for i in range(5):
        ids.append(draft(api, tags=["vip"] if i < 2 else ["std"])["id"])
        clock.advance(1)
    api.post("/batch-calls", {**READY, "contacts": [CONTACT], "tags": ["vip"]})
    # Then filters narrow the list
    assert len(api.get("/batch-calls", query={"tag": "vip"}).body["items"]) == 3
    assert len(api.get("/batch-calls", query={"status": "active"}).body["items"]) == 1
    assert len(api.get("/batch-calls", query={"status": "draft", "tag": "vip"}).body["items"]) == 2
    # And pages of two walk every campaign once, newest first
    seen, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/batch-calls", query=query).body
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 and len(set(seen)) == 6
    assert seen[-5:] == list(reversed(ids))


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "1001"}, {"limit": "x"}])
def test_bad_list_parameters_are_422(api, query):
    assert api.get("/batch-calls", query=query).status == 422


def test_a_cursor_the_api_did_not_issue_is_400_invalid_cursor(api):
    reply = api.get("/batch-calls", query={"cursor": "%%%"})
    assert (reply.status, reply.body["error"]["code"]) == (400, "invalid_cursor")


def test_patch_changes_only_the_given_fields(api):
    campaign = draft(api, name="before", max_calls_per_day=10)
    reply = api.patch(f"/batch-calls/{campaign['id']}", {"name": "after", "maxCallsPerSecond": 5})
    assert reply.status == 200, reply.body
    assert reply.body["name"] == "after"
    assert reply.body["max_calls_per_second"] == 5
    assert reply.body["max_calls_per_day"] == 10
    assert reply.body["timezone"] == "America/New_York"


def test_patch_with_null_clears_back_to_the_default(api):
    campaign = draft(api, max_calls_per_day=10)
    reply = api.patch(f"/batch-calls/{campaign['id']}", {"max_calls_per_day": None})
    assert reply.body["max_calls_per_day"] is None


def test_a_refused_patch_changes_nothing(api):
    campaign = draft(api, name="kept")
    reply = api.patch(f"/batch-calls/{campaign['id']}", {"name": "new", "priority": 0})
    assert reply.status == 422
    assert api.get(f"/batch-calls/{campaign['id']}").body["name"] == "kept"


def test_patch_of_a_cancelled_campaign_is_409(api):
    campaign = draft(api)
    assert api.post(f"/batch-calls/{campaign['id']}/cancel").status == 200
    reply = api.patch(f"/batch-calls/{campaign['id']}", {"name": "x"})
    assert reply.status == 409
    assert reply.body["error"]["code"] == "conflict"


def test_a_draft_can_be_deleted_and_then_is_gone(api):
    campaign = draft(api)
    assert api.delete(f"/batch-calls/{campaign['id']}").status == 204
    assert api.get(f"/batch-calls/{campaign['id']}").status == 404


def test_only_a_draft_can_be_deleted(api):
    campaign = api.post("/batch-calls", {**READY, "contacts": [CONTACT]}).body
    assert api.delete(f"/batch-calls/{campaign['id']}").status == 409


def test_scheduling_without_prerequisites_lists_each_missing_one(api):
    campaign = api.post("/batch-calls", {"status": "draft"}).body
    reply = api.post(f"/batch-calls/{campaign['id']}/schedule")
    assert reply.status == 422
    fields = {d["field"] for d in reply.body["error"]["details"]}
    assert fields == {"agent_id", "phone_numbers", "contacts"}
    assert api.get(f"/batch-calls/{campaign['id']}").body["status"] == "draft"


def test_creating_a_non_draft_without_prerequisites_stores_nothing(api):
    reply = api.post("/batch-calls", {"agent_id": "a"})
    assert reply.status == 422
    assert api.get("/batch-calls").body["items"] == []


def test_schedule_moves_a_draft_on_and_answers_202(api):
    campaign = draft(api, contacts=[CONTACT], scheduled_at="2026-12-01T09:00:00")
    reply = api.post(f"/batch-calls/{campaign['id']}/schedule")
    assert reply.status == 202
    assert reply.body["status"] == "scheduled"


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        ([], "pause"),
        ([], "resume"),
        (["schedule"], "schedule"),
        (["schedule", "pause"], "pause"),
        (["schedule"], "resume"),
        (["cancel"], "cancel"),
        (["cancel"], "schedule"),
        (["cancel"], "resume"),
        (["schedule", "cancel"], "pause"),
    ],
)
def test_transitions_the_state_machine_does_not_list_are_409(api, steps, refused):
    campaign = draft(api, contacts=[CONTACT])
    for step in steps:
        assert api.post(f"/batch-calls/{campaign['id']}/{step}").status in (200, 202)
    reply = api.post(f"/batch-calls/{campaign['id']}/{refused}")
    assert reply.status == 409, reply.body
    assert reply.body["error"]["code"] == "conflict"


def test_pause_resume_and_cancel_follow_the_state_machine(api):
    campaign = draft(api, contacts=[CONTACT], scheduled_at="2026-12-01T09:00:00")
    path = f"/batch-calls/{campaign['id']}"
    assert api.post(f"{path}/schedule").body["status"] == "scheduled"
    assert api.post(f"{path}/pause").body["status"] == "paused"
    assert api.post(f"{path}/resume").body["status"] == "scheduled"
    assert api.post(f"{path}/cancel").body["status"] == "cancelled"


def test_idempotency_key_returns_the_first_response_and_creates_nothing_more(api):
    headers = {"Idempotency-Key": "create-1"}
    first = api.post("/batch-calls", {**READY, "status": "draft"}, headers=headers)
    again = api.post("/batch-calls", {**READY, "status": "draft"}, headers=headers)
    assert first.status == again.status == 201
    assert again.body["id"] == first.body["id"]
    assert len(api.get("/batch-calls").body["items"]) == 1


def test_the_same_idempotency_key_with_another_body_is_422(api):
    headers = {"Idempotency-Key": "create-1"}
    api.post("/batch-calls", {**READY, "status": "draft"}, headers=headers)
    reply = api.post("/batch-calls", {**READY, "status": "draft", "name": "x"}, headers=headers)
    assert reply.status == 422
    assert len(api.get("/batch-calls").body["items"]) == 1


def test_idempotency_keys_are_scoped_to_the_tenant(api):
    headers = {"Idempotency-Key": "shared"}
    mine = api.post("/batch-calls", {**READY, "status": "draft"}, headers=headers)
    theirs = api.post(
        "/batch-calls", {**READY, "status": "draft"}, headers=headers, key="key-tenant-b"
    )
    assert theirs.status == 201
    assert theirs.body["id"] != mine.body["id"]

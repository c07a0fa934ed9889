"""Contacts: added row by row, normalised to E.164, deduplicated, listed, cancelled."""

from __future__ import annotations

from batchcalls.ids import CONTACT_SHARDS

READY = {"agent_id": "agent_1", "phone_numbers": ["+14155550100"], "status": "draft"}


def new_draft(api) -> str:
    return api.post("/batch-calls", READY).body["id"]


def test_rows_are_judged_one_by_one(api):
    campaign = new_draft(api)
    reply = api.post(
        f"/batch-calls/{campaign}/contacts",
        {
            "contacts": [
                {"phone_number": "+12125550101", "name": "Ada", "variables": {"plan": "gold"}},
                {"phone": "+1 (212) 555-0101"},  # the same number, another spelling
                {"phoneNumber": "+1212555"},  # too short
                {"phone_number": "not a number"},
                {"name": "no number"},
                {"phone_number": "+12125550102", "timezone": "Nowhere/City"},
                {"phone_number": "+12125550103", "variables": {"n": 1}},
                {"phone_number": "+12125550104", "colour": "red"},
                "just a string",
                {"phone_number": "+442079460958"},
            ]
        },
    )
    assert reply.status == 200, reply.body
    assert reply.body["accepted"] == 2
    assert reply.body["duplicates"] == 1
    assert [row["index"] for row in reply.body["invalid"]] == [2, 3, 4, 5, 6, 7, 8]
    assert reply.body["invalid"][0]["phone_number"] == "+1212555"
    assert all(row["problem"] for row in reply.body["invalid"])


def test_numbers_already_in_the_campaign_count_as_duplicates(api):
    campaign = new_draft(api)
    api.post(f"/batch-calls/{campaign}/contacts", {"contacts": [{"phone_number": "+12125550101"}]})
    reply = api.post(
        f"/batch-calls/{campaign}/contacts",
        {"contacts": [{"phone_number": "+1 212 555 0101"}, {"phone_number": "+12125550199"}]},
    )
    assert (reply.body["accepted"], reply.body["duplicates"]) == (1, 1)
    assert api.get(f"/batch-calls/{campaign}").body["stats"]["total"] == 2


def test_a_contact_reads_back_with_its_timezones(api):
    campaign = new_draft(api)
    api.post(
        f"/batch-calls/{campaign}/contacts",
        {
            "contacts": [
                {"phone_number": "+12125550101"},
                {"phone_number": "+61881234567"},
                {"phone_number": "+18005550199"},
                {"phone_number": "+14155550111", "timezone": "Europe/Paris"},
            ]
        },
    )
    items = api.get(f"/batch-calls/{campaign}/contacts").body["items"]
    zones = {c["phone_number"]: c["timezones"] for c in items}
    assert zones["+12125550101"] == ["America/New_York"]
    assert zones["+61881234567"] == ["Australia/Adelaide", "Australia/Perth"]
    assert zones["+18005550199"] == ["UTC"]  # toll-free: the campaign's timezone
    assert zones["+14155550111"] == ["Europe/Paris"]
    one = api.get(f"/batch-calls/{campaign}/contacts/{items[0]['id']}").body
    assert one["status"] == "pending" and one["attempts"] == 0 and one["scheduled_at"] is None


def test_a_list_of_contacts_pages_in_the_order_they_were_added(api):
    # Given 250 contacts, in more partitions than one
    campaign = new_draft(api)
    numbers = [f"+1212555{n:04d}" for n in range(1000, 1250)]
    reply = api.post(
        f"/batch-calls/{campaign}/contacts", {"contacts": [{"phone_number": n} for n in numbers]}
    )
    assert reply.body["accepted"] == 250
    # When they are listed 40 at a time
    seen, cursor = [], None
    while True:
        query = {"limit": "40", **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/batch-calls/{campaign}/contacts", query=query).body
        seen += [c["phone_number"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    # Then each comes once, in the order added
    assert seen == numbers


def test_contacts_are_spread_over_every_shard(api, aws):
    import boto3

    campaign = new_draft(api)
    numbers = [f"+1212555{n:04d}" for n in range(2000, 2200)]
    api.post(
        f"/batch-calls/{campaign}/contacts", {"contacts": [{"phone_number": n} for n in numbers]}
    )
    items = boto3.client("dynamodb").scan(TableName=aws["ContactsTable"])["Items"]
    partitions = {item["pk"]["S"] for item in items}
    assert len(partitions) == CONTACT_SHARDS


def test_contacts_filter_by_status(api):
    campaign = new_draft(api)
    api.post(
        f"/batch-calls/{campaign}/contacts",
        {"contacts": [{"phone_number": f"+121255501{n:02d}"} for n in range(10, 15)]},
    )
    first = api.get(f"/batch-calls/{campaign}/contacts").body["items"][0]
    assert (
        api.delete(f"/batch-calls/{campaign}/contacts/{first['id']}").body["status"] == "cancelled"
    )
    cancelled = api.get(f"/batch-calls/{campaign}/contacts", query={"status": "cancelled"}).body
    pending = api.get(f"/batch-calls/{campaign}/contacts", query={"status": "pending"}).body
    assert [c["id"] for c in cancelled["items"]] == [first["id"]]
    assert len(pending["items"]) == 4
    stats = api.get(f"/batch-calls/{campaign}").body["stats"]
    assert (stats["pending"], stats["cancelled"], stats["total"]) == (4, 1, 5)


def test_a_cancelled_contact_cannot_be_cancelled_again(api):
    campaign = new_draft(api)
    api.post(f"/batch-calls/{campaign}/contacts", {"contacts": [{"phone_number": "+12125550101"}]})
    contact = api.get(f"/batch-calls/{campaign}/contacts").body["items"][0]
    api.delete(f"/batch-calls/{campaign}/contacts/{contact['id']}")
    assert api.delete(f"/batch-calls/{campaign}/contacts/{contact['id']}").status == 409


def test_bad_contact_requests_are_refused_whole(api):
    campaign = new_draft(api)
    assert api.post(f"/batch-calls/{campaign}/contacts", {"contacts": "x"}).status == 422
    assert api.post(f"/batch-calls/{campaign}/contacts", {"rows": []}).status == 422
    too_many = {"contacts": [{"phone_number": "+12125550101"}] * 10_001}
    assert api.post(f"/batch-calls/{campaign}/contacts", too_many).status == 422
    assert api.get(f"/batch-calls/{campaign}").body["stats"]["total"] == 0


def test_unknown_contacts_and_bad_statuses_answer_cleanly(api):
    campaign = new_draft(api)
    assert api.get(f"/batch-calls/{campaign}/contacts/ct_nothing").status == 404
    assert api.get(f"/batch-calls/{campaign}/contacts/whatever").status == 404
    assert api.get(f"/batch-calls/{campaign}/contacts", query={"status": "gone"}).status == 422
    assert api.get("/batch-calls/batch_none/contacts").status == 404


def test_contacts_cannot_be_added_to_a_cancelled_campaign(api):
    campaign = new_draft(api)
    api.post(f"/batch-calls/{campaign}/cancel")
    reply = api.post(
        f"/batch-calls/{campaign}/contacts", {"contacts": [{"phone_number": "+12125550101"}]}
    )
    assert reply.status == 409

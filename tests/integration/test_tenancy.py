"""A tenant never sees, changes or counts another tenant's data: it answers 404."""

from __future__ import annotations

import pytest

OTHER = "key-tenant-b"


@pytest.fixture
def campaign(api) -> tuple[str, str]:
    body = {
        "status": "draft",
        "agent_id": "a",
        "phone_numbers": ["+14155550100"],
        "contacts": [{"phone_number": "+12125550101"}],
    }
    campaign_id = api.post("/batch-calls", body).body["id"]
    contact_id = api.get(f"/batch-calls/{campaign_id}/contacts").body["items"][0]["id"]
    return campaign_id, contact_id


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"name": "mine now"}),
        ("DELETE", "", None),
        ("POST", "/contacts", {"contacts": [{"phone_number": "+12125550102"}]}),
        ("GET", "/contacts", None),
        ("GET", "/contacts/{contact}", None),
        ("DELETE", "/contacts/{contact}", None),
        ("POST", "/schedule", None),
        ("POST", "/pause", None),
        ("POST", "/resume", None),
        ("POST", "/cancel", None),
    ],
)
def test_another_tenants_campaign_answers_404_like_an_unknown_id(
    api, campaign, method, suffix, body
):
    campaign_id, contact_id = campaign
    path = f"/batch-calls/{campaign_id}{suffix.format(contact=contact_id)}"
    theirs = api.request(method, path, body, key=OTHER)
    unknown = api.request(method, path.replace(campaign_id, "batch_unknown"), body, key=OTHER)
    assert theirs.status == 404
    assert theirs.body == unknown.body
    # and the owner's data is untouched
    mine = api.get(f"/batch-calls/{campaign_id}").body
    assert mine["status"] == "draft" and mine["name"] is None and mine["stats"]["total"] == 1


def test_lists_show_only_the_tenants_own_campaigns(api, campaign):
    assert api.get("/batch-calls", key=OTHER).body["items"] == []
    assert len(api.get("/batch-calls").body["items"]) == 1

from datetime import UTC, datetime

import pytest
from batchcalls.domain.campaigns import (
    ALLOWED_FROM,
    build_settings,
    missing_prerequisites,
    require_transition,
)
from batchcalls.errors import Conflict, ValidationFailed
from batchcalls.models.campaign import CampaignSettings, CreateCampaignRequest

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
STATUSES = ["draft", "scheduled", "active", "paused", "completed", "cancelled", "failed"]


@pytest.mark.parametrize("action", sorted(ALLOWED_FROM))
@pytest.mark.parametrize("status", STATUSES)
def test_every_unlisted_transition_is_a_conflict(action, status):
    if status in ALLOWED_FROM[action]:
        require_transition(action, status)
    else:
        with pytest.raises(Conflict):
            require_transition(action, status)


def test_finished_campaigns_accept_no_action():
    for status in ("completed", "cancelled", "failed"):
        assert all(status not in allowed for allowed in ALLOWED_FROM.values())


def test_a_naive_start_is_read_in_the_campaign_timezone():
    settings = build_settings(
        {"scheduled_at": datetime(2026, 12, 1, 9, 0), "timezone": "America/New_York"}, NOW
    )
    assert settings.scheduled_at == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert settings.schedule_type == "scheduled"


def test_a_start_in_the_past_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        build_settings({"scheduled_at": datetime(2026, 11, 30, 13, 0, tzinfo=UTC)}, NOW)
    assert refused.value.details[0].field == "scheduled_at"


def test_immediate_with_a_start_is_refused():
    with pytest.raises(ValidationFailed):
        build_settings(
            {"schedule_type": "immediate", "scheduled_at": datetime(2026, 12, 1, tzinfo=UTC)}, NOW
        )


def test_a_patch_keeps_what_it_does_not_name():
    base = build_settings({"timezone": "Europe/London", "max_calls_per_day": 5}, NOW)
    patched = build_settings({"max_calls_per_day": 9}, NOW, base=base)
    assert (patched.timezone, patched.max_calls_per_day) == ("Europe/London", 9)


def test_prerequisites_name_each_missing_item():
    missing = missing_prerequisites(CampaignSettings(), pending_contacts=0)
    assert [m.field for m in missing] == ["agent_id", "phone_numbers", "contacts"]
    ready = CampaignSettings(agent_id="a", phone_numbers=["+14155550100"])
    assert missing_prerequisites(ready, pending_contacts=1) == []


def test_options_fold_into_the_top_level():
    request = CreateCampaignRequest.model_validate(
        {"agentId": "a", "options": {"maxCallsPerSecond": 12, "retryStrategy": {"maxAttempts": 2}}}
    )
    fields = request.merged_fields()
    assert fields["agent_id"] == "a"
    assert fields["max_calls_per_second"] == 12
    assert fields["retry_strategy"].max_attempts == 2

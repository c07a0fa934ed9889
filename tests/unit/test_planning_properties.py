"""Property tests of the planner: random campaigns, every rule checked independently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batchcalls.domain.planning import (
    Occupancy,
    PlanContact,
    PlannerState,
    is_allowed,
    plan_contacts,
)
from batchcalls.models.campaign import CampaignSettings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_planning_checker import allowed_at, check_plan

ZONES = [
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Europe/London",
    "Australia/Adelaide",
    "Australia/Sydney",
    "America/Santiago",
    "Asia/Kathmandu",
]
# Starts are drawn near DST changes of the zones above, and anywhere in 2026.
DST_DATES = [
    datetime(2026, 3, 8, tzinfo=UTC),  # US spring forward
    datetime(2026, 11, 1, tzinfo=UTC),  # US fall back
    datetime(2026, 3, 29, tzinfo=UTC),  # EU spring forward
    datetime(2026, 10, 25, tzinfo=UTC),  # EU fall back
    datetime(2026, 4, 5, tzinfo=UTC),  # AU fall back, Santiago fall back (Apr 4/5)
    datetime(2026, 10, 4, tzinfo=UTC),  # AU spring forward
    datetime(2026, 9, 6, tzinfo=UTC),  # Santiago spring forward
]

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def hhmm(draw, end: bool = False) -> str:
    if end and draw(st.integers(0, 9)) == 0:
        return "24:00"
    minute = (
        draw(st.sampled_from([0, 15, 30, 45])) if draw(st.booleans()) else draw(st.integers(0, 59))
    )
    return f"{draw(st.integers(0, 23)):02d}:{minute:02d}"


@st.composite
def start_instants(draw) -> datetime:
    if draw(st.booleans()):
        base = draw(st.sampled_from(DST_DATES))
        offset = draw(st.integers(-3 * 86_400_000, 2 * 86_400_000))
    else:
        base = datetime(2026, 1, 1, tzinfo=UTC)
        offset = draw(st.integers(0, 364 * 86_400_000))
    return base + timedelta(milliseconds=offset)


@st.composite
def campaigns(draw, pacing=None) -> tuple[CampaignSettings, datetime]:
    start = draw(start_instants())
    start_day = start.date()
    blackouts = draw(
        st.lists(st.integers(-1, 10).map(lambda d: start_day + timedelta(days=d)), max_size=4)
    )
    campaign = CampaignSettings(
        timezone=draw(st.sampled_from(ZONES)),
        start_time=draw(hhmm()),
        end_time=draw(hhmm(end=True)),
        working_days=sorted(draw(st.sets(st.integers(1, 7), min_size=1))),
        blackout_dates=sorted(set(blackouts)),
        max_calls_per_day=draw(st.one_of(st.none(), st.integers(1, 60))),
        max_calls_per_second=draw(st.sampled_from([1, 2, 3, 7, 10, 30])),
        pacing=pacing or draw(st.sampled_from(["asap", "spread"])),
        respect_contact_timezone=draw(st.booleans()),
        legal_hours_guard=draw(st.booleans()),
        phone_numbers=["+14155550100", "+14155550101", "+14155550102"],
        phone_rotation=draw(st.sampled_from(["round_robin", "random", "sequential"])),
    )
    return campaign, start


@st.composite
def contact_lists(draw, max_size: int = 150, prefix: str = "c") -> list[PlanContact]:
    # A few timezone tuples per campaign, like real lists (one or two zones each).
    shapes = draw(
        st.lists(
            st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True).map(tuple),
            min_size=1,
            max_size=4,
        )
    )
    size = draw(st.integers(1, max_size))
    picks = draw(st.lists(st.integers(0, len(shapes) - 1), min_size=size, max_size=size))
    return [PlanContact(f"{prefix}{i}", shapes[p]) for i, p in enumerate(picks)]


def _ms(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@FAST
@given(campaigns(), contact_lists())
def test_every_plan_keeps_every_rule(campaign_and_start, contacts):
    # Given a random campaign and contact list
    campaign, start = campaign_and_start
    # When it is planned in one call
    result = plan_contacts(campaign, start, contacts)
    # Then every rule holds, checked independently
    check_plan(campaign, _ms(start), contacts, result)
    # And is_allowed agrees with the checker on every planned instant
    zones = {c.contact_id: c.timezones for c in contacts}
    for contact_id, due in zip(result.contact_ids[:20], result.due_ms[:20], strict=False):
        assert is_allowed(campaign, zones[contact_id], due)


@FAST
@given(campaigns(), contact_lists(), st.lists(st.integers(1, 60), min_size=1, max_size=6))
def test_planning_in_chunks_gives_the_same_plan_as_one_call(
    campaign_and_start, contacts, chunk_sizes
):
    # Given a campaign, its contacts, and a way to cut them into chunks
    campaign, start = campaign_and_start
    whole = plan_contacts(campaign, start, contacts)
    # When the chunks are planned one after another, each with the state (through JSON)
    # of the one before
    state: PlannerState | None = None
    due: list[int] = []
    ids: list[str] = []
    callers: list[str | None] = []
    unplaceable = []
    position, turn = 0, 0
    while position < len(contacts):
        size = chunk_sizes[turn % len(chunk_sizes)]
        chunk = contacts[position : position + size]
        part = plan_contacts(campaign, start, chunk, state, total=len(contacts))
        state = PlannerState.from_json(part.state.to_json())
        due += part.due_ms
        ids += part.contact_ids
        callers += part.caller_ids
        unplaceable += part.unplaceable
        position += size
        turn += 1
    # Then the plan is exactly the same
    assert ids == whole.contact_ids
    assert due == whole.due_ms
    assert callers == whole.caller_ids
    assert unplaceable == whole.unplaceable
    assert state is not None
    assert state.to_json() == whole.state.to_json()


@FAST
@given(campaigns(), contact_lists(max_size=80), st.data())
def test_replanning_around_existing_calls_keeps_every_rule(
    campaign_and_start, first_contacts, data
):
    # Given a first plan, part of which now exists (queued or done)
    campaign, start = campaign_and_start
    first = plan_contacts(campaign, start, first_contacts)
    kept = data.draw(st.integers(0, len(first.due_ms)))
    existing = first.due_ms[:kept]
    # When other contacts (often of the same timezones) are planned from the same start,
    # from among the existing calls, or later, with those calls as occupancy
    if data.draw(st.booleans()):
        new_contacts = [PlanContact(f"n{i}", c.timezones) for i, c in enumerate(first_contacts)]
    else:
        new_contacts = data.draw(contact_lists(max_size=80, prefix="n"))
    later_ms = data.draw(
        st.one_of(
            st.just(_ms(start)),
            st.sampled_from(existing or [_ms(start)]).map(lambda ms: ms - 1500),
            st.integers(_ms(start), _ms(start) + 3 * 86_400_000),
        )
    )
    later = max(start, datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=later_ms))
    occupancy = Occupancy.from_calls(campaign, existing)
    result = plan_contacts(campaign, later, new_contacts, occupancy=occupancy)
    # Then every rule holds counting the existing calls
    check_plan(campaign, _ms(later), new_contacts, result, occupancy)


@settings(max_examples=40, deadline=None)
@given(campaigns(pacing="asap"), contact_lists(max_size=1), st.data())
def test_a_retry_takes_the_earliest_allowed_time_after_its_delay(campaign_and_start, one, data):
    # Given a campaign with some calls planned, and a retry due after an attempt
    campaign, start = campaign_and_start
    others = plan_contacts(campaign, start, [PlanContact(f"o{i}", ("UTC",)) for i in range(30)])
    retry_from = start + timedelta(milliseconds=data.draw(st.integers(0, 86_400_000)))
    occupancy = Occupancy.from_calls(campaign, others.due_ms)
    # When the retry is planned alone, as asap, around the existing calls
    result = plan_contacts(campaign, retry_from, one, occupancy=occupancy, pacing="asap")
    # Then it keeps every rule and is the earliest such time
    check_plan(campaign, _ms(retry_from), one, result, occupancy, pacing="asap")


@settings(max_examples=200, deadline=None)
@given(campaigns(), st.lists(st.sampled_from(ZONES), min_size=1, max_size=3), st.data())
def test_is_allowed_agrees_with_the_definition(campaign_and_start, zones, data):
    # Given any instant near the campaign's start
    campaign, start = campaign_and_start
    instant = start + timedelta(seconds=data.draw(st.integers(0, 3 * 86_400)))
    # Then is_allowed says what the rule says
    expected = allowed_at(campaign, zones, instant)
    assert is_allowed(campaign, zones, _ms(instant)) == expected

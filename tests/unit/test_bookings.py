"""One more call placed from per-minute bookings: the same instant as a full read, cheaper."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from batchcalls.domain.bookings import day_minutes, minute_of, place_one
from batchcalls.domain.planning import Occupancy, PlanContact, plan_contacts
from batchcalls.models.campaign import CampaignSettings
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_planning_properties import FAST, _ms, campaigns, contact_lists


class Calls:
    """A campaign's existing calls seen through bookings, recording what was read."""

    def __init__(self, instants: list[int]) -> None:
        self.instants = instants
        self.per_minute = Counter(minute_of(ms) for ms in instants)
        self.days_read: list[tuple[str, str]] = []
        self.minutes_read: list[str] = []

    def booked_minutes(self, first: str, last: str) -> dict[str, int]:
        self.days_read.append((first, last))
        return {m: n for m, n in self.per_minute.items() if first <= m <= last}

    def calls_in_minute(self, minute: str) -> list[int]:
        self.minutes_read.append(minute)
        return [ms for ms in self.instants if minute_of(ms) == minute]


def full_read(settings: CampaignSettings, start_ms: int, contact: PlanContact, calls: list[int]):
    """What planning against every existing call gives (the reference)."""
    result = plan_contacts(
        settings,
        start_ms,
        [contact],
        occupancy=Occupancy.from_calls(settings, calls),
        pacing="asap",
    )
    return result.planned[0] if result.planned else None


@FAST
@given(
    campaigns(pacing="asap"),
    contact_lists(max_size=120),
    st.integers(0, 3 * 86_400_000),
    st.data(),
)
def test_a_retry_lands_where_a_full_read_of_the_campaign_puts_it(
    campaign_and_start, contacts, later, data
):
    # Given a campaign whose contacts are planned, and a retry of one of them some time later
    settings, start = campaign_and_start
    existing = plan_contacts(settings, start, contacts)
    calls = list(existing.due_ms)
    retry = contacts[data.draw(st.integers(0, len(contacts) - 1))]
    retry_from = _ms(start) + later
    # When it is placed from bookings (the call that failed stays counted)
    placed = place_one(settings, retry_from, retry, Calls(calls))
    # Then it is exactly where planning against every existing call puts it
    assert placed == full_read(settings, retry_from, retry, calls)


@FAST
@given(campaigns(pacing="asap"), contact_lists(max_size=80), st.data())
def test_a_replan_leaves_out_the_calls_own_booking(campaign_and_start, contacts, data):
    # Given a planned campaign, one of whose calls is re-planned from its own due time
    settings, start = campaign_and_start
    existing = plan_contacts(settings, start, contacts)
    if not existing.due_ms:
        return
    index = data.draw(st.integers(0, len(existing.due_ms) - 1))
    own = existing.due_ms[index]
    contact = next(c for c in contacts if c.contact_id == existing.contact_ids[index])
    # When it is placed again from its own instant, its own booking left out
    placed = place_one(settings, own, contact, Calls(list(existing.due_ms)), own_ms=own)
    # Then it is where a full read without that call puts it
    others = [ms for i, ms in enumerate(existing.due_ms) if i != index]
    assert placed == full_read(settings, own, contact, others)


def test_full_minutes_are_skipped_without_reading_their_calls():
    # Given a campaign packed at 1 call a second from 09:00 to 11:00:30 New York
    settings = CampaignSettings(
        timezone="America/New_York",
        start_time="09:00",
        end_time="17:00",
        max_calls_per_second=1,
        legal_hours_guard=False,
    )
    monday_9 = _ms(datetime(2026, 11, 30, 14, 0, tzinfo=UTC))
    calls = [monday_9 + s * 1000 for s in range(7230)]
    source = Calls(calls)
    # When a retry is placed from 09:30
    placed = place_one(
        settings, monday_9 + 1_800_000, PlanContact("c1", ("America/New_York",)), source
    )
    # Then it takes the first free second, 11:00:30, having read one day of bookings
    # and the calls of that one (half full) minute only
    assert placed is not None and placed.due_ms == monday_9 + 7_230_000
    assert source.days_read == [day_minutes(settings, datetime(2026, 11, 30).date())]
    assert source.minutes_read == ["2026-11-30T16:00"]


def test_a_full_day_sends_the_call_to_the_next_working_day():
    # Given a Friday that already holds its 100 calls (cap 100 a day)
    settings = CampaignSettings(
        timezone="America/New_York",
        start_time="09:00",
        end_time="17:00",
        working_days=[1, 2, 3, 4, 5],
        max_calls_per_day=100,
        max_calls_per_second=2,
        legal_hours_guard=False,
    )
    friday_9 = _ms(datetime(2026, 12, 4, 14, 0, tzinfo=UTC))
    calls = [friday_9 + i * 500 for i in range(100)]
    # When a retry is placed from Friday 10:00
    placed = place_one(
        settings, friday_9 + 3_600_000, PlanContact("c1", ("America/New_York",)), Calls(calls)
    )
    # Then it goes to Monday 09:00
    monday_9 = friday_9 + int(timedelta(days=3).total_seconds() * 1000)
    assert placed is not None and placed.due_ms == monday_9


def test_a_local_day_spans_its_own_utc_minutes_across_a_dst_change():
    settings = CampaignSettings(timezone="America/New_York")
    # 1 Nov 2026: clocks go back, the local day lasts 25 hours
    assert day_minutes(settings, datetime(2026, 11, 1).date()) == (
        "2026-11-01T04:00",
        "2026-11-02T04:59",
    )

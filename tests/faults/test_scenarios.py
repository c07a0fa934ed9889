"""The twelve ways issue 10 found to break the promise, each as a run on the local stack
with the fault that causes it, judged from outside (the API, the provider's log, the bus).

Each of these failed on the delivery code before the change (they were run against it:
see the closing note of issue 10) and passes now. Faults are placed by what a request
does (`CrashAfter`) or by name, never by a position only this code's version has.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.faults.invariants import check, provider_wide
from tests.faults.world import (
    CrashAfter,
    World,
    listening,
    ms,
    numbers,
    writes_status,
)

pytestmark = pytest.mark.slow


def assert_kept(world: World, campaign_id: str) -> None:
    verdict = check(world, campaign_id)
    assert verdict.problems == [], verdict.problems
    assert provider_wide(world) == []


def local_hhmm(instant: datetime, zone: str = "UTC") -> str:
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def takes_a_lease(request: Any) -> bool:
    if request.operation != "TransactWriteItems":
        return False
    for item in request.params.get("TransactItems", []):
        put = item.get("Put")
        if put and put.get("Item", {}).get("pk") == {"S": "lease#live"}:
            return True
        update = item.get("Update")
        if update and update.get("Key", {}).get("pk") == {"S": "lease#live"}:
            return True
    return False


# 1 --------------------------------------------------------------------------------
def test_1_a_tick_between_a_planner_chunks_slots_and_its_contacts_loses_no_contact(world, faults):
    # Given a tick that runs right after the planner wrote an immediate campaign's slots,
    # before it moved the contacts to them
    faults.add(
        kind="interleave",
        function="PlannerFunction",
        at="dynamodb.BatchWriteItem",
        nth=2,
        run="tick",
    )
    # When the campaign runs
    campaign = world.create(numbers("cccc"))
    # Then every contact is called once and the campaign completes
    assert world.run_to_the_end(campaign, limit_seconds=1800)
    assert {c["status"] for c in world.contacts(campaign)} == {"completed"}
    assert_kept(world, campaign)


def test_1_reads_right_after_a_write_see_it_or_change_nothing(world, faults):
    # Given reads without ConsistentRead that miss what was written in the last minute
    faults.add(kind="stale_reads", seconds=60)
    # When an immediate campaign runs
    campaign = world.create(numbers("ccc"))
    # Then nothing is lost for it
    assert world.run_to_the_end(campaign, limit_seconds=1800)
    assert {c["status"] for c in world.contacts(campaign)} == {"completed"}
    assert_kept(world, campaign)


# 2 --------------------------------------------------------------------------------
def test_2_a_caller_that_dies_after_starting_a_call_does_not_strand_it(world, faults):
    # Given a caller that dies right after marking its contact in progress
    crash = CrashAfter("CallerFunction", writes_status("ContactsTable", "in_progress"))
    with listening(crash):
        campaign = world.create(numbers("cc"))
        # When the campaign runs (the message comes back after its visibility timeout)
        assert world.run_to_the_end(campaign, limit_seconds=1800)
    # Then the call is placed (once) and the campaign completes
    assert crash.fired == 1
    assert {c["status"] for c in world.contacts(campaign)} == {"completed"}
    assert_kept(world, campaign)


# 3 --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["provider_5xx", "provider_timeout"])
def test_3_a_provider_down_for_twenty_minutes_loses_no_call(world, faults, kind):
    # Given a provider that answers 503 (or never answers) for twenty minutes
    faults.add(kind=kind, seconds=1200)
    # When a campaign runs through the outage
    campaign = world.create(numbers("cc"))
    # Then its calls are placed once the provider is back, once each
    assert world.run_to_the_end(campaign, limit_seconds=2 * 3600)
    assert {c["status"] for c in world.contacts(campaign)} == {"completed"}
    assert_kept(world, campaign)


# 4 --------------------------------------------------------------------------------
def test_4_duplicate_call_messages_neither_stall_nor_overrun_a_single_place(world, faults):
    # Given one live call at a time, and each call message delivered again while its
    # first copy is being handled (right after that copy took the place)
    faults.add(
        kind="interleave",
        function="CallerFunction",
        at="dynamodb.TransactWriteItems",
        run="redeliver",
        count=3,
    )
    # When three calls are due at once
    campaign = world.create(numbers("ccc"), max_concurrent_calls=1)
    # Then they run one after another without waiting for a lease to time out
    assert world.run_to_the_end(campaign, limit_seconds=20 * 60)
    assert {c["status"] for c in world.contacts(campaign)} == {"completed"}
    assert_kept(world, campaign)


def test_4_a_place_taken_by_an_invocation_that_dies_is_not_held_for_an_hour(world, faults):
    # Given one live call at a time, and a caller that dies right after taking the place
    crash = CrashAfter("CallerFunction", takes_a_lease)
    with listening(crash):
        campaign = world.create(numbers("cc"), max_concurrent_calls=1)
        # When the campaign runs
        assert world.run_to_the_end(campaign, limit_seconds=20 * 60)
    # Then both calls are placed within minutes, one at a time
    assert crash.fired == 1
    assert {c["status"] for c in world.contacts(campaign)} == {"completed"}
    assert_kept(world, campaign)


# 5 --------------------------------------------------------------------------------
def test_5_an_event_whose_first_put_on_the_bus_fails_is_not_lost(world, faults):
    # Given the bus refusing the first PutEvents (whoever makes it)
    faults.add(kind="aws_error", service="events", operation="PutEvents", error="internal")
    # When a one-call campaign runs
    campaign = world.create(numbers("c"))
    assert world.run_to_the_end(campaign, limit_seconds=1800)
    # Then the bus carried its call.completed, its batch.completed and its two status
    # changes (to active, then to completed), each once
    events = Counter(
        e["event"] for e in {e["eventId"]: e for e in world.bus_events(campaign)}.values()
    )
    assert events == {"call.completed": 1, "batch.completed": 1, "campaign.status_changed": 2}
    assert_kept(world, campaign)


# 6 --------------------------------------------------------------------------------
def test_6_no_dial_starts_that_could_reach_the_provider_after_the_window_closes(world, faults):
    # Given a window closing two minutes from now and opening again two minutes later
    # (16:42 -> 16:40 the next day, say), and a call due one second before it closes
    now = world.now().replace(second=0, microsecond=0)
    closes, opens = now + timedelta(minutes=2), now + timedelta(minutes=4)
    due = closes - timedelta(seconds=1)
    campaign = world.create(
        numbers("c"),
        schedule_type="scheduled",
        scheduled_at=due.strftime("%Y-%m-%dT%H:%M:%S"),
        start_time=local_hhmm(opens),
        end_time=local_hhmm(closes),
    )
    # When time passes
    assert world.run_to_the_end(campaign, limit_seconds=1800)
    # Then the call was not dialled in the last second, but when the window opened again
    [call] = world.calls(campaign)
    assert ms(call["placed_at"]) >= int(opens.timestamp() * 1000)
    assert_kept(world, campaign)


# 7 --------------------------------------------------------------------------------
def test_7_calls_that_fell_due_during_missed_ticks_keep_the_calls_per_second(world, faults):
    # Given a campaign of 2 calls a second starting in two minutes, and ten minutes
    # without a tick
    start = world.now().replace(second=0, microsecond=0) + timedelta(minutes=2)
    campaign = world.create(
        numbers("cccccccc"),
        schedule_type="scheduled",
        scheduled_at=start.strftime("%Y-%m-%dT%H:%M:%S"),
        max_calls_per_second=2,
        max_concurrent_calls=3,
    )
    faults.add(kind="skip_ticks", minutes=10)
    # When the ticks come back and the overdue calls are all sent at once
    assert world.run_to_the_end(campaign, limit_seconds=1800)
    # Then no second held more than two of its calls
    per_second = Counter(ms(c["placed_at"]) // 1000 for c in world.calls(campaign))
    assert max(per_second.values()) <= 2
    assert_kept(world, campaign)


# 8 --------------------------------------------------------------------------------
def test_8_a_crash_between_a_status_change_and_its_counters_does_not_block_completion(
    world, faults
):
    # Given a dispatcher that dies right after claiming a call (contact queued)
    crash = CrashAfter("DispatcherFunction", writes_status("ContactsTable", "queued"))
    start = world.now().replace(second=0, microsecond=0) + timedelta(minutes=2)
    with listening(crash):
        campaign = world.create(
            numbers("cc"),
            schedule_type="scheduled",
            scheduled_at=start.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        # When the campaign runs
        assert world.run_to_the_end(campaign, limit_seconds=1800)
    # Then its counters still match its contacts, and it completes (with its event)
    assert crash.fired == 1
    assert world.campaign(campaign)["status"] == "completed"
    assert_kept(world, campaign)


# 9 --------------------------------------------------------------------------------
def test_9_a_dispatcher_stopped_for_more_than_a_day_strands_nothing(world, faults):
    # Given a dispatcher that has run (its first tick ever starts at its own minute), a
    # campaign due in two minutes, and no tick for 26 hours
    world.stack.advance(60)
    start = world.now().replace(second=0, microsecond=0) + timedelta(minutes=2)
    campaign = world.create(
        numbers("cc"),
        schedule_type="scheduled",
        scheduled_at=start.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    faults.add(kind="skip_ticks", minutes=26 * 60)
    world.stack.advance(26 * 3600)
    # When the ticks come back
    assert world.run_to_the_end(campaign, limit_seconds=1800)
    # Then its calls are placed
    assert {c["status"] for c in world.contacts(campaign)} == {"completed"}
    assert_kept(world, campaign)


# 10 -------------------------------------------------------------------------------
def test_10_a_conflicting_transaction_is_retried_not_taken_for_a_lost_race(world, faults):
    # Given one live call at a time, the dispatcher's claims conflicting five times in a
    # row with other transactions, and the first outcome's write conflicting once
    faults.add(
        kind="aws_error",
        function="DispatcherFunction",
        service="dynamodb",
        operation="TransactWriteItems",
        error="conflict",
        count=5,
    )
    faults.add(
        kind="aws_error",
        function="ProviderEventsFunction",
        service="dynamodb",
        operation="TransactWriteItems",
        error="conflict",
    )
    # When the campaign runs
    campaign = world.create(numbers("cc"), max_concurrent_calls=1)
    # Then both calls are placed, neither lost nor holding a place for an hour
    assert world.run_to_the_end(campaign, limit_seconds=20 * 60)
    assert {c["status"] for c in world.contacts(campaign)} == {"completed"}
    assert_kept(world, campaign)


# 11 -------------------------------------------------------------------------------
def test_11_after_a_resume_no_open_contact_shows_a_time_in_the_past(world, faults):
    # Given one live call at a time and three calls due at once: one in progress, two
    # waiting for its place
    campaign = world.create(numbers("ccc"), max_concurrent_calls=1)
    world.stack.advance(2)  # the two others reach the caller and wait for the place
    statuses = Counter(c["status"] for c in world.contacts(campaign))
    assert statuses == {"in_progress": 1, "queued": 2}
    # When it is paused for five seconds (the call in progress goes on), then resumed
    assert world.control(campaign, "pause") == 200
    world.stack.advance(5)
    assert world.control(campaign, "resume") == 202
    # Then no open contact shows a scheduled_at in the past
    now_ms = int(world.now().timestamp() * 1000)
    for contact in world.contacts(campaign):
        if contact["status"] in ("scheduled", "queued"):
            assert ms(contact["scheduled_at"]) >= now_ms, contact
    assert world.run_to_the_end(campaign, limit_seconds=1800)
    assert_kept(world, campaign)


# 12 -------------------------------------------------------------------------------
def _zone_before_midnight(now: datetime) -> tuple[str, datetime]:
    """A fixed-offset zone whose local time is between 22:10 and 23:10 now, and its
    next local midnight."""
    from zoneinfo import ZoneInfo

    for hours in range(-12, 15):
        name = "UTC" if hours == 0 else f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"
        local = now.astimezone(ZoneInfo(name))
        if 22 * 60 + 10 <= local.hour * 60 + local.minute < 23 * 60 + 10:
            midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
            return name, midnight.replace(tzinfo=ZoneInfo(name)).astimezone(UTC)
    raise AssertionError("no zone is an hour before midnight now")


def test_12_a_window_past_midnight_holds_its_daily_cap_once_per_night(world, faults):
    # Given a nightly 22:00-02:00 window in a zone where it is about 22:30 now, four
    # calls a day, and ten contacts
    zone, midnight = _zone_before_midnight(world.now())
    campaign = world.create(
        numbers("cccccccccc"),
        timezone=zone,
        start_time="22:00",
        end_time="02:00",
        max_calls_per_day=4,
        max_calls_per_second=1,
    )
    # When the night passes
    world.run_until(lambda: world.now() > midnight + timedelta(hours=2, minutes=30), 6 * 3600)
    # Then the night's calls, before and after midnight, are four
    assert len(world.calls(campaign)) == 4
    assert_kept(world, campaign)

"""Pure delivery rules: admission order, send delays, dispatch windows, caller-ID
failover, retry decisions, signatures and event bodies."""

from __future__ import annotations

import pytest
from batchcalls.domain.leases import (
    WaitingHead,
    admission_order,
    arrival_lag_ms,
    delay_seconds,
    dial_budget_seconds,
    dispatch_horizon_ms,
    dispatch_minutes,
    first_watermark,
    next_caller_id,
    next_free_second,
    paced_delay_seconds,
    redial_delay_seconds,
    usable_caller_id,
)
from batchcalls.domain.outcomes import (
    CallEnded,
    batch_completed_body,
    call_completed_body,
    sign,
    signature_problem,
)
from batchcalls.domain.retries import next_step
from batchcalls.models.campaign import RetryStrategy

MINUTE = 60_000
NOW = 1_796_047_230_000  # 30 s into a minute


def test_freed_places_go_to_higher_priority_first_then_earlier_calls():
    # Given
    heads = [
        WaitingHead("t", "low-early", 2, 1),
        WaitingHead("t", "high-late", 9, 500),
        WaitingHead("t", "high-early", 9, 100),
    ]
    # When / Then
    assert [h.campaign_id for h in admission_order(heads)] == [
        "high-early",
        "high-late",
        "low-early",
    ]


@pytest.mark.parametrize(
    ("due", "expected"),
    [(NOW - 5000, 0), (NOW, 0), (NOW + 1, 1), (NOW + 30_250, 31), (NOW + 10**7, 900)],
)
def test_a_call_is_delayed_to_its_own_second_never_earlier(due, expected):
    assert delay_seconds(due, NOW) == expected


@pytest.mark.parametrize(
    ("due", "expected"),
    [(NOW - 5000, 0), (NOW, 0), (NOW + 1, 999), (NOW + 30_250, 750), (NOW + 31_000, 0)],
)
def test_a_message_arrives_as_late_as_its_whole_second_delay_rounds_up(due, expected):
    assert arrival_lag_ms(due, NOW) == expected


def test_a_tick_after_days_without_one_reads_every_minute_since_its_watermark():
    # Given a dispatcher that last ran three days ago
    current = NOW - NOW % MINUTE
    three_days_ago = current - 3 * 1440 * MINUTE
    # When it runs again
    minutes = dispatch_minutes(three_days_ago, NOW)
    # Then it reads every minute since, none left behind
    assert minutes[0] == three_days_ago
    assert len(minutes) == 3 * 1440 + 2


def test_overdue_calls_are_sent_at_the_campaigns_rate_not_in_one_burst():
    # Given 25 calls of one campaign that fell due during missed ticks, at 10 calls/s
    delays = [paced_delay_seconds(NOW - 60_000, NOW, k, 10) for k in range(25)]
    # Then ten go at once, ten a second later, five two seconds later
    assert delays == [0] * 10 + [1] * 10 + [2] * 5
    # And a call still ahead waits for its own second
    assert paced_delay_seconds(NOW + 1500, NOW, 7, 10) == 2


def test_a_dial_may_take_until_the_window_closes_or_the_invocation_ends_less_a_margin():
    # Given a window closing in 20 s and an invocation with 50 s left
    assert dial_budget_seconds(NOW + 20_000, NOW, 50_000) == 18.0
    # And one with 5 s left in a long window
    assert dial_budget_seconds(NOW + 3_600_000, NOW, 5_000) == 3.0
    # And a window already closing: nothing
    assert dial_budget_seconds(NOW + 1_000, NOW, 50_000) == 0.0


def test_the_next_free_second_skips_full_ones():
    assert next_free_second({100: 2, 101: 2, 103: 1}, 100, 2) == 102
    assert next_free_second({}, 100, 2) == 100


def test_redials_back_off_up_to_five_minutes():
    assert [redial_delay_seconds(n) for n in range(7)] == [15, 30, 60, 120, 240, 300, 300]


def test_a_tick_reads_from_its_watermark_through_the_end_of_the_next_minute():
    current = NOW - NOW % MINUTE
    assert dispatch_minutes(first_watermark(NOW), NOW) == [
        current - MINUTE,
        current,
        current + MINUTE,
    ]
    assert dispatch_minutes(current - 3 * MINUTE, NOW) == [
        current - 3 * MINUTE,
        current - 2 * MINUTE,
        current - MINUTE,
        current,
        current + MINUTE,
    ]
    assert dispatch_horizon_ms(NOW) == current + 2 * MINUTE


def test_a_dispatcher_that_never_ticked_starts_reading_a_minute_before_the_current_one():
    current = NOW - NOW % MINUTE
    assert first_watermark(NOW) == current - MINUTE
    assert first_watermark(current) == current - MINUTE
    assert first_watermark(current + MINUTE - 1) == current - MINUTE


def test_a_rejected_caller_id_is_replaced_by_the_next_number_in_the_list():
    numbers = ["+1", "+2", "+3"]
    assert next_caller_id(numbers, "+2", {"+2"}) == "+3"
    assert next_caller_id(numbers, "+3", {"+3", "+1"}) == "+2"
    assert next_caller_id(numbers, "+1", set(numbers)) is None
    assert usable_caller_id(numbers, "+1", set()) == "+1"
    assert usable_caller_id(numbers, "+1", {"+1"}) == "+2"


STRATEGY = RetryStrategy(max_attempts=3, no_answer_delay=3_600_000, busy_delay=300_000)


@pytest.mark.parametrize(
    ("outcome", "attempts", "retry", "delay", "final"),
    [
        ("no_answer", 1, True, 3_600_000, None),
        ("busy", 2, True, 300_000, None),
        ("busy", 3, False, 0, "failed"),
        ("failed", 1, False, 0, "failed"),
        ("unknown", 1, False, 0, "failed"),
        ("completed", 1, False, 0, "completed"),
    ],
)
def test_no_answer_and_busy_are_retried_until_max_attempts(outcome, attempts, retry, delay, final):
    step = next_step(outcome, attempts, STRATEGY)
    assert (step.retry, step.delay_ms, step.final_status) == (retry, delay, final)


def test_max_attempts_one_means_no_retry():
    assert not next_step("no_answer", 1, RetryStrategy(max_attempts=1)).retry


BODY = b'{"call_id": "c1", "status": "completed"}'


def test_a_fresh_matching_signature_is_accepted():
    assert signature_problem("s3cret", sign("s3cret", 1000, BODY), BODY, 1000 + 299) is None


@pytest.mark.parametrize(
    ("header", "now"),
    [
        (None, 1000),
        ("", 1000),
        ("v1=abc", 1000),
        (sign("other", 1000, BODY), 1000),
        (sign("s3cret", 1000, BODY + b" "), 1000),
        (sign("s3cret", 1000, BODY), 1301),
        (sign("s3cret", 2000, BODY), 1000),
    ],
)
def test_a_missing_wrong_old_or_future_signature_is_refused(header, now):
    body = BODY
    assert signature_problem("s3cret", header, body, now) is not None


def test_event_bodies_are_camel_case_with_a_stable_event_id():
    call = CallEnded("batch_1", "call_1", "ct_1", "+12025550114", "no_answer", 2, 0, None)
    first = call_completed_body(call, "2026-11-30T14:00:00.000Z")
    again = call_completed_body(call, "2026-11-30T14:05:00.000Z")
    assert first["eventId"] == again["eventId"]
    assert {k: first[k] for k in ("event", "batchId", "callId", "status", "attempt")} == {
        "event": "call.completed",
        "batchId": "batch_1",
        "callId": "call_1",
        "status": "NO_ANSWER",
        "attempt": 2,
    }
    done = batch_completed_body(
        "batch_1", {"completed": 3, "failed": 1, "skipped": 1, "cancelled": 0}, "x"
    )
    assert done["statistics"] == {
        "total": 5,
        "succeeded": 3,
        "failed": 1,
        "skipped": 1,
        "cancelled": 0,
    }

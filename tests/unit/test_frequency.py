"""domain/frequency.py: the rolling 24-hour limit of calls to one number."""

from __future__ import annotations

from batchcalls.domain.frequency import DAY_MS, frequency_limit, judge_call
from hypothesis import given
from hypothesis import strategies as st


def test_the_smaller_limit_wins_and_none_means_no_limit() -> None:
    assert frequency_limit(None, None) is None
    assert frequency_limit(5, None) == 5
    assert frequency_limit(None, 3) == 3
    assert frequency_limit(2, 3) == 2


def test_a_call_under_the_limit_is_allowed_and_joins_the_log() -> None:
    verdict = judge_call([1_000, 2_000], 3_000, 3)
    assert (verdict.allowed, verdict.calls_ms, verdict.not_before_ms) == (
        True,
        [1_000, 2_000, 3_000],
        None,
    )


def test_a_call_at_the_limit_waits_for_the_oldest_blocking_call_to_be_a_day_old() -> None:
    verdict = judge_call([1_000, 2_000, 3_000], 4_000, 3)
    assert not verdict.allowed
    assert verdict.not_before_ms == 1_000 + DAY_MS
    assert judge_call([1_000, 2_000, 3_000], 1_000 + DAY_MS, 3).allowed


def test_calls_older_than_a_day_are_forgotten() -> None:
    verdict = judge_call([0, 10, DAY_MS + 5], DAY_MS + 20, 1)
    assert verdict.not_before_ms == DAY_MS + 5 + DAY_MS
    assert verdict.calls_ms == [DAY_MS + 5]


@given(
    st.lists(st.integers(0, 3 * DAY_MS), max_size=8),
    st.integers(0, 4 * DAY_MS),
    st.integers(1, 5),
)
def test_what_is_allowed_never_puts_more_than_the_limit_in_a_day(calls, now, limit) -> None:
    calls = [ms for ms in calls if ms <= now]  # the log holds calls already started
    verdict = judge_call(calls, now, limit)
    window = [ms for ms in calls if now - DAY_MS < ms]
    if verdict.allowed:
        assert len(window) < limit
    else:
        assert len(window) >= limit
        # at the instant it names, one more call fits
        assert verdict.not_before_ms is not None and verdict.not_before_ms > now
        assert judge_call(calls, verdict.not_before_ms, limit).allowed

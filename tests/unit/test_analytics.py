"""The analytics figures made from counters (domain/analytics.py): the duration histogram,
the answer rate, attempts per contact, calls per local day and hour."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime

from batchcalls.domain.analytics import (
    DURATION_EDGES,
    answer_rate,
    duration_bucket,
    duration_summary,
    per_contact,
    per_day_and_hour,
    quarter_of,
)
from hypothesis import given
from hypothesis import strategies as st


def histogram(durations: list[int]) -> tuple[list[int], list[float]]:
    counts = [0] * len(DURATION_EDGES)
    sums = [0.0] * len(DURATION_EDGES)
    for seconds in durations:
        counts[duration_bucket(seconds)] += 1
        sums[duration_bucket(seconds)] += seconds
    return counts, sums


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


# ---------------------------------------------------------------- durations
def test_a_duration_falls_in_the_bucket_of_its_lower_edge():
    assert [duration_bucket(s) for s in (0, 4, 5, 59, 60, 89, 90, 3599, 3600, 86_400)] == [
        0,
        0,
        1,
        6,
        7,
        7,
        8,
        18,
        19,
        19,
    ]


def test_equal_durations_give_exact_percentiles():
    assert duration_summary(*histogram([60] * 9)).as_dict() == {
        "mean": 60.0,
        "p50": 60.0,
        "p95": 60.0,
    }


def test_percentiles_are_the_mean_of_the_bucket_holding_the_rank():
    # Given 19 calls of 30 s and one of 600 s
    summary = duration_summary(*histogram([30] * 19 + [600]))
    # Then the mean is exact, the median 30, p95 (rank 19) still 30
    assert (summary.mean, summary.p50, summary.p95) == (58.5, 30.0, 30.0)
    # And with two long calls, p95 (rank 19 of 20) lands on them
    assert duration_summary(*histogram([30] * 18 + [600, 600])).p95 == 600.0


def test_no_duration_gives_no_figures():
    assert duration_summary(*histogram([])).as_dict() == {"mean": None, "p50": None, "p95": None}


@given(st.lists(st.integers(min_value=0, max_value=20_000), min_size=1, max_size=200))
def test_percentiles_lie_within_the_bucket_of_the_true_value(durations):
    counts, sums = histogram(durations)
    summary = duration_summary(counts, sums)
    assert summary.mean == round(statistics.fmean(durations), 1)
    ordered = sorted(durations)
    for fraction, value in ((0.5, summary.p50), (0.95, summary.p95)):
        true = ordered[max(1, math.ceil(fraction * len(ordered))) - 1]
        bucket = duration_bucket(true)
        low = DURATION_EDGES[bucket]
        high = DURATION_EDGES[bucket + 1] if bucket + 1 < len(DURATION_EDGES) else math.inf
        assert value is not None and low <= value < high
        if len({d for d in durations if duration_bucket(d) == bucket}) == 1:
            assert value == true  # one value in the bucket: exact


# ---------------------------------------------------------------- rates and attempts
def test_the_answer_rate_is_completed_over_ended_attempts():
    counts = {"completed": 3, "no_answer": 4, "busy": 1, "failed": 1, "unknown": 1}
    assert answer_rate(counts) == 0.3
    assert answer_rate(dict.fromkeys(counts, 0)) is None


def test_attempts_per_contact_list_every_number_up_to_max_attempts():
    assert per_contact({1: 4, 3: 2}, 3) == {"1": 4, "2": 0, "3": 2}
    # a number above max_attempts (lowered by a PATCH) is still shown
    assert per_contact({1: 1, 4: 1}, 2) == {"1": 1, "2": 0, "3": 0, "4": 1}


# ---------------------------------------------------------------- days and hours
def test_a_quarter_hour_is_the_utc_quarter_an_instant_falls_in():
    assert quarter_of(ms("2026-11-30T14:29:59.999Z")) == "2026-11-30T14:15"
    assert quarter_of(ms("2026-11-30T14:30:00Z")) == "2026-11-30T14:30"


def test_calls_fall_into_the_local_day_of_the_campaign_timezone():
    # Given calls at 23:30 and 00:30 New York time (04:30 and 05:30 UTC on the 2nd)
    planned = {"2026-12-02T04:30": 2, "2026-12-02T05:30": 3}
    quarters = {"2026-12-02T04:30": [2, 1], "2026-12-02T05:30": [1, 0]}
    per_day, per_hour = per_day_and_hour("America/New_York", planned, quarters)
    # Then they belong to the 1st and the 2nd, local
    assert per_day == [
        {"date": "2026-12-01", "planned": 2, "placed": 2, "completed": 1},
        {"date": "2026-12-02", "planned": 3, "placed": 1, "completed": 0},
    ]
    assert per_hour == [
        {"hour": "2026-12-01T23:00:00-05:00", "planned": 2, "placed": 2},
        {"hour": "2026-12-02T00:00:00-05:00", "planned": 3, "placed": 1},
    ]


def test_the_two_hours_of_a_fall_back_night_stay_apart():
    # Given calls at 01:30 EDT (05:30 UTC) and at 01:30 EST (06:30 UTC) on 2026-11-01
    planned = {"2026-11-01T05:30": 1, "2026-11-01T06:30": 4}
    per_day, per_hour = per_day_and_hour("America/New_York", planned, {})
    # Then one day (of 25 hours) with both, and two hours labelled by their offsets
    assert per_day == [{"date": "2026-11-01", "planned": 5, "placed": 0, "completed": 0}]
    assert per_hour == [
        {"hour": "2026-11-01T01:00:00-04:00", "planned": 1, "placed": 0},
        {"hour": "2026-11-01T01:00:00-05:00", "planned": 4, "placed": 0},
    ]


def test_a_spring_forward_night_has_no_2_oclock_hour():
    # Given calls at 01:59 EST and 03:00 EDT on 2026-03-08 (one minute apart in UTC)
    planned = {"2026-03-08T06:59": 1, "2026-03-08T07:00": 1}
    _, per_hour = per_day_and_hour("America/New_York", planned, {})
    assert [h["hour"] for h in per_hour] == [
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T03:00:00-04:00",
    ]


def test_a_half_hour_timezone_takes_its_hours_from_quarters():
    # Given Kolkata (UTC+05:30): the UTC quarters 08:15 and 08:30 are 13:45 and 14:00 local
    quarters = {"2026-12-01T08:15": [1, 0], "2026-12-01T08:30": [2, 0]}
    _, per_hour = per_day_and_hour("Asia/Kolkata", {}, quarters)
    assert per_hour == [
        {"hour": "2026-12-01T13:00:00+05:30", "planned": 0, "placed": 1},
        {"hour": "2026-12-01T14:00:00+05:30", "planned": 0, "placed": 2},
    ]


@given(
    st.dictionaries(
        st.integers(min_value=0, max_value=60 * 24 * 30).map(
            lambda m: datetime.fromtimestamp(1_796_000_000 + m * 60, tz=UTC).strftime(
                "%Y-%m-%dT%H:%M"
            )
        ),
        st.integers(min_value=1, max_value=50),
    ),
    st.sampled_from(["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu"]),
)
def test_no_call_is_lost_or_counted_twice_by_the_bucketing(planned, timezone):
    per_day, per_hour = per_day_and_hour(timezone, planned, {})
    total = sum(planned.values())
    assert sum(d["planned"] for d in per_day) == total
    assert sum(h["planned"] for h in per_hour) == total
    assert [d["date"] for d in per_day] == sorted({d["date"] for d in per_day})
    assert len({h["hour"] for h in per_hour}) == len(per_hour)

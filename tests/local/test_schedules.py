"""Schedule expressions fire when EventBridge would (on whatever clock asks)."""

from datetime import UTC, datetime

import pytest

from local_stack.schedules import parse


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_one_minute_rate_fires_at_the_start_of_the_next_minute():
    rate = parse("rate(1 minute)")
    assert rate.next_after(at("2026-11-30T14:00:00")) == at("2026-11-30T14:01:00")
    assert rate.next_after(at("2026-11-30T14:00:59.9")) == at("2026-11-30T14:01:00")


def test_longer_rates_fire_on_multiples_of_their_period():
    assert parse("rate(5 minutes)").next_after(at("2026-11-30T14:03:00")) == at(
        "2026-11-30T14:05:00"
    )
    assert parse("rate(2 hours)").next_after(at("2026-11-30T13:00:00")) == at("2026-11-30T14:00:00")
    assert parse("rate(1 day)").next_after(at("2026-11-30T13:00:00")) == at("2026-12-01T00:00:00")


def test_a_weekday_cron_skips_the_weekend():
    cron = parse("cron(30 9 ? * MON-FRI *)")
    friday_after = at("2026-12-04T10:00:00")
    assert cron.next_after(friday_after) == at("2026-12-07T09:30:00")  # Monday


def test_a_cron_with_steps_and_the_last_day_of_the_month():
    assert parse("cron(0/15 * * * ? *)").next_after(at("2026-11-30T14:07:00")) == at(
        "2026-11-30T14:15:00"
    )
    assert parse("cron(0 0 L * ? *)").next_after(at("2026-02-01T00:00:00")) == at(
        "2026-02-28T00:00:00"
    )


@pytest.mark.parametrize(
    "expression", ["rate(0 minutes)", "rate(1 fortnight)", "cron(1 2 3)", "every minute"]
)
def test_a_malformed_expression_is_refused(expression):
    with pytest.raises(ValueError):
        parse(expression)

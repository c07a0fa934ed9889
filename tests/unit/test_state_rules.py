"""The US state calling-time rules: the table's rows, their combination, DST, numbers.

Expectations are written here in local wall time and turned into instants with zoneinfo,
independently of the module's own conversion (`planning_windows.wall_to_ms`)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from batchcalls.domain.phones import InvalidPhoneNumber
from batchcalls.domain.state_rules import (
    AREA_CODES_CSV,
    COLUMNS,
    FEDERAL_WINDOW,
    RULES,
    RULES_CSV,
    CombinedRule,
    RuleTableError,
    StateRule,
    allowed_intervals,
    is_allowed_at,
    is_state_holiday,
    max_calls_per_24h,
    parse_area_codes,
    parse_rules,
    rule_for,
    states_for_number,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import geocoder

from tools.us_area_codes import area_code_states, render, state_of_description

HOUR_MS = 3_600_000

# Reference dates: none is a public holiday in any state of the table (checked below).
MONDAY = "2026-12-07"
SATURDAY = "2026-12-12"
SUNDAY = "2026-12-13"
THANKSGIVING = "2026-11-26"  # a Thursday, a holiday in every state

ZONE_OF = {
    "AL": "America/Chicago",
    "CT": "America/New_York",
    "FL": "America/New_York",
    "IL": "America/Chicago",
    "KY": "America/New_York",
    "LA": "America/Chicago",
    "MA": "America/New_York",
    "MD": "America/New_York",
    "MI": "America/Detroit",
    "MN": "America/Chicago",
    "MS": "America/Chicago",
    "NE": "America/Chicago",
    "NM": "America/Denver",
    "NV": "America/Los_Angeles",
    "OK": "America/Chicago",
    "PA": "America/New_York",
    "RI": "America/New_York",
    "SD": "America/Chicago",
    "TX": "America/Chicago",
    "UT": "America/Denver",
    "WA": "America/Los_Angeles",
}


def at(zone: str, local: str) -> int:
    """Epoch ms of a local wall time `YYYY-MM-DD HH:MM` (not in a DST gap or fold)."""
    return int(datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def day_intervals(states: list[str], zone: str, day: str) -> list[tuple[int, int]]:
    """The allowed intervals of one whole local date."""
    start = at(zone, f"{day} 00:00")
    end = at(zone, f"{date.fromisoformat(day) + timedelta(days=1)} 00:00")
    return allowed_intervals(states, zone, start, end)


def allowed(states: list[str], zone: str, local: str) -> bool:
    """Whether a call may start at that local time, from the intervals of its whole day."""
    instant = at(zone, local)
    return any(low <= instant < high for low, high in day_intervals(states, zone, local[:10]))


def span(zone: str, day: str, window: tuple[int, int] | None) -> list[tuple[int, int]]:
    """The instants of a window of minutes past local midnight on that date."""
    if window is None:
        return []
    midnight = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone))
    return [
        (
            int((midnight + timedelta(minutes=window[0])).timestamp() * 1000),
            int((midnight + timedelta(minutes=window[1])).timestamp() * 1000),
        )
    ]


# --------------------------------------------------------------------- each row's law
# What each state's row must allow, in the state's local time, as the law was read (see
# the row's source), on the reference dates (HOL: Thanksgiving) or a given one. A new
# row needs its expectations here.
EXPECTED: dict[str, tuple[str, int | None]] = {
    "AL": (
        """allowed MON 08:00, MON 19:59, SAT 19:59
        refused MON 07:59, MON 20:00, SUN 12:00, HOL 12:00
        refused 2026-07-03 12:00""",  # Independence Day observed on the Friday
        None,
    ),
    "CT": (
        """allowed MON 09:00, MON 19:59, SUN 09:00, HOL 12:00
        refused MON 08:59, MON 20:00""",
        None,
    ),
    "FL": (
        """allowed MON 08:00, MON 19:59, SUN 08:00, HOL 19:59
        refused MON 07:59, MON 20:00""",
        3,
    ),
    "IL": (
        """allowed MON 09:00, MON 20:59, SUN 09:00
        refused MON 08:59, MON 21:00""",
        None,
    ),
    "KY": (
        """allowed MON 10:00, MON 20:59, SUN 10:00
        refused MON 09:59, MON 21:00""",
        None,
    ),
    "LA": (
        """allowed MON 08:00, MON 19:59, SAT 08:00
        refused MON 07:59, MON 20:00, SUN 12:00, HOL 12:00
        refused 2027-02-09 12:00""",  # Mardi Gras
        None,
    ),
    "MA": (
        """allowed MON 08:00, MON 19:59, SUN 19:59
        refused MON 07:59, MON 20:00""",
        None,
    ),
    "MD": (
        """allowed MON 08:00, MON 19:59, SAT 19:59
        refused MON 07:59, MON 20:00""",
        3,
    ),
    "MI": (
        """allowed MON 09:00, MON 20:59
        refused MON 08:59, MON 21:00""",
        None,
    ),
    "MN": (
        """allowed MON 09:00, MON 20:59
        refused MON 08:59, MON 21:00""",
        None,
    ),
    "MS": (
        """allowed MON 08:00, MON 19:59, SAT 12:00, HOL 12:00
        refused MON 07:59, MON 20:00, SUN 12:00""",  # holidays no longer barred (2024)
        None,
    ),
    "NE": (
        """allowed MON 08:00, MON 20:59, SUN 13:00, SUN 20:59, HOL 13:00
        refused MON 21:00, SUN 12:59, SUN 21:00, HOL 12:59""",  # holidays: Sunday hours
        None,
    ),
    "NM": (
        """allowed MON 09:00, MON 20:59
        refused MON 08:59, MON 21:00""",
        None,
    ),
    "NV": (
        """allowed MON 09:00, MON 19:59
        refused MON 08:59, MON 20:00""",
        None,
    ),
    "OK": (
        """allowed MON 09:00, MON 19:59, SUN 09:00
        refused MON 08:59, MON 20:00""",
        3,
    ),
    "PA": (
        """allowed MON 08:00, MON 20:59, SUN 08:00
        refused MON 07:59, MON 21:00, HOL 12:00
        refused 2026-11-27 12:00""",  # the day after Thanksgiving, a Pennsylvania holiday
        None,
    ),
    "RI": (
        """allowed MON 09:00, MON 17:59, SAT 10:00, SAT 16:59
        refused MON 08:59, MON 18:00, SAT 09:59, SAT 17:00, SUN 12:00, HOL 12:00
        refused 2027-08-09 12:00""",  # Victory Day
        None,
    ),
    "SD": (
        """allowed MON 09:00, MON 20:59, HOL 12:00
        refused MON 08:59, MON 21:00, SAT 12:00, SUN 12:00""",
        None,
    ),
    "TX": (
        """allowed MON 09:00, MON 20:59, SAT 09:00, SUN 12:00, SUN 20:59
        refused MON 08:59, MON 21:00, SUN 11:59, SUN 21:00""",
        None,
    ),
    "UT": (
        """allowed MON 08:00, MON 20:59, SAT 08:00
        refused MON 07:59, MON 21:00, SUN 12:00, HOL 12:00
        refused 2026-07-24 12:00""",  # Pioneer Day
        None,
    ),
    "WA": (
        """allowed MON 08:00, MON 19:59, SUN 08:00
        refused MON 07:59, MON 20:00""",
        None,
    ),
}
DAYS = {"MON": MONDAY, "SAT": SATURDAY, "SUN": SUNDAY, "HOL": THANKSGIVING}


def probes(text: str) -> list[tuple[str, bool]]:
    """`allowed|refused DAY HH:MM, ...` lines as (local time, allowed?)."""
    found = []
    for line in text.splitlines():
        verdict, _, times = line.strip().partition(" ")
        assert verdict in ("allowed", "refused"), line
        for probe in times.split(","):
            day, clock = probe.split()
            found.append((f"{DAYS.get(day, day)} {clock}", verdict == "allowed"))
    return found


ROWS = sorted(RULES.values(), key=lambda rule: rule.state)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.state)
def test_each_row_allows_what_its_law_says(row: StateRule) -> None:
    assert row.state in EXPECTED, f"add the expectations of {row.state} to EXPECTED"
    text, limit = EXPECTED[row.state]
    zone = ZONE_OF[row.state]

    for local, expected in probes(text):
        assert allowed([row.state], zone, local) is expected, f"{row.state} {local}"
        assert is_allowed_at([row.state], zone, at(zone, local)) is expected, local
    assert max_calls_per_24h([row.state]) == limit


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.state)
def test_each_row_is_applied_on_each_kind_of_day_within_the_federal_hours(row: StateRule) -> None:
    zone = ZONE_OF[row.state]

    def narrowed(window: tuple[int, int] | None) -> tuple[int, int] | None:
        if window is None:
            return None
        start, end = max(window[0], FEDERAL_WINDOW[0]), min(window[1], FEDERAL_WINDOW[1])
        return (start, end) if start < end else None

    holiday = (
        None
        if row.barred_on_state_holidays
        else row.sunday
        if row.holidays_use_sunday_hours
        else row.weekday
    )
    for day, window in [
        (MONDAY, row.weekday),
        (SATURDAY, row.saturday),
        (SUNDAY, row.sunday),
        (THANKSGIVING, holiday),
    ]:
        assert day_intervals([row.state], zone, day) == span(zone, day, narrowed(window)), day


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.state)
def test_each_row_is_stricter_than_the_federal_rule_somewhere(row: StateRule) -> None:
    zone = ZONE_OF[row.state]
    federal = {
        day: day_intervals([], zone, day) for day in (MONDAY, SATURDAY, SUNDAY, THANKSGIVING)
    }
    own = {day: day_intervals([row.state], zone, day) for day in federal}

    assert own != federal or row.max_calls_per_24h is not None


def test_the_reference_dates_are_ordinary_days_everywhere_and_thanksgiving_a_holiday() -> None:
    for state in RULES:
        for day in (MONDAY, SATURDAY, SUNDAY):
            assert not is_state_holiday(state, date.fromisoformat(day)), (state, day)
        assert is_state_holiday(state, date.fromisoformat(THANKSGIVING)), state


def test_an_absent_state_or_no_state_means_the_federal_hours_every_day() -> None:
    zone = "America/Los_Angeles"
    for states in ([], ["CA"], ["NY", "CA"]):
        for day in (MONDAY, SUNDAY, THANKSGIVING):
            assert not allowed(states, zone, f"{day} 07:59")
            assert allowed(states, zone, f"{day} 08:00")
            assert allowed(states, zone, f"{day} 20:59")
            assert not allowed(states, zone, f"{day} 21:00")
        assert max_calls_per_24h(states) is None


# --------------------------------------------------------------------- several states
def test_several_states_combine_to_the_strictest_on_every_point() -> None:
    zone = "America/Chicago"

    # Texas's Sunday noon start and Florida's 20:00 end
    assert day_intervals(["TX", "FL"], zone, SUNDAY) == [
        (at(zone, f"{SUNDAY} 12:00"), at(zone, f"{SUNDAY} 20:00"))
    ]
    # Rhode Island's Saturday hours inside Texas's
    assert day_intervals(["TX", "RI"], zone, SATURDAY) == [
        (at(zone, f"{SATURDAY} 10:00"), at(zone, f"{SATURDAY} 17:00"))
    ]
    # A holiday barred in one state bars the day for all
    assert day_intervals(["MS", "LA"], zone, THANKSGIVING) == []
    assert day_intervals(["MS"], zone, THANKSGIVING) != []
    # Nebraska's holiday (Sunday) hours and Texas's weekday hours
    assert day_intervals(["NE", "TX"], zone, THANKSGIVING) == [
        (at(zone, f"{THANKSGIVING} 13:00"), at(zone, f"{THANKSGIVING} 21:00"))
    ]
    # Disjoint hours leave nothing: Kentucky from 10:00, Rhode Island's Saturday to 17:00
    # still overlap, but South Dakota bars Saturdays altogether
    assert day_intervals(["KY", "RI", "SD"], zone, SATURDAY) == []


def test_a_state_holiday_of_one_state_only_bars_that_state() -> None:
    zone = "America/Chicago"
    mardi_gras = "2027-02-09"  # Louisiana only

    assert not allowed(["LA", "TX"], zone, f"{mardi_gras} 12:00")
    assert allowed(["TX"], zone, f"{mardi_gras} 12:00")
    assert allowed(["AL"], zone, f"{mardi_gras} 12:00")


def test_the_limit_of_several_states_is_the_smallest() -> None:
    assert max_calls_per_24h(["FL", "TX"]) == 3
    assert max_calls_per_24h(["TX", "CA"]) is None
    assert max_calls_per_24h({"OK", "MD", "FL"}) == 3
    # Every limit in the table is 3 today: a row with another one
    five = replace(RULES["TX"], max_calls_per_24h=5)
    assert CombinedRule(frozenset({"TX", "FL"}), (RULES["FL"], five)).max_calls_per_24h == 3
    assert CombinedRule(frozenset({"TX"}), (five,)).max_calls_per_24h == 5


def test_the_combined_rule_lists_the_rows_it_applies() -> None:
    rule = rule_for(["TX", "CA", "FL"])

    assert rule.states == {"TX", "CA", "FL"}
    assert [row.state for row in rule.rows] == ["FL", "TX"]


@pytest.mark.parametrize("states", [["Florida"], ["fl"], ["XX"], ["PR"]])
def test_a_code_that_is_not_a_state_is_refused(states: list[str]) -> None:
    with pytest.raises(ValueError, match="not USPS codes"):
        rule_for(states)


def test_an_empty_or_reversed_range_has_no_interval() -> None:
    start = at("America/Chicago", f"{MONDAY} 12:00")
    assert allowed_intervals(["TX"], "America/Chicago", start, start) == []
    assert allowed_intervals(["TX"], "America/Chicago", start, start - 1) == []


def test_a_range_cuts_the_windows_it_overlaps() -> None:
    zone = "America/Chicago"
    start, end = at(zone, f"{MONDAY} 12:30"), at(zone, "2026-12-08 10:15")

    assert allowed_intervals(["TX"], zone, start, end) == [
        (start, at(zone, f"{MONDAY} 21:00")),
        (at(zone, "2026-12-08 09:00"), end),
    ]


# --------------------------------------------------------------------- daylight saving
def test_windows_follow_the_local_clock_across_daylight_saving_changes() -> None:
    zone = "America/New_York"
    # Spring forward on Sunday 2026-03-08 at 02:00: 08:00 is 13:00 UTC before, 12:00 after
    assert allowed_intervals(
        ["FL"], zone, at(zone, "2026-03-07 00:00"), at(zone, "2026-03-10 00:00")
    ) == [
        (utc("2026-03-07 13:00"), utc("2026-03-08 01:00")),
        (utc("2026-03-08 12:00"), utc("2026-03-09 00:00")),
        (utc("2026-03-09 12:00"), utc("2026-03-10 00:00")),
    ]
    # Fall back on Sunday 2026-11-01 at 02:00: Texas's Sunday noon start is 18:00 UTC
    chicago = "America/Chicago"
    assert allowed_intervals(
        ["TX"], chicago, at(chicago, "2026-10-31 00:00"), at(chicago, "2026-11-03 00:00")
    ) == [
        (utc("2026-10-31 14:00"), utc("2026-11-01 02:00")),
        (utc("2026-11-01 18:00"), utc("2026-11-02 03:00")),
        (utc("2026-11-02 15:00"), utc("2026-11-03 03:00")),
    ]


# --------------------------------------------------------------------- the number
@pytest.mark.parametrize(
    ("number", "states"),
    [
        ("+13055550100", {"FL"}),  # Miami
        ("+12125550101", {"NY"}),  # New York
        ("+12025550100", {"DC"}),
        ("+15095550100", {"WA"}),  # the geocoder says "Washington State"
        ("+19155550100", {"TX"}),  # El Paso, in the Mountain zone
        ("+14155550123", {"CA"}),  # "San Francisco, CA"
        ("+18005550199", set()),  # toll-free
        ("+18885550199", set()),  # toll-free
        ("+14165550100", set()),  # Toronto
        ("+17875550100", set()),  # Puerto Rico: not a state
        ("+442079460958", set()),  # London
    ],
)
def test_the_states_of_a_number_come_from_its_area_code(number: str, states: set[str]) -> None:
    assert states_for_number(number) == states


def test_an_area_code_whose_prefixes_lie_in_several_states_gives_them_all() -> None:
    # The geocoder places one 201 prefix (201-631) in "New York, NY"; the rest are NJ.
    assert states_for_number("+12015550100") == {"NJ", "NY"}


def test_a_string_that_is_no_number_is_refused() -> None:
    with pytest.raises(InvalidPhoneNumber):
        states_for_number("not a number")


@pytest.mark.parametrize(
    ("number", "description", "state"),
    [
        ("+13055550100", "Florida", "FL"),
        ("+12125550101", "New York, NY", "NY"),
        ("+15095550100", "Washington State", "WA"),
        ("+12025550100", "Washington D.C.", "DC"),
        ("+14013330100", "Cumberland, RI", "RI"),
        ("+14165550100", "Ontario", None),
        ("+15142230100", "Montreal, QC", None),
        ("+17875550100", "Puerto Rico", None),
    ],
)
def test_geocoder_descriptions_map_to_usps_codes(
    number: str, description: str, state: str | None
) -> None:
    found = geocoder.description_for_number(phonenumbers.parse(number), "en")

    assert found == description
    assert state_of_description(found) == state


def test_the_area_codes_table_is_what_the_pinned_geocoder_gives() -> None:
    committed = AREA_CODES_CSV.read_text(encoding="utf-8")

    assert render(area_code_states()) == committed, (
        "the area codes table is stale: run python -m tools.us_area_codes"
    )


# --------------------------------------------------------------------- the table itself
def _table_with(field: str, value: str, state: str = "TX") -> str:
    rows = list(csv.DictReader(io.StringIO(RULES_CSV.read_text(encoding="utf-8"))))
    for row in rows:
        if row["state"] == state:
            row[field] = value
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_the_committed_table_parses_to_the_loaded_rules() -> None:
    assert parse_rules(RULES_CSV.read_text(encoding="utf-8")) == RULES
    assert all(row.checked <= date(2026, 12, 6) for row in RULES.values())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mon_fri_start", "9:00", "mon_fri_start must be HH:MM"),
        ("mon_fri_start", "09:60", "mon_fri_start must be HH:MM"),
        ("sun_end", "24:30", "sun_end is after 24:00"),
        ("sat_start", "21:00", "sat_start 21:00 is not before sat_end 21:00"),
        ("sun_start", "", "sun_start and sun_end must both be set or both be empty"),
        ("state", "XX", "state must be a USPS code"),
        ("state", "FL", "a second row for FL"),
        ("barred_on_state_holidays", "yes", "barred_on_state_holidays must be true or false"),
        ("holidays_use_sunday_hours", "maybe", "holidays_use_sunday_hours must be true or false"),
        ("max_calls_per_24h", "0", "max_calls_per_24h must be a positive integer"),
        ("max_calls_per_24h", "three", "max_calls_per_24h must be a positive integer"),
        ("confidence", "sure", "confidence must be one of"),
        ("source", " ", "source is empty"),
        ("checked", "06/12/2026", "checked must be a date"),
    ],
)
def test_a_malformed_row_fails_loudly_naming_the_row(field: str, value: str, message: str) -> None:
    text = _table_with(field, value)  # on Texas's row
    line = 1 + [row.state for row in RULES.values()].index("TX") + 1

    with pytest.raises(RuleTableError, match="rules table line") as raised:
        parse_rules(text)

    assert message in str(raised.value)
    assert f"line {line} " in str(raised.value)


def test_both_holiday_flags_at_once_are_refused() -> None:
    text = _table_with("barred_on_state_holidays", "true", "NE")

    with pytest.raises(RuleTableError, match=r"\(NE\): barred_on_state_holidays and holidays_use"):
        parse_rules(text)


def test_a_wrong_header_or_a_short_row_is_refused() -> None:
    text = RULES_CSV.read_text(encoding="utf-8")

    with pytest.raises(RuleTableError, match="the header must be exactly"):
        parse_rules(text.replace("max_calls_per_24h", "max_calls", 1))
    with pytest.raises(RuleTableError, match=r"line 2 \(AL\): expected 14 fields"):
        parse_rules(text.replace("AL,08:00,20:00,", "AL,08:00,", 1))


def test_a_malformed_area_code_row_is_refused() -> None:
    with pytest.raises(RuleTableError, match=r"line 3 \(305\)"):
        parse_area_codes("area_code,states\n305,FL\n305,FL\n")
    with pytest.raises(RuleTableError, match="states must be USPS codes"):
        parse_area_codes("area_code,states\n416,ON\n")


# --------------------------------------------------------------------- properties
ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Phoenix"]
ZONES += ["America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "Australia/Lord_Howe"]
STATES = [*sorted(RULES), "CA", "NY", "DC"]
START = utc("2026-01-01 00:00")
END = utc("2029-01-01 00:00")


@settings(max_examples=150, deadline=None)
@given(
    states=st.sets(st.sampled_from(STATES), max_size=3),
    zone=st.sampled_from(ZONES),
    start=st.integers(START, END),
    length=st.integers(0, 10 * 24 * HOUR_MS),
    probe=st.floats(0, 1),
)
def test_intervals_lie_in_the_range_and_in_the_federal_hours(
    states: set[str], zone: str, start: int, length: int, probe: float
) -> None:
    end = start + length
    intervals = allowed_intervals(states, zone, start, end)

    previous_end = start
    for low, high in intervals:
        assert previous_end <= low < high <= end
        previous_end = high
        first = datetime.fromtimestamp(low / 1000, ZoneInfo(zone))
        last = datetime.fromtimestamp((high - 1) / 1000, ZoneInfo(zone))
        assert first.date() == last.date()
        assert first.hour * 60 + first.minute >= FEDERAL_WINDOW[0]
        assert last.hour * 60 + last.minute < FEDERAL_WINDOW[1]

    # A call may start at an instant exactly when an interval holds it
    if length:
        instant = start + int(probe * (length - 1))
        inside = any(low <= instant < high for low, high in intervals)
        assert is_allowed_at(states, zone, instant) is inside

    # One more state can only take time away
    wider = allowed_intervals(states - {"TX"}, zone, start, end)
    for low, high in intervals:
        assert any(w_low <= low and high <= w_high for w_low, w_high in wider)

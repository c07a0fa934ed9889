"""US state calling-time rules: the table in data/us_state_calling_rules.csv, applied.

The table holds one row per state whose rules are stricter than the federal 08:00-21:00
local time of 47 CFR 64.1200(c)(1): its hours per day of the week (Monday to Friday,
Saturday, Sunday; empty hours bar the day), whether its state holidays are barred or take
the Sunday hours, and its limit of calls per number in 24 hours. A state without a row
has the federal hours only. docs/state-rules.md says how to change a row.

Everything here is pure (no AWS, no clock): a rule is always the federal hours narrowed
by the row of each state the recipient may be in, the stricter winning on every point.
Local wall times become instants with `planning_windows.wall_to_ms`, as the planner does,
so a daylight-saving gap or repeated hour behaves the same in both.

The table is read and validated once, at import: a malformed row raises `RuleTableError`
naming the file, the row and the field, so a bad edit cannot deploy silently. The US
state of a number comes from data/us_area_code_states.csv, which `tools/us_area_codes.py`
derives from phonenumbers' geocoder (a test checks it is up to date), so the geocoder's
data (some 100 MB in memory) is never loaded at run time.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import phonenumbers

from batchcalls.domain.phones import InvalidPhoneNumber
from batchcalls.domain.planning_windows import (
    GUARD_END_MINUTE,
    GUARD_START_MINUTE,
    MINUTES_PER_DAY,
    Interval,
    local_ordinal,
    wall_to_ms,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
RULES_CSV = DATA_DIR / "us_state_calling_rules.csv"
AREA_CODES_CSV = DATA_DIR / "us_area_code_states.csv"

US_STATES: Mapping[str, str] = MappingProxyType(
    {
        "Alabama": "AL",
        "Alaska": "AK",
        "Arizona": "AZ",
        "Arkansas": "AR",
        "California": "CA",
        "Colorado": "CO",
        "Connecticut": "CT",
        "Delaware": "DE",
        "District of Columbia": "DC",
        "Florida": "FL",
        "Georgia": "GA",
        "Hawaii": "HI",
        "Idaho": "ID",
        "Illinois": "IL",
        "Indiana": "IN",
        "Iowa": "IA",
        "Kansas": "KS",
        "Kentucky": "KY",
        "Louisiana": "LA",
        "Maine": "ME",
        "Maryland": "MD",
        "Massachusetts": "MA",
        "Michigan": "MI",
        "Minnesota": "MN",
        "Mississippi": "MS",
        "Missouri": "MO",
        "Montana": "MT",
        "Nebraska": "NE",
        "Nevada": "NV",
        "New Hampshire": "NH",
        "New Jersey": "NJ",
        "New Mexico": "NM",
        "New York": "NY",
        "North Carolina": "NC",
        "North Dakota": "ND",
        "Ohio": "OH",
        "Oklahoma": "OK",
        "Oregon": "OR",
        "Pennsylvania": "PA",
        "Rhode Island": "RI",
        "South Carolina": "SC",
        "South Dakota": "SD",
        "Tennessee": "TN",
        "Texas": "TX",
        "Utah": "UT",
        "Vermont": "VT",
        "Virginia": "VA",
        "Washington": "WA",
        "West Virginia": "WV",
        "Wisconsin": "WI",
        "Wyoming": "WY",
    }
)
"""The 50 states and DC by name, to their USPS codes (territories are not states here)."""

STATE_CODES = frozenset(US_STATES.values())

COLUMNS = (
    "state",
    "mon_fri_start",
    "mon_fri_end",
    "sat_start",
    "sat_end",
    "sun_start",
    "sun_end",
    "barred_on_state_holidays",
    "holidays_use_sunday_hours",
    "max_calls_per_24h",
    "confidence",
    "source",
    "checked",
    "note",
)
CONFIDENCES = ("high", "medium", "low")

Window = tuple[int, int] | None
"""Allowed minutes past local midnight of one day, [start, end); None: no call that day."""

FEDERAL_WINDOW: tuple[int, int] = (GUARD_START_MINUTE, GUARD_END_MINUTE)

_HHMM = re.compile(r"([01]\d|2[0-4]):([0-5]\d)")
_BOOLEANS = {"true": True, "false": False}


class RuleTableError(ValueError):
    """A malformed rules (or area codes) table; the message names the file, row and field."""


@dataclass(frozen=True, slots=True)
class StateRule:
    """One row of the table."""

    state: str
    weekday: Window  # Monday to Friday
    saturday: Window
    sunday: Window
    barred_on_state_holidays: bool
    holidays_use_sunday_hours: bool
    max_calls_per_24h: int | None
    confidence: str
    source: str
    checked: date
    note: str

    def window_on(self, day: date) -> Window:
        """The state's own hours on a local date (not yet narrowed to the federal ones)."""
        if (self.barred_on_state_holidays or self.holidays_use_sunday_hours) and is_state_holiday(
            self.state, day
        ):
            return None if self.barred_on_state_holidays else self.sunday
        weekday = day.isoweekday()
        if weekday == 7:
            return self.sunday
        if weekday == 6:
            return self.saturday
        return self.weekday


@dataclass(frozen=True, slots=True)
class CombinedRule:
    """What calling someone who may be in any of `states` allows: the federal hours,
    narrowed by the row of each of those states that has one (the stricter wins)."""

    states: frozenset[str]
    rows: tuple[StateRule, ...]

    def window_on(self, day: date) -> Window:
        start, end = FEDERAL_WINDOW
        for row in self.rows:
            window = row.window_on(day)
            if window is None:
                return None
            start, end = max(start, window[0]), min(end, window[1])
            if start >= end:
                return None
        return start, end

    @property
    def max_calls_per_24h(self) -> int | None:
        limits = [row.max_calls_per_24h for row in self.rows if row.max_calls_per_24h]
        return min(limits) if limits else None


# ------------------------------------------------------------------------- the tables
def _minute(text: str, field: str) -> int:
    match = _HHMM.fullmatch(text)
    if not match:
        raise ValueError(f"{field} must be HH:MM (00:00 to 24:00) or empty, not {text!r}")
    minute = int(match[1]) * 60 + int(match[2])
    if minute > MINUTES_PER_DAY:
        raise ValueError(f"{field} is after 24:00: {text!r}")
    return minute


def _window(row: Mapping[str, str], prefix: str) -> Window:
    start, end = row[f"{prefix}_start"].strip(), row[f"{prefix}_end"].strip()
    if start.lower() in ("", "none") and end.lower() in ("", "none"):
        return None
    if start.lower() in ("", "none") or end.lower() in ("", "none"):
        raise ValueError(f"{prefix}_start and {prefix}_end must both be set or both be empty")
    window = (_minute(start, f"{prefix}_start"), _minute(end, f"{prefix}_end"))
    if window[0] >= window[1]:
        raise ValueError(f"{prefix}_start {start} is not before {prefix}_end {end}")
    return window


def _boolean(row: Mapping[str, str], field: str) -> bool:
    text = row[field].strip().lower()
    if text not in _BOOLEANS:
        raise ValueError(f"{field} must be true or false, not {row[field]!r}")
    return _BOOLEANS[text]


def _rule(row: Mapping[str, str]) -> StateRule:
    state = row["state"].strip()
    if state not in STATE_CODES:
        raise ValueError(f"state must be a USPS code of a state or DC, not {state!r}")
    limit_text = row["max_calls_per_24h"].strip()
    if limit_text and not (limit_text.isdigit() and int(limit_text) > 0):
        raise ValueError(f"max_calls_per_24h must be a positive integer or empty: {limit_text!r}")
    confidence = row["confidence"].strip()
    if confidence not in CONFIDENCES:
        raise ValueError(f"confidence must be one of {', '.join(CONFIDENCES)}: {confidence!r}")
    if not row["source"].strip():
        raise ValueError("source is empty: say where the rule comes from")
    try:
        checked = date.fromisoformat(row["checked"].strip())
    except ValueError:
        raise ValueError(f"checked must be a date YYYY-MM-DD: {row['checked']!r}") from None
    rule = StateRule(
        state=state,
        weekday=_window(row, "mon_fri"),
        saturday=_window(row, "sat"),
        sunday=_window(row, "sun"),
        barred_on_state_holidays=_boolean(row, "barred_on_state_holidays"),
        holidays_use_sunday_hours=_boolean(row, "holidays_use_sunday_hours"),
        max_calls_per_24h=int(limit_text) if limit_text else None,
        confidence=confidence,
        source=row["source"].strip(),
        checked=checked,
        note=row["note"].strip(),
    )
    if rule.barred_on_state_holidays and rule.holidays_use_sunday_hours:
        raise ValueError("barred_on_state_holidays and holidays_use_sunday_hours are both true")
    return rule


def _rows(
    text: str, origin: str, columns: tuple[str, ...], key: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """The rows of a CSV table with exactly those columns, each with where it stands."""
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        if tuple(reader.fieldnames or ()) != columns:
            raise RuleTableError(
                f"{origin}: the header must be exactly {','.join(columns)}, not "
                f"{','.join(reader.fieldnames or ())}"
            )
        for row in reader:
            where = f"{origin} line {reader.line_num} ({(row.get(key) or '').strip() or '?'})"
            if None in row or any(value is None for value in row.values()):
                raise RuleTableError(f"{where}: expected {len(columns)} fields")
            yield where, row
    except csv.Error as error:
        raise RuleTableError(f"{origin} line {reader.line_num}: {error}") from None


def parse_rules(text: str, origin: str = "rules table") -> Mapping[str, StateRule]:
    """The rows of a rules table (CSV text) by state; RuleTableError on the first bad row."""
    rules: dict[str, StateRule] = {}
    for where, row in _rows(text, origin, COLUMNS, "state"):
        try:
            rule = _rule(row)
        except ValueError as error:
            raise RuleTableError(f"{where}: {error}") from None
        if rule.state in rules:
            raise RuleTableError(f"{where}: a second row for {rule.state}")
        rules[rule.state] = rule
    return MappingProxyType(rules)


def parse_area_codes(text: str, origin: str = "area codes table") -> Mapping[str, frozenset[str]]:
    """The area codes table (CSV `area_code,states`, states space-separated) by area code."""
    table: dict[str, frozenset[str]] = {}
    for where, row in _rows(text, origin, ("area_code", "states"), "area_code"):
        code, states = row["area_code"].strip(), row["states"].split()
        if not re.fullmatch(r"[2-9]\d\d", code) or code in table:
            raise RuleTableError(f"{where}: not a new three-digit area code")
        if not states or not set(states) <= STATE_CODES:
            raise RuleTableError(f"{where}: states must be USPS codes of states or DC")
        table[code] = frozenset(states)
    return MappingProxyType(table)


RULES: Mapping[str, StateRule] = parse_rules(RULES_CSV.read_text(encoding="utf-8"), RULES_CSV.name)
AREA_CODE_STATES: Mapping[str, frozenset[str]] = parse_area_codes(
    AREA_CODES_CSV.read_text(encoding="utf-8"), AREA_CODES_CSV.name
)


# ------------------------------------------------------------------------- the rules
@lru_cache(maxsize=512)
def _holiday_dates(state: str, year: int) -> frozenset[date]:
    # Imported here: the holidays package costs ~80 ms to import, and most calls never
    # need it (only states whose holidays matter, and then once per state and year).
    import holidays

    return frozenset(holidays.country_holidays("US", subdiv=state, years=year))


def is_state_holiday(state: str, day: date) -> bool:
    """Whether the date is a public holiday in the state, federal ones and days observed
    in lieu (a Saturday holiday's Friday, a Sunday one's Monday) included."""
    return day in _holiday_dates(state, day.year)


@lru_cache(maxsize=4096)
def _combined(states: frozenset[str]) -> CombinedRule:
    unknown = sorted(states - STATE_CODES)
    if unknown:
        raise ValueError(f"not USPS codes of US states or DC: {', '.join(unknown)}")
    rows = tuple(RULES[state] for state in sorted(states) if state in RULES)
    return CombinedRule(states, rows)


def rule_for(states: Iterable[str]) -> CombinedRule:
    """The combined rule for a recipient who may be in any of the states (USPS codes).
    No state, or states without a row, give the federal hours alone."""
    return _combined(frozenset(states))


def max_calls_per_24h(states: Iterable[str]) -> int | None:
    """The strictest limit of calls per number in 24 hours among the states, or None."""
    return rule_for(states).max_calls_per_24h


def allowed_intervals(
    states: Iterable[str], zone_name: str, start_ms: int, end_ms: int
) -> list[Interval]:
    """The half-open UTC intervals (epoch ms) inside [start_ms, end_ms) when the state
    rules allow calling a recipient in all of `states`, in order, worked out on each local
    date of the IANA zone (the recipient's): that date's hours, barred weekdays and state
    holidays, always within the federal 08:00-21:00."""
    rule = rule_for(states)
    if end_ms <= start_ms:
        return []
    intervals: list[Interval] = []
    for ordinal in range(
        local_ordinal(zone_name, start_ms), local_ordinal(zone_name, end_ms - 1) + 1
    ):
        window = rule.window_on(date.fromordinal(ordinal))
        if window is None:
            continue
        low = max(start_ms, wall_to_ms(zone_name, ordinal, window[0]))
        high = min(end_ms, wall_to_ms(zone_name, ordinal, window[1]))
        if low < high:
            intervals.append((low, high))
    return intervals


def is_allowed_at(states: Iterable[str], zone_name: str, instant_ms: int) -> bool:
    """Whether the state rules allow a call to start at that instant."""
    return bool(allowed_intervals(states, zone_name, instant_ms, instant_ms + 1))


# ------------------------------------------------------------------------- the number
def states_for_number(e164: str) -> frozenset[str]:
    """The US states (USPS codes, DC included) a number's area code is in: one, several
    when the area code spans states, none for a number outside the US (Canada, the
    Caribbean, US territories), a non-geographic area code (toll-free...) or an area code
    the geocoder has no place for. Only the area code is known: a mobile may be elsewhere."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(f"not a phone number in E.164: {e164!r}") from None
    if number.country_code != 1:
        return frozenset()
    area_code = phonenumbers.national_significant_number(number)[:3]
    return AREA_CODE_STATES.get(area_code, frozenset())


def states_with_rules(e164: str, state: str | None) -> frozenset[str]:
    """The states whose rows apply to a recipient: its own `state` when given, else the
    states of its number's area code; only those with a row (the others add nothing to
    the federal hours). Read off the E.164 text, no parsing: planning asks per contact."""
    if state:
        found = frozenset({state})
    elif e164.startswith("+1") and len(e164) == 12:
        found = AREA_CODE_STATES.get(e164[2:5], frozenset())
    else:
        found = frozenset()
    return found & _RULE_STATES


_RULE_STATES = frozenset(RULES)

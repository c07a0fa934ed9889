"""Public-holiday calendars (`holiday_calendars`, API.md): codes of the `holidays` package,
a country (`US`, `GB`) or a country and one of its subdivisions (`US-TX`, `DE-BY`). No
window starts on their holidays, as on a blackout date."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from functools import lru_cache

_CODE = re.compile(r"^([A-Z]{2,3})(?:-([A-Z0-9]{1,4}))?$")


def check_calendar(code: str) -> str:
    """The code, upper-cased, if the `holidays` package has that calendar; else ValueError
    saying why."""
    import holidays  # ~80 ms: only campaigns that name a calendar pay for it

    text = code.strip().upper()
    match = _CODE.match(text)
    if match is None:
        raise ValueError(f"'{code}' is not a holiday calendar code such as US, US-TX or DE-BY")
    country, subdivision = match.groups()
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"no holiday calendar for country '{country}'")
    if subdivision is not None and subdivision not in supported[country]:
        raise ValueError(f"'{country}' has no subdivision '{subdivision}' in the holidays package")
    return text


@lru_cache(maxsize=256)
def _dates(code: str, year: int) -> frozenset[date]:
    import holidays

    country, _, subdivision = code.partition("-")
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


def holiday_dates(calendars: Iterable[str], years: Iterable[int]) -> frozenset[date]:
    """Every public holiday of the calendars in those years (days observed in lieu too)."""
    found: set[date] = set()
    for code in calendars:
        for year in years:
            found |= _dates(code, year)
    return frozenset(found)


def years_around(first_ms: int, last_ms: int) -> range:
    """The calendar years an interval touches, one more each side (local dates differ
    from UTC ones by up to a day)."""
    first = 1970 + first_ms // 31_556_952_000
    last = 1970 + last_ms // 31_556_952_000
    return range(max(first - 1, 1), last + 2)

"""EventBridge schedule expressions: when does `rate(...)` or `cron(...)` fire next.

`rate(N unit)` fires on multiples of its period counted from the Unix epoch (so
`rate(1 minute)` fires at second 0 of every minute; AWS counts from the rule's creation,
which only shifts the phase). `cron(...)` has AWS's six fields, in UTC:
minutes hours day-of-month month day-of-week year, with `*`, `?`, lists, ranges, steps,
names (JAN, MON), `L` as a day of month, and day-of-week 1-7 = SUN-SAT.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class Schedule:
    def next_after(self, instant: datetime) -> datetime:
        """The first firing strictly after `instant`."""
        raise NotImplementedError


class Rate(Schedule):
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def next_after(self, instant: datetime) -> datetime:
        epoch = int(instant.timestamp())
        return datetime.fromtimestamp((epoch // self.seconds + 1) * self.seconds, tz=UTC)


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if step != 1 else start
        if not low <= start <= high or not low <= end <= high or step < 1:
            raise ValueError(f"{text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    return int(text)


class Cron(Schedule):
    def __init__(self, text: str) -> None:
        fields = text.split()
        if len(fields) != 6:
            raise ValueError(f"cron needs 6 fields: {text!r}")
        minutes, hours, dom, months, dow, years = fields
        self.minutes = sorted(_field(minutes, 0, 59))
        self.hours = sorted(_field(hours, 0, 23))
        self.last_day = dom.upper() == "L"
        self.any_dom = dom in ("*", "?")
        self.dom = set() if self.last_day else _field(dom, 1, 31)
        self.months = _field(months, 1, 12, _MONTHS)
        self.any_dow = dow in ("*", "?")
        self.dow = _field(dow, 1, 7, _DAYS)
        self.years = _field(years, 1970, 2199)

    def _day_matches(self, day: datetime) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        weekday = (day.isoweekday() % 7) + 1  # SUN=1 .. SAT=7
        if self.last_day:
            dom_ok = day.day == calendar.monthrange(day.year, day.month)[1]
        else:
            dom_ok = day.day in self.dom
        if self.any_dom:
            return weekday in self.dow
        if self.any_dow:
            return dom_ok
        return dom_ok and weekday in self.dow

    def next_after(self, instant: datetime) -> datetime:
        start = instant.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise ValueError("the cron expression never fires in the next five years")


def parse(expression: str) -> Schedule:
    match = re.fullmatch(r"\s*(rate|cron)\((.*)\)\s*", expression)
    if not match:
        raise ValueError(f"not a schedule expression: {expression!r}")
    kind, body = match.groups()
    if kind == "cron":
        return Cron(body)
    amount, unit = body.split()
    if unit not in _UNITS or int(amount) < 1:
        raise ValueError(f"bad rate: {expression!r}")
    return Rate(int(amount) * _UNITS[unit])

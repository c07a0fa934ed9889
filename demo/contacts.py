"""Deterministic, valid US contacts whose last digit picks the simulated outcome.

The simulated provider decides an outcome by the dialled number's last digit: 1
no_answer, 2 busy, 3 failed, anything else completed. Digits cycle 0..9 within each area
code, so every area (and so every timezone) gets the same mix: 10% no_answer, 10% busy,
10% failed, 70% completed.
"""

from __future__ import annotations

import csv
import io
import random
from typing import Any

import phonenumbers

# Area code -> city; the contact's timezone follows from the number (API.md "Timezones").
AREAS = {
    "212": "New York",
    "312": "Chicago",
    "415": "San Francisco",
    "617": "Boston",
    "303": "Denver",
}
OUTCOME_BY_DIGIT = {"1": "no_answer", "2": "busy", "3": "failed"}
PLANS = ("gold", "silver", "bronze")
SEED = 2026


def expected_outcome(phone_number: str) -> str:
    return OUTCOME_BY_DIGIT.get(phone_number[-1], "completed")


def _exchange(rng: random.Random) -> int:
    """A central office code 200-999, never 555 (fictional) nor N11 (service codes)."""
    while True:
        exchange = rng.randint(200, 999)
        if exchange != 555 and exchange % 100 != 11:
            return exchange


def generate_contacts(count: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`count` distinct contacts, each accepted by `phonenumbers.is_valid_number`."""
    rng = random.Random(seed)
    areas = list(AREAS)
    contacts: list[dict[str, Any]] = []
    seen: set[str] = set()
    index = 0
    while len(contacts) < count:
        area = areas[index % len(areas)]
        digit = (index // len(areas)) % 10
        index += 1
        number = f"+1{area}{_exchange(rng)}{rng.randint(0, 999):03d}{digit}"
        if number in seen or not phonenumbers.is_valid_number(phonenumbers.parse(number)):
            continue
        seen.add(number)
        n = len(contacts) + 1
        contacts.append(
            {
                "phone_number": number,
                "name": f"Contact {n:04d}",
                "variables": {"city": AREAS[area], "plan": PLANS[n % len(PLANS)]},
            }
        )
    return contacts


def contacts_csv(contacts: list[dict[str, Any]]) -> bytes:
    """The contacts as a contact file (README "Contact files"): phone_number, name and
    one column per variable."""
    variables = sorted({name for c in contacts for name in c.get("variables", {})})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phone_number", "name", *variables])
    for contact in contacts:
        given = contact.get("variables", {})
        writer.writerow(
            [
                contact["phone_number"],
                contact.get("name", ""),
                *(given.get(v, "") for v in variables),
            ]
        )
    return out.getvalue().encode()

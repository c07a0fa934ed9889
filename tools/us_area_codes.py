"""Writes the US area code -> states table that `state_rules.states_for_number` reads.

phonenumbers' geocoder describes each NANP prefix in English: a state ("Florida",
"Washington State", "Washington D.C.") or a place and a state ("Miami, FL", "New York,
NY"), and for Canada and the Caribbean a province or place. Each area code gets every US
state (or DC) its prefixes are described with, so an area code spanning states gets them
all; area codes with no US description (Canada, the Caribbean, territories, toll-free)
are left out. The geocoder's data costs ~0.5 s and some 100 MB to load, which is why the
layer reads this small table instead; a unit test checks it equals what this script
writes with the pinned phonenumbers, so upgrade phonenumbers, then run:

    .venv/bin/python -m tools.us_area_codes           # rewrite the table
    .venv/bin/python -m tools.us_area_codes --check   # exit 1 if it is not up to date
"""

from __future__ import annotations

import argparse
import re
import sys

from batchcalls.domain.state_rules import AREA_CODES_CSV, STATE_CODES, US_STATES

_ALIASES = {"Washington State": "WA", "Washington D.C.": "DC"}
_PLACE_AND_STATE = re.compile(r".+, ([A-Z]{2})")


def state_of_description(description: str) -> str | None:
    """The USPS code of a geocoder description of a US place, or None if it is not one."""
    if description in US_STATES:
        return US_STATES[description]
    if description in _ALIASES:
        return _ALIASES[description]
    match = _PLACE_AND_STATE.fullmatch(description)
    if match and match[1] in STATE_CODES:
        return match[1]
    return None


def area_code_states() -> dict[str, frozenset[str]]:
    """Every US area code the geocoder describes, with the states of its prefixes."""
    from phonenumbers.geodata import GEOCODE_DATA

    table: dict[str, set[str]] = {}
    for prefix, names in GEOCODE_DATA.items():
        if not prefix.startswith("1") or len(prefix) < 4:
            continue
        state = state_of_description(names.get("en", ""))
        if state:
            table.setdefault(prefix[1:4], set()).add(state)
    return {code: frozenset(states) for code, states in sorted(table.items())}


def render(table: dict[str, frozenset[str]]) -> str:
    lines = ["area_code,states"]
    lines += [f"{code},{' '.join(sorted(states))}" for code, states in sorted(table.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args(argv)
    fresh = render(area_code_states())
    if args.check:
        if AREA_CODES_CSV.read_text(encoding="utf-8") != fresh:
            print(f"{AREA_CODES_CSV} is stale: run python -m tools.us_area_codes", file=sys.stderr)
            return 1
        return 0
    AREA_CODES_CSV.write_text(fresh, encoding="utf-8")
    print(f"wrote {AREA_CODES_CSV}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

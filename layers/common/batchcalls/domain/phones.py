"""Phone numbers: E.164 normalisation and the timezones a number may be in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as number_timezones

_NON_GEOGRAPHIC = {
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.VOIP,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.UAN,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.VOICEMAIL,
}


class InvalidPhoneNumber(ValueError):
    pass


@dataclass(frozen=True)
class ReadNumber:
    """A valid number: its E.164 form and the timezones it may be in (empty for a number
    with no place: toll-free, VoIP...)."""

    e164: str
    timezones: tuple[str, ...]

    def zones_for(self, given: str | None) -> tuple[str, ...]:
        """API.md "Timezones of a contact": the contact's own zone when given, else the
        number's (empty: the campaign's, resolved when read, so a PATCH of the campaign's
        timezone reaches these contacts too)."""
        return (given,) if given else self.timezones


def read_number(raw: object, default_region: str | None = None) -> ReadNumber:
    """The number in E.164 with its timezones, or InvalidPhoneNumber with the reason. A
    number without a country code is read in `default_region` (ISO 3166 code) if given.

    The number is parsed once and typed once (`number_type` is UNKNOWN exactly when
    `is_valid_number` is false): importing a million rows spends most of its time here."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhoneNumber("must be a phone number string in E.164, e.g. +14155550123")
    text = raw.strip()
    if len(text) > 40:
        raise InvalidPhoneNumber("too long to be a phone number")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        if default_region:
            raise InvalidPhoneNumber(
                f"not a phone number of {default_region} nor one with a country code"
            ) from None
        raise InvalidPhoneNumber(
            "not a phone number with a country code (E.164, e.g. +14155550123)"
        ) from None
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise InvalidPhoneNumber("not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind in _NON_GEOGRAPHIC:
        return ReadNumber(e164, ())
    zones = {
        zone
        for zone in number_timezones.time_zones_for_geographical_number(number)
        if zone != number_timezones.UNKNOWN_TIMEZONE and is_known_timezone(zone)
    }
    return ReadNumber(e164, tuple(sorted(zones)))


def normalise_e164(raw: object) -> str:
    """The number in E.164, or InvalidPhoneNumber with the reason."""
    return read_number(raw).e164


def region_of(e164: str) -> str | None:
    """The ISO 3166 region of a valid number (`US` for +1 212...)."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))


def is_region_code(value: object) -> bool:
    """An ISO 3166 region `phonenumbers` knows (e.g. `US`, `GB`)."""
    return isinstance(value, str) and value.upper() in phonenumbers.SUPPORTED_REGIONS


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_known_timezone(name: object) -> bool:
    if not isinstance(name, str) or name not in known_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def timezones_for_contact(e164: str, given: str | None) -> tuple[str, ...]:
    """The zones of a contact with this number (`ReadNumber.zones_for`), worked out once,
    when the contact is stored."""
    return read_number(e164).zones_for(given)


def effective_timezones(stored: Iterable[object], campaign_timezone: str) -> tuple[str, ...]:
    """The zones a contact is called in: its own, or the campaign's when it has none."""
    return tuple(str(zone) for zone in stored) or (campaign_timezone,)

"""Phone numbers: E.164 normalisation and the timezones a number may be in."""

from __future__ import annotations

from collections.abc import Iterable
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


def normalise_e164(raw: object) -> str:
    """The number in E.164, or InvalidPhoneNumber with the reason."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhoneNumber("must be a phone number string in E.164, e.g. +14155550123")
    text = raw.strip()
    if len(text) > 40:
        raise InvalidPhoneNumber("too long to be a phone number")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(
            "not a phone number with a country code (E.164, e.g. +14155550123)"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
    """API.md "Timezones of a contact": the given zone, else the number's zones; empty
    means "the campaign's timezone" (resolved when read, so a PATCH of the campaign's
    timezone reaches these contacts too). Worked out once, when the contact is stored."""
    if given:
        return (given,)
    number = phonenumbers.parse(e164, None)
    if phonenumbers.number_type(number) in _NON_GEOGRAPHIC:
        return ()
    zones = {
        zone
        for zone in number_timezones.time_zones_for_number(number)
        if zone != number_timezones.UNKNOWN_TIMEZONE and is_known_timezone(zone)
    }
    return tuple(sorted(zones))


def effective_timezones(stored: Iterable[object], campaign_timezone: str) -> tuple[str, ...]:
    """The zones a contact is called in: its own, or the campaign's when it has none."""
    return tuple(str(zone) for zone in stored) or (campaign_timezone,)

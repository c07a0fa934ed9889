import pytest
from batchcalls.domain.phones import (
    InvalidPhoneNumber,
    effective_timezones,
    normalise_e164,
    timezones_for_contact,
)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("+1 (415) 555-0123", "+14155550123"), (" +442079460958 ", "+442079460958")],
)
def test_numbers_are_normalised_to_e164(raw, e164):
    assert normalise_e164(raw) == e164


@pytest.mark.parametrize(
    "raw", ["", "4155550123", "+1415", "+999123456789", None, 14155550123, "+" + "1" * 50]
)
def test_invalid_numbers_are_refused(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalise_e164(raw)


def test_a_given_timezone_wins():
    assert timezones_for_contact("+12125550101", "Europe/Paris") == ("Europe/Paris",)


def test_a_number_spanning_two_zones_keeps_both():
    assert timezones_for_contact("+61881234567", None) == ("Australia/Adelaide", "Australia/Perth")


def test_non_geographic_numbers_fall_back_to_the_campaign_timezone():
    assert timezones_for_contact("+18005550199", None) == ()
    assert effective_timezones((), "America/Chicago") == ("America/Chicago",)

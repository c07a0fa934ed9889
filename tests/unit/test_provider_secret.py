"""The provider secret can be rotated with an overlap: its parameter holds `new,old` (or
one per line) while the provider moves over; a callback signed with either is accepted,
one signed with anything else is not, and the first secret is the one that signs."""

from __future__ import annotations

import pytest
from batchcalls.adapters.provider_http import ProviderSecret, parse_secrets
from batchcalls.domain.outcomes import sign, signature_problem

BODY = b'{"call_id": "call_1", "status": "completed"}'
NOW = 1_796_047_200


@pytest.mark.parametrize(
    ("value", "secrets"),
    [
        ("only", ("only",)),
        ("new,old", ("new", "old")),
        ("new\nold\n", ("new", "old")),
        ("new\r\nold", ("new", "old")),
        ("  new , ,\n old  ,", ("new", "old")),
        (",,\n \n", ()),
        ("", ()),
        ("same,same,other", ("same", "other")),
        ("a b,c", ("a b", "c")),
    ],
)
def test_the_parameter_value_is_read_as_secrets_in_order(value, secrets):
    assert parse_secrets(value) == secrets


def test_during_a_rotation_both_secrets_are_accepted_and_a_third_is_not():
    secrets = parse_secrets("new-secret,old-secret")
    for signer in ("new-secret", "old-secret"):
        assert signature_problem(secrets, sign(signer, NOW, BODY), BODY, NOW) is None
    assert signature_problem(secrets, sign("third", NOW, BODY), BODY, NOW) == (
        "the signature does not match"
    )


def test_a_signature_with_an_accepted_secret_must_still_be_recent():
    secrets = ("new-secret", "old-secret")
    old = sign("old-secret", NOW - 301, BODY)
    assert signature_problem(secrets, old, BODY, NOW) == "the signature is too old"


def test_the_first_secret_signs_and_every_one_is_accepted():
    secret = ProviderSecret(" new-secret ,\nold-secret", parameter_name="")
    assert secret.signing() == "new-secret"
    assert secret.accepted() == ("new-secret", "old-secret")


def test_an_empty_secret_is_a_configuration_error_not_an_open_door():
    with pytest.raises(RuntimeError, match="empty"):
        ProviderSecret(" , ", parameter_name="").accepted()

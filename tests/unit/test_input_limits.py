"""Limits on what a request may carry: JSON bodies, callback signatures, contact sizes."""

from __future__ import annotations

import json

import pytest
from batchcalls.domain.outcomes import sign, signature_problem
from batchcalls.models.campaign import ContactIn, SchedulingFields
from batchcalls.models.json_body import MAX_DEPTH, MAX_NUMBER_DIGITS, parse_json_body
from pydantic import ValidationError

BODY = b'{"call_id": "call_1", "status": "completed"}'
NOW = 1_796_047_200


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_body_nested_to_the_limit_parses_and_one_level_more_is_refused():
    assert parse_json_body(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    with pytest.raises(json.JSONDecodeError, match="nested deeper than 32"):
        parse_json_body(nested(MAX_DEPTH + 1))


def test_a_body_nested_past_pythons_recursion_limit_is_refused_as_malformed():
    with pytest.raises(json.JSONDecodeError, match="nested deeper"):
        parse_json_body("[" * 100_000)
    with pytest.raises(json.JSONDecodeError, match="nested deeper"):
        parse_json_body('{"a":' * 50_000 + "0" + "}" * 50_000)


def test_numbers_up_to_the_digit_limit_parse_and_longer_ones_are_refused():
    assert parse_json_body("9" * MAX_NUMBER_DIGITS) == int("9" * MAX_NUMBER_DIGITS)
    assert parse_json_body("-" + "9" * MAX_NUMBER_DIGITS) == -int("9" * MAX_NUMBER_DIGITS)
    with pytest.raises(json.JSONDecodeError, match="more than 100 digits"):
        parse_json_body("9" * (MAX_NUMBER_DIGITS + 1))
    with pytest.raises(json.JSONDecodeError, match="more than 100 digits"):
        parse_json_body('{"a": [' + "9" * 5_000 + "]}")
    with pytest.raises(json.JSONDecodeError, match="more than 100 digits"):
        parse_json_body("0." + "1" * 5_000)


def test_bytes_that_are_not_utf8_are_refused_as_malformed():
    with pytest.raises(json.JSONDecodeError):
        parse_json_body(b'{"a": "\xff"}')
    assert parse_json_body('{"a": "é"}'.encode()) == {"a": "é"}


def test_ordinary_json_parses_as_json_does():
    text = '{"a": [1, 2.5, -3, true, null, "x"], "b": {"c": 1e3}}'
    assert parse_json_body(text) == json.loads(text)


@pytest.mark.parametrize(
    "header",
    [
        "t=" + "9" * 400 + ",v1=" + "0" * 64,  # float(400 digits) overflows
        "t=²,v1=" + "0" * 64,  # "²".isdigit() is true, int("²") fails
        "t=١٢٣,v1=" + "0" * 64,  # Arabic-Indic digits
        f"t={NOW},v1=" + "é" * 64,  # compare_digest refuses non-ASCII str
        f"t={NOW}," + "v1=0," * 1_000,
        "t=\ud800",
        "t=-5,v1=00",
    ],
)
def test_a_malformed_signature_header_is_a_problem_not_an_exception(header):
    assert signature_problem("s3cret", header, BODY, NOW) is not None


def test_a_signature_in_upper_case_hex_matches():
    header = sign("s3cret", NOW, BODY)
    stamp, digest = header.split(",v1=")
    assert signature_problem("s3cret", f"{stamp},v1={digest.upper()}", BODY, NOW) is None


@pytest.mark.parametrize(
    "scheduled_at",
    ["9999-12-31T23:30:00-05:00", "0001-01-01T00:30:00+05:00", "1999-12-31T23:59:59", 10**11],
)
def test_scheduled_at_outside_2000_to_2099_is_refused(scheduled_at):
    with pytest.raises(ValidationError, match="between 2000-01-01 and 2099-12-31"):
        SchedulingFields.model_validate({"scheduled_at": scheduled_at})


def test_a_contacts_variables_are_capped_in_count_length_and_bytes():
    ContactIn.model_validate({"phone_number": "+12125550104", "variables": {"a": "x" * 4_000}})
    for variables, problem in [
        ({f"k{i}": "v" for i in range(101)}, "at most 100 items"),
        ({"a": "x" * 4_001}, "at most 4000 characters"),
        ({"": "x"}, "at least 1 character"),
        ({"k" * 101: "x"}, "at most 100 characters"),
        ({f"k{i}": "é" * 2_000 for i in range(9)}, "at most 32768 are allowed"),
    ]:
        with pytest.raises(ValidationError, match=problem):
            ContactIn.model_validate({"phone_number": "+12125550104", "variables": variables})


def test_a_phone_number_is_at_most_64_characters():
    with pytest.raises(ValidationError, match="at most 64 characters"):
        ContactIn.model_validate({"phone_number": "+1" + "2" * 63})

"""Event destinations' pure rules: names, patterns, the public-URL check."""

from __future__ import annotations

from typing import get_args

import pytest
from batchcalls.domain.event_destinations import (
    EVENT_NAMES,
    event_pattern,
    is_destination_id,
    new_destination_id,
    resource_name,
)
from batchcalls.domain.public_urls import address_problem, public_url_problem
from batchcalls.models.event_destinations import EventName


def test_the_api_accepts_exactly_the_event_names_of_the_bus():
    assert get_args(EventName) == EVENT_NAMES


def test_a_destination_id_names_resources_within_eventbridges_64_characters():
    # Given a new id and the longest prefix a 20-character stage gives
    destination_id = new_destination_id()
    name = resource_name("batch-calls-" + "s" * 20 + "-", destination_id)
    # Then
    assert is_destination_id(destination_id)
    assert len(name) <= 64
    assert name.endswith(destination_id)
    with pytest.raises(ValueError, match="64"):
        resource_name("x" * 50, destination_id)


def test_ids_the_api_did_not_hand_out_are_not_destination_ids():
    assert not is_destination_id("dest_nothing")
    assert not is_destination_id("dest_" + "A" * 16)
    assert not is_destination_id("batch_0123456789abcdefgh")


def test_the_pattern_matches_the_tenant_and_narrows_only_by_what_is_given():
    assert event_pattern("t1", None, None) == {
        "source": ["batch-calls"],
        "resources": ["tenant/t1"],
    }
    assert event_pattern(
        "t1", ["batch.failed", "batch.completed", "batch.failed"], ["b2", "b1"]
    ) == {
        "source": ["batch-calls"],
        "resources": ["tenant/t1"],
        "detail-type": ["batch.completed", "batch.failed"],
        "detail": {"batchId": ["b1", "b2"]},
    }


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("10.0.0.1", "not a public address"),
        ("172.16.5.4", "not a public address"),
        ("192.168.1.1", "not a public address"),
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:10.0.0.1", "not a public address"),
        ("0.0.0.0", "not a public address"),
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
        ("hooks.example.com", None),  # a name: judged by what it resolves to
    ],
)
def test_only_public_addresses_may_receive_events(address, refused):
    problem = address_problem(address)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem


def test_a_name_is_judged_by_the_addresses_it_resolves_to():
    url = "https://hooks.example.com/x"
    assert public_url_problem(url, []) is None  # does not resolve yet: accepted
    assert public_url_problem(url, ["93.184.215.14"]) is None
    problem = public_url_problem(url, ["93.184.215.14", "10.1.1.1"])
    assert problem is not None and "10.1.1.1" in problem


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "ftp://hooks.example.com/x",
        "https://",
        "https://user:secret@hooks.example.com/x",
        "https://hooks.example.com:99999/x",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/" + "x" * 2048,
    ],
)
def test_only_well_formed_https_urls_are_accepted(url):
    assert public_url_problem(url, []) is not None

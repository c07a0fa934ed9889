"""Stale reads: without ConsistentRead, a read sees items as they were before recent writes."""

import pytest

from tests.local.helpers import act

pytestmark = pytest.mark.slow


def test_an_eventually_consistent_read_right_after_an_update_sees_the_old_value(mini_stack, faults):
    # Given an item written, then the fault, then time, then an update
    act(mini_stack, {"put": "a", "value": "old"})
    fault = faults.add(kind="stale_reads", seconds=5)
    act(mini_stack, {"update": "a", "value": "new"})
    # When / Then
    assert act(mini_stack, {"get": "a"}, {"get": "a", "consistent": True}) == ["old", "new"]
    assert [f.request for f in fault.firings] == ["dynamodb.GetItem"]


def test_an_item_created_in_the_window_is_absent_and_one_deleted_is_present(mini_stack, faults):
    # Given
    act(mini_stack, {"put": "gone", "value": "1"})
    faults.add(kind="stale_reads", seconds=5)
    act(mini_stack, {"put": "new", "value": "2"}, {"delete": "gone"})
    # When / Then every kind of eventually consistent read sees the older table
    assert act(
        mini_stack,
        {"get": "new"},
        {"get": "gone"},
        {"batch_get": ["new", "gone"]},
        {"scan": True},
        {"query": "gone"},
        {"query": "new"},
    ) == [None, "1", ["gone=1"], ["gone=1"], ["-=1"], []]
    # And consistent ones do not
    assert act(
        mini_stack,
        {"get": "new", "consistent": True},
        {"batch_get": ["new", "gone"], "consistent": True},
        {"scan": True, "consistent": True},
        {"query": "new", "consistent": True},
    ) == ["2", ["new=2"], ["new=2"], ["-=2"]]


def test_once_the_window_has_passed_reads_are_fresh(mini_stack, faults):
    faults.add(kind="stale_reads", seconds=5)
    act(mini_stack, {"put": "a", "value": "1"})
    mini_stack.advance(4)
    assert act(mini_stack, {"get": "a"}) == [None]
    mini_stack.advance(1)
    assert act(mini_stack, {"get": "a"}) == ["1"]


def test_count_limits_the_reads_served_stale(mini_stack, faults):
    fault = faults.add(kind="stale_reads", seconds=60, count=1)
    act(mini_stack, {"put": "a", "value": "1"})
    assert act(mini_stack, {"get": "a"}, {"get": "a"}) == [None, "1"]
    assert fault.fired == 1


def test_a_read_of_an_item_not_written_in_the_window_is_not_a_firing(mini_stack, faults):
    fault = faults.add(kind="stale_reads", seconds=60, count=1)
    act(mini_stack, {"put": "a", "value": "1"})
    assert act(mini_stack, {"get": "b"}, {"get": "a"}) == [None, None]
    assert [f.request for f in fault.firings] == ["dynamodb.GetItem"]
    assert fault.firings[0].index == 1

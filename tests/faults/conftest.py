"""Fixtures of the fault tests: one stack per module (a simulated clock that only moves
forward, so each test runs its own campaigns from `world.now()`), and its faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_stack.faults import Faults
from tests.faults.world import World, start_stack


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    stack = start_stack()
    try:
        yield World(stack)
    finally:
        stack.stop()


@pytest.fixture
def faults(world: World) -> Iterator[Faults]:
    """Serial mode on (the same run makes the same requests in the same order), the
    recorder emptied; every fault cleared after the test."""
    faults = world.stack.faults
    faults.serial = True
    faults.clear_recorder()
    try:
        yield faults
    finally:
        faults.clear()
        faults.serial = False

"""Fixtures of the local stack (the embedded default), for tests/local and anyone else.

- `start_local_stack(**options)`: starts a `LocalStack` (simulated clock at LOCAL_START
  unless told otherwise) and stops it after the test. Options are those of
  `LocalStack.start`: template, clock, clock_start, api_keys, parameters, provider...
- `mini_stack`: a fresh stack of the test-only template `fixtures/mini` (stub handlers
  that record what they receive) for each test.
- `live_stack`: the real template.yaml, shared by the tests of one module, simulated
  clock at LOCAL_START, keys LIVE_KEYS. Tests sharing it must not assume an empty stack.
- `faults`: the running stack's `Faults` (`faults.add(kind=..., ...)`, `recorder()`), in
  serial mode, cleared after the test; list it after the stack fixture.

Module scope, not session scope: moto keeps its state per process, and other tests in
the same worker use `mock_aws`, which resets it; a module-scoped stack is stopped before
pytest moves on to another module's tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local_stack import LocalStack, aws_requests
from local_stack.faults import Faults
from tests.local.helpers import BusEvents

FIXTURES = Path(__file__).parent / "fixtures"
MINI_TEMPLATE = FIXTURES / "mini" / "template.yaml"
LOCAL_START = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York
LIVE_KEYS = {"key-tenant-a": "tenant_a", "key-tenant-b": "tenant_b"}


def _start(**options: Any) -> LocalStack:
    options.setdefault("clock", "simulated")
    if options["clock"] == "simulated":
        options.setdefault("clock_start", LOCAL_START)
    return LocalStack.start(**options)


@pytest.fixture
def start_local_stack() -> Iterator[Callable[..., LocalStack]]:
    started: list[LocalStack] = []

    def start(**options: Any) -> LocalStack:
        stack = _start(**options)
        started.append(stack)
        return stack

    yield start
    for stack in reversed(started):
        stack.stop()


@pytest.fixture
def mini_stack(start_local_stack: Callable[..., LocalStack]) -> LocalStack:
    return start_local_stack(template=MINI_TEMPLATE)


@pytest.fixture(scope="module")
def live_stack() -> Iterator[LocalStack]:
    stack = _start(api_keys=LIVE_KEYS)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def faults() -> Iterator[Faults]:
    """The faults of the stack already started by an earlier fixture of the test (list
    `faults` after `mini_stack` or `live_stack`), in `serial` mode (the same scenario
    makes the same requests in the same order), its recorder empty (invocations counted
    from 0); the faults are cleared after the test."""
    stack = LocalStack.active()
    if stack is None:
        raise RuntimeError("start a stack first: list `faults` after mini_stack or live_stack")
    stack.faults.serial = True
    stack.faults.clear_recorder()
    try:
        yield stack.faults
    finally:
        stack.faults.clear()
        stack.faults.serial = False


@pytest.fixture
def bus() -> Iterator[BusEvents]:
    """Every event put on the bus while the test runs (whichever stack puts it)."""
    events = BusEvents()
    aws_requests.add_listener(events)
    try:
        yield events
    finally:
        aws_requests.remove_listener(events)

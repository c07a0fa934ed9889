"""Parallel I/O for the handlers: one long-lived thread pool whose workers keep the
caller's context.

The pool lives as long as the process (a Lambda execution environment): botocore and
pynamodb keep a client per thread, and a new thread builds new clients (parsing the
service model again, tens of milliseconds each), so threads are reused, not made per
call. Context variables (the Powertools logger's keys, the local runtime's note of which
function is running) do not follow work into a thread by themselves; each task runs in
a copy of the submitting thread's context. Work submitted from a pool thread runs in
that thread (a nested parallel map would otherwise wait for itself).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 16
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_pool = threading.local()


def _never() -> bool:
    return False


_serial: Callable[[], bool] = _never


def set_serial(predicate: Callable[[], bool]) -> None:
    """Run every parallel map serially, in order, while `predicate()` is true: the local
    runtime's fault suite needs each invocation's requests in one repeatable order."""
    global _serial
    _serial = predicate


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="batchcalls-io")
        return _pool


def parallel_map(function: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """`[function(item) for item in items]`, up to `workers` at a time, in order."""
    work = list(items)
    if workers <= 1 or len(work) <= 1 or getattr(_in_pool, "active", False) or _serial():
        return [function(item) for item in work]
    context = contextvars.copy_context()

    def run(item: T) -> R:
        _in_pool.active = True
        try:
            return context.copy().run(function, item)
        finally:
            _in_pool.active = False

    pool = _shared_pool()
    batches = (
        [work[i : i + workers] for i in range(0, len(work), workers)]
        if workers < MAX_WORKERS
        else [work]
    )
    results: list[R] = []
    for batch in batches:
        results.extend(pool.map(run, batch))
    return results

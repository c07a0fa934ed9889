"""Parallel I/O for the handlers: a thread pool whose workers keep the caller's context.

Context variables (the Powertools logger's keys, the local runtime's note of which
function is running) do not follow work into a plain `ThreadPoolExecutor`; each task
here runs in a copy of the submitting thread's context.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(function: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """`[function(item) for item in items]`, up to `workers` at a time, in order."""
    work = list(items)
    if workers <= 1 or len(work) <= 1:
        return [function(item) for item in work]
    context = contextvars.copy_context()

    def run(item: T) -> R:
        return context.copy().run(function, item)

    with ThreadPoolExecutor(min(workers, len(work))) as pool:
        return list(pool.map(run, work))

"""Independent pieces of work side by side on this process's CPUs, on threads: numpy and onnxruntime let go of the
interpreter in their loops, so products and passes over arrays of different pieces overlap.

    for result in in_order(work, items, usable_cpus()):    # work(item) per item, results in the items' order
        ...
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def in_order(work: Callable[[Item], Result], items: Sequence[Item], threads: int) -> Iterator[Result]:
    """work(item) for each item, up to `threads` at a time, yielded in the items' order; with one thread or one item,
    in this thread. Stopped early (an error, Ctrl-C), it lets the pieces running finish and starts no other."""
    if threads < 2 or len(items) < 2:
        yield from map(work, items)
        return
    pool = ThreadPoolExecutor(min(threads, len(items)))
    try:
        yield from pool.map(work, items)
    finally:
        pool.shutdown(cancel_futures=True)

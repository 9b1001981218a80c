"""in_order: work on threads, results in the items' order, whatever the number of threads; an error stops it."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.threads import in_order, usable_cpus


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-1000, 1000), max_size=30), st.integers(1, 6))
def test_results_come_in_the_items_order(items, threads):
    assert list(in_order(lambda item: item * item - 3, items, threads)) == [item * item - 3 for item in items]


def test_pieces_run_side_by_side():
    """Two pieces that each wait for the other finish only when both run at once."""
    both = threading.Barrier(2, timeout=10)
    assert list(in_order(lambda item: both.wait() >= 0 and item, [1, 2], 2)) == [1, 2]


def test_an_error_stops_the_work_and_reaches_the_caller():
    started = []

    def work(item: int) -> int:
        started.append(item)
        if item == 1:
            raise ValueError("piece 1 failed")
        time.sleep(0.05)  # 200 pieces on 2 threads: 5 s, unless the error cancels those not started
        return item

    with pytest.raises(ValueError, match="piece 1 failed"):
        list(in_order(work, list(range(200)), 2))
    assert len(started) < 100


def test_one_thread_runs_in_this_thread():
    def here(item: int) -> bool:
        return threading.current_thread() is threading.main_thread()

    assert list(in_order(here, [1, 2, 3], 1)) == [True] * 3


def test_there_is_a_cpu():
    assert usable_cpus() >= 1

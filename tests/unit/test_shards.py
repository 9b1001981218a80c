"""How `pimc eval` cuts a dataset into shards (pimc/scaleout.py)."""

from hypothesis import given
from hypothesis import strategies as st

from pimc.scaleout import default_shard_size, shard_bounds


@given(st.integers(1, 5000), st.integers(1, 64))
def test_every_worker_gets_four_shards_when_there_are_samples_for_them(count, workers):
    size = default_shard_size(count, workers)
    bounds = shard_bounds(count, size)
    assert 1 <= size <= 16
    assert len(bounds) >= min(4 * workers, count)
    assert [i for a, b in bounds for i in range(a, b)] == list(range(count))


def test_large_datasets_keep_sixteen_samples_per_shard():
    assert default_shard_size(50_000, 8) == 16
    assert default_shard_size(48, 2) == 6

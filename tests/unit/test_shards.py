"""How `pimc eval` cuts a dataset into shards (pimc/scaleout.py)."""

from hypothesis import given
from hypothesis import strategies as st

from pimc.scaleout import shard_bounds


@given(st.integers(1, 5000), st.integers(1, 64), st.none() | st.integers(1, 40))
def test_shards_cover_the_samples_in_order(count, workers, size):
    bounds = shard_bounds(count, workers, size)
    assert [i for a, b in bounds for i in range(a, b)] == list(range(count))
    if size:
        assert all(b - a == size for a, b in bounds[:-1])


@given(st.integers(1, 5000), st.integers(1, 64))
def test_default_shards_shrink_to_single_samples(count, workers):
    """At most 16 samples, never growing, a quarter of the work left per worker: at least 4 shards per worker when
    there are samples for them, and one sample each once no more than 4 per worker are left."""
    bounds = shard_bounds(count, workers)
    sizes = [b - a for a, b in bounds]
    assert max(sizes) <= 16 and sizes == sorted(sizes, reverse=True)
    assert len(sizes) >= min(4 * workers, count)
    assert all(b - a == 1 for a, b in bounds if count - a <= 4 * workers)


def test_large_datasets_keep_sixteen_samples_per_shard():
    sizes = [b - a for a, b in shard_bounds(50_000, 8)]
    assert sizes[:3000] == [16] * 3000 and len(sizes) == 3200

"""Samples read in place from an .npz: what np.savez stores uncompressed is found, memory-mapped and read by rows
exactly; what it cannot map (compressed, Fortran order) is not claimed."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from pimc.inputs import read_dataset, stored_rows

DTYPES = st.sampled_from([np.float32, np.float64, np.uint8, np.int8, np.int64, ">f4"])


@settings(max_examples=40, deadline=None)
@given(x=arrays(DTYPES, array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6)), data=st.data())
def test_rows_read_in_place_equal_the_saved_ones(tmp_path_factory, x, data):
    path = tmp_path_factory.mktemp("rows") / "d.npz"
    np.savez(path, y=np.zeros(len(x), np.int64), x=x)  # x after y: its member does not start the file
    rows = stored_rows(str(path), "x")
    start = data.draw(st.integers(0, len(x)))
    stop = data.draw(st.integers(start, len(x)))
    part = rows.part(start, stop).read()
    assert part.dtype == x.dtype and part.flags.writeable and part.flags.aligned
    np.testing.assert_array_equal(part, x[start:stop])
    np.testing.assert_array_equal(rows.part(start, stop).part(0, stop - start).read(), x[start:stop])


def test_a_dataset_stored_uncompressed_is_mapped_not_loaded(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.savez(tmp_path / "plain.npz", x=x, y=np.arange(4))
    np.savez_compressed(tmp_path / "small.npz", x=x, y=np.arange(4))
    mapped, _ = read_dataset(str(tmp_path / "plain.npz"))
    loaded, _ = read_dataset(str(tmp_path / "small.npz"))
    assert isinstance(mapped, np.memmap) and not isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(mapped, loaded)


def test_what_cannot_be_mapped_is_not_claimed(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.savez_compressed(tmp_path / "compressed.npz", x=x)
    np.savez(tmp_path / "fortran.npz", x=np.asfortranarray(x))
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 6), np.float32))
    assert [stored_rows(str(tmp_path / f"{name}.npz"), "x") for name in ("compressed", "fortran", "empty")] == [None] * 3
    assert stored_rows(str(tmp_path / "compressed.npz"), "y") is None

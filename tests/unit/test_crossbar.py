"""Bit slicing and row chunking, as slice-weights, slice-inputs and the emitter use them."""

import numpy as np

from pimc.dialects.xbar import even_slices
from pimc.passes.slice_weights import row_chunks
from pimc.targets.datapath import shifts, slice_bits


def test_slicing_round_trips():
    values = np.arange(256)
    for widths in [(8,), (4, 4), (4, 2, 2), (2, 2, 2, 2), (1,) * 8, even_slices(8, 3)]:
        pieces = slice_bits(values, widths)
        assert (sum(p << s for p, s in zip(pieces, shifts(widths))) == values).all()


def test_even_slices_and_row_chunks():
    assert even_slices(8, 2) == (2, 2, 2, 2)
    assert even_slices(8, 3) == (2, 3, 3)
    assert [(c.start, c.stop) for c in row_chunks(300, 128)] == [(0, 100), (100, 200), (200, 300)]
    assert [(c.start, c.stop) for c in row_chunks(128, 128)] == [(0, 128)]

"""The sliced crossbar datapath equals integer matmul whenever its ADC cannot saturate."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.targets.crossbar import Adc, even_slices, row_chunks, shifts, slice_bits, sliced_mvm


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


@st.composite
def problems(draw):
    rows, cols, batch = draw(st.integers(1, 300)), draw(st.integers(1, 8)), draw(st.integers(1, 3))
    input_bits, weight_bits = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    dac, cell = draw(st.integers(1, input_bits)), draw(st.integers(1, weight_bits))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1 << input_bits, size=(batch, rows))
    w = rng.integers(0, 1 << weight_bits, size=(rows, cols))
    height = draw(st.sampled_from([16, 64, 128, 512]))
    return x, w, even_slices(input_bits, dac), even_slices(weight_bits, cell), height


@settings(max_examples=200, deadline=None)
@given(problems())
def test_exact_when_the_adc_cannot_saturate(problem):
    x, w, input_widths, cell_widths, height = problem
    widest = min(height, w.shape[0]) * ((1 << max(input_widths)) - 1) * ((1 << max(cell_widths)) - 1)
    result, stats = sliced_mvm(x, w, input_widths, cell_widths, height, Adc(bits=max(widest, 1).bit_length()))
    assert stats.saturated == 0
    assert (result == x @ w).all()


def test_a_narrow_adc_saturates_and_counts_it():
    x = np.full((1, 128), 1)
    w = np.full((128, 4), 3)
    result, stats = sliced_mvm(x, w, (1,), (2,), 128, Adc(bits=8))
    assert stats.saturated == 4
    assert (result == 255).all()
    assert stats == type(stats)(crossbar_reads=1, adc_converts=4, saturated=4)

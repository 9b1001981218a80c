"""Bit slices and row chunks, as the analog targets cut weights and inputs (domain.md §1.1).

A weight sits in cells `widths` bits at a time, most significant first, and an input is applied
to the rows the same way; `shifts` gives each slice's place value:

    slice_bits(values, (4, 2, 2))  ->  [values >> 4 & 15, values >> 2 & 3, values & 3]

The datapath that computes with them is the simulator's (`pimc.targets.simulator`, docs/isa.md).
"""

from __future__ import annotations

import math

import numpy as np


def shifts(widths: tuple[int, ...]) -> tuple[int, ...]:
    """Bits below each slice, for slices listed most significant first: (4, 2, 2) -> (4, 2, 0)."""
    return tuple(sum(widths[index + 1 :]) for index in range(len(widths)))


def slice_bits(values: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Unsigned `values` cut into slices, most significant first: shape (len(widths), *values.shape)."""
    return np.stack([(values >> shift) & ((1 << width) - 1) for shift, width in zip(shifts(widths), widths)])


def even_slices(bits: int, width: int) -> tuple[int, ...]:
    """`bits` in slices of `width`, the last one narrower if it must be: (8, 3) -> (2, 3, 3)."""
    count = math.ceil(bits / width)
    return (bits - width * (count - 1),) + (width,) * (count - 1)


def row_chunks(rows: int, height: int) -> list[slice]:
    """Split `rows` over ceil(rows/height) crossbars as evenly as possible, as the reference datapath does."""
    count = math.ceil(rows / height)
    size = math.ceil(rows / count)
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]

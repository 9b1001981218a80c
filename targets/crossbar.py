"""The bit-sliced crossbar datapath shared by the analog targets (domain.md §1.1).

A weight matrix W (K×N, unsigned integers) sits in cells `cell_widths` bits at a time; an
input vector x (K, unsigned) is applied `input_widths` bits per cycle. For every row chunk,
input slice i and weight slice j, each column's analog sum z = Σ_rows x_i · w_j is converted
by an ADC that saturates, and the codes are shifted and added:

    y = Σ_chunks Σ_i Σ_j 2^(shift_i + shift_j) · ADC(z_chunk,i,j)

With an ADC wide enough for every column sum this equals x @ W exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Adc:
    """An unsigned ADC of `bits` bits whose code counts `step` units of column sum; it saturates."""

    bits: int
    step: int = 1

    @property
    def max_code(self) -> int:
        return (1 << self.bits) - 1

    def convert(self, sums: np.ndarray) -> tuple[np.ndarray, int]:
        """Codes scaled back to column-sum units, and how many columns saturated."""
        codes = sums // self.step
        saturated = int(np.count_nonzero(codes > self.max_code))
        return np.minimum(codes, self.max_code) * self.step, saturated


@dataclass(frozen=True)
class MvmStats:
    """What one sliced matrix-vector product cost and lost."""

    crossbar_reads: int
    adc_converts: int
    saturated: int


def sliced_mvm(
    x: np.ndarray, w: np.ndarray, input_widths: tuple[int, ...], cell_widths: tuple[int, ...], height: int, adc: Adc
) -> tuple[np.ndarray, MvmStats]:
    """x (B×K) @ w (K×N) through crossbars of `height` rows; both unsigned. Exact unless the ADC saturates."""
    x_slices = slice_bits(x.astype(np.int64), input_widths)
    w_slices = slice_bits(w.astype(np.int64), cell_widths)
    total = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    reads = saturated = 0
    for chunk in row_chunks(w.shape[0], height):
        for x_slice, x_shift in zip(x_slices, shifts(input_widths)):
            sums = np.einsum("bk,skn->sbn", x_slice[:, chunk], w_slices[:, chunk, :])
            codes, clipped = adc.convert(sums)
            saturated += clipped
            reads += x.shape[0]
            for code, w_shift in zip(codes, shifts(cell_widths)):
                total += code << (x_shift + w_shift)
    converts = reads * len(cell_widths) * w.shape[1]
    return total, MvmStats(crossbar_reads=reads, adc_converts=converts, saturated=saturated)

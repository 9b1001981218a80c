"""Center+Offset's arithmetic (domain.md §2.2): sign-magnitude slices of weight - center, and each filter's center.

    centers = choose_centers(w, (4, 2, 2))                 # per column of w (K x N integers)
    CenterSearch.of(w, 8).centers((4, 2, 2))               # the same, the search kept for other 8-bit slicings
    slices = signed_slices(w - centers, (4, 2, 2))         # S x K x N, most significant first
    slice_cost(w - centers, (4, 2, 2))                     # per column: what an all-ones input drives
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import ClassVar

import numpy as np

from pimc.targets.datapath import shifts


def signed_slices(offsets: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Sign-magnitude slices (S, *offsets.shape), most significant first: s_j = ((|o| >> shift_j) & mask_j) * sign(o),
    in int8 for slices of up to 7 bits (int16 up to 15).

    signed_slices(np.array([[-37]]), (4, 2, 2))[:, 0, 0]  ->  [-2, -1, -1]   (37 = 2*16 + 1*4 + 1)
    """
    offsets = np.asarray(offsets, np.int64)
    limit = (1 << sum(widths)) - 1
    largest = max(int(offsets.max(initial=0)), -int(offsets.min(initial=0)))
    if largest > limit:
        raise ValueError(f"an offset of magnitude {largest} does not fit {sum(widths)} bits")
    table, index = _slice_table(tuple(widths)), offsets + limit
    slices = np.empty((len(table), *offsets.shape), table.dtype)
    for row, out in zip(table, slices):  # a 1-D take per slice: 3x faster than indexing the table's two axes
        np.take(row, index, out=out)
    return slices


@cache
def _slice_table(widths: tuple[int, ...]) -> np.ndarray:
    """(S, 2 * limit + 1): the slices of every offset from -limit to limit, in the narrowest type that holds them
    (read-only: every call with these widths shares it)."""
    limit = (1 << sum(widths)) - 1
    every = np.arange(-limit, limit + 1)
    magnitude, sign = np.abs(every), np.sign(every)
    table = np.stack([((magnitude >> s) & ((1 << w) - 1)) * sign for s, w in zip(shifts(widths), widths)])
    table = table.astype(np.min_scalar_type(1 - (1 << max(widths))))
    table.flags.writeable = False
    return table


def slice_cost(offsets: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Per column of `offsets` (K x N): sum over slices j of |sum over rows of s_j|, what an all-ones input drives.

    slice_cost(np.array([[5], [-5]]), (4, 2, 2))  ->  [0]
    """
    return np.abs(signed_slices(offsets, widths).sum(axis=1)).sum(axis=0)


def choose_centers(w: np.ndarray, widths: tuple[int, ...], radius: int = 8) -> np.ndarray:
    """Per filter (column of `w`, K x N integers), the integer center c minimising slice_cost(w - c, widths).

    The criterion, domain.md §2.2 [INF]: sum over the weight slices j of |sum_i s_j(w_i - c)|, the
    column sums an all-ones input produces, so positive and negative slices cancel in every column.
    Candidates: 0 (plain sign-magnitude), and every integer within `radius` of round(mean) and of the
    median, kept to those whose offsets fit sum(widths) magnitude bits; ties go to the earliest
    candidate in that order (0, then the ones around the mean, then the median's).

    choose_centers(np.array([[10], [12], [14]]), (4, 2, 2))  ->  [12]
    """
    return CenterSearch.of(w, sum(widths), radius).centers(widths)


@dataclass(frozen=True)
class CenterSearch:
    """What `choose_centers` finds of a matrix whatever the slicing of its `bits`-bit offsets: each column's
    histogram of values and its candidate centers (adaptive-slicing tries several slicings of one matrix).

    search = CenterSearch.of(w, 8); search.centers((4, 4)); search.centers((4, 2, 2))
    """

    counts: np.ndarray  # filters x values: how often each column holds each value
    values: np.ndarray  # from the smallest weight to the largest
    candidates: np.ndarray  # candidates x filters, in choose_centers' order of preference
    bits: int

    WEIGHTS_AT_ONCE: ClassVar[int] = 1 << 20  # weights whose histogram index (int64) is held at once: VGG-16's
    # 103-million-weight classifier in 8 MB pieces, not four 822 MB arrays

    @classmethod
    def of(cls, w: np.ndarray, bits: int, radius: int = 8) -> CenterSearch:
        w = np.asarray(w)
        limit = (1 << bits) - 1
        top, bottom = w.max(axis=0).astype(np.int64), w.min(axis=0).astype(np.int64)
        low, high = top - limit, bottom + limit  # |w - c| <= limit for every row
        if np.any(low > high):
            raise ValueError(f"a filter spans more than the {bits}-bit offsets can reach from any center")
        values = np.arange(int(bottom.min(initial=0)), int(top.max(initial=0)) + 1)  # 0 among them
        counts = np.zeros(w.shape[1] * len(values), np.int64)  # slice_cost over each column's histogram of values
        index = np.arange(w.shape[1]) * len(values) - values[0]
        step = max(1, cls.WEIGHTS_AT_ONCE // max(w.shape[1], 1))
        for start in range(0, len(w), step):
            counts += np.bincount((index + w[start : start + step].astype(np.int64)).ravel(), minlength=len(counts))
        counts = counts.reshape(w.shape[1], len(values))
        window = np.arange(-radius, radius + 1)
        mean = (counts @ values) / len(w)  # the sum of integers, exact, over the rows: np.mean's float64
        middle = [np.rint(mean), np.rint(_median(counts, values))]
        candidates = np.concatenate([np.zeros((1, w.shape[1]))] + [m + window[:, None] for m in middle]).astype(np.int64)
        return cls(counts.astype(np.float64), values, np.clip(candidates, low, high), bits)

    def centers(self, widths: tuple[int, ...]) -> np.ndarray:
        """choose_centers(w, widths), for widths of `bits` bits in all."""
        if sum(widths) != self.bits:
            raise ValueError(f"slices {list(widths)} do not make the search's {self.bits} bits")
        candidates, columns = self.candidates, np.arange(self.counts.shape[0])
        costs = _center_costs(self.counts, self.values, np.arange(candidates.min(), candidates.max() + 1), widths)
        return candidates[np.argmin(costs[columns, candidates - candidates.min()], axis=0), columns]


def _median(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row of `counts` (a histogram over `values`), the median as np.median gives it: the mean of the two
    middle values."""
    total = int(counts[0].sum()) if len(counts) else 0
    below = np.cumsum(counts, axis=1)
    return (values[np.argmax(below > (total - 1) // 2, axis=1)] + values[np.argmax(below > total // 2, axis=1)]) / 2


def _center_costs(counts: np.ndarray, values: np.ndarray, centers: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """(filters, centers): slice_cost of each column of a histogram `counts` (filters x values) around each center,
    one product per slice: sum_v counts[n, v] * s_j(v - c), exact integers in float64. Offsets beyond the slices'
    reach are clipped; the caller only reads centers from which every counted value is in reach."""
    limit = (1 << sum(widths)) - 1
    table = _slice_table(tuple(widths)).astype(np.float64)  # every offset's slices
    offsets = np.clip(values[:, None] - centers[None, :], -limit, limit) + limit
    return sum(np.abs(counts @ table[j][offsets]) for j in range(len(widths)))

"""RAELLA's arithmetic on one crossbar, in integers (../shared/docs/domain.md §2.2-§2.4b).

A filter's weights `w` are stored as a center `c` (digital) plus signed offsets `w - c`, cut into
sign-magnitude slices, each slice one differential 2T2R column; an input vector `x` (unsigned) is
applied in multi-bit speculative slices, and columns whose speculative conversion hits a rail of the
signed ADC are recomputed from 1-bit slices of the same bits (the centers and slices: centers.py):

    centers = choose_centers(w, (4, 2, 2))
    slices = signed_slices(w - centers, (4, 2, 2))
    y, stats = speculative_mvm(x, slices, shifts((4, 2, 2)), (3, 3, 2), adc_bits=7)
    outputs = y + centers * x.sum(axis=1, keepdims=True)        # x @ w when no recovery conversion clipped

`PairedCrossbar` is the simulator's model of one such crossbar, built from a program's cells, and
`NoisyPairs` the same on imperfect devices (docs/noise.md): each 2T2R pair's two devices drawn once by
targets/noise.py, and every converted column sum (speculative slice or single bit) with its own read noise,
σ = E·sqrt(N+ + N-), N± the current its positive and negative device carry (input slice times level as
programmed), RAELLA's definition (domain.md §2.5); a speculative slice's sum is one activation, so one draw,
as is each recovery bit's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import ClassVar

import numpy as np

from pimc.interp.integer_products import as_int8, small_products
from pimc.interp.xbar_ops import exact_product
from pimc.passes.slice_weights import row_chunks
from pimc.targets.datapath import CrossbarStats, shifts
from pimc.targets.noise import CrossbarNoise, column_maxima
from pimc.targets.program import Crossbar, Program
from pimc.targets.raella.centers import choose_centers, signed_slices


def adc_range(adc_bits: int) -> tuple[int, int]:
    """The signed ADC's lowest and highest code (domain.md §1.1's Quantizer, step 1): 7 -> (-63, 64)."""
    return -((1 << (adc_bits - 1)) - 1), 1 << (adc_bits - 1)


@dataclass
class SpeculationStats:
    """What one crossbar did for a batch of input vectors."""

    activations: int = 0  # crossbar activations: speculative slices, recovery and plain 1-bit slices
    speculative_converts: int = 0  # conversions of speculative slices: every column
    recovery_converts: int = 0  # 1-bit conversions: flagged columns only, or every column without speculation
    flagged: int = 0  # speculative conversions at a rail, recovered bit by bit
    saturated: int = 0  # 1-bit conversions whose column sum lay outside the ADC's range (clipped)

    @property
    def adc_converts(self) -> int:
        return self.speculative_converts + self.recovery_converts


def speculative_mvm(x: np.ndarray, slices: np.ndarray, cell_shifts: tuple[int, ...], spec_widths: tuple[int, ...],
                    adc_bits: int, speculation: bool = True) -> tuple[np.ndarray, SpeculationStats]:
    """The offset part of x @ (w - c) as one crossbar computes it: (V x N int64, its counts).

    x is V x K unsigned with sum(spec_widths) bits; slices is S x K x N signed, slice j worth 2^cell_shifts[j].
    For each input slice g of spec_widths (most significant first) and each slice column: with
    speculation, the slice drives the rows in one activation and every column's sum z is converted
    by a clamping ADC; a code at either rail (z <= low or z >= high, adc_range) is flagged and not
    accumulated. Then the slice's bits drive the rows one at a time, one activation each whatever
    the flags (3 + 8 = 11 activations for 8-bit inputs in 3 slices), and only flagged columns convert
    these 1-bit sums, clamped, and accumulate them. Without speculation, every bit is one activation
    and every column converts its 1-bit sum. A flagged column's result is thus the no-speculation one;
    an unflagged one is exact. Result: sum_j 2^cell_shifts[j] sum_g 2^shift_g code_jg, per filter.

    y, stats = speculative_mvm(x, signed_slices(w - c, (4, 4)), (4, 0), (3, 3, 2), 7)
    """
    return SlicedWeights.of(slices).mvm(x, cell_shifts, spec_widths, adc_bits, speculation)


@dataclass(frozen=True)
class SlicedWeights:
    """A crossbar's signed slices as one matrix, rows x (slice, filter) columns, and how to get every 1-bit column
    sum exactly from it.

    Levels that fit int8 (cells of up to 7 bits) go through the 8-bit integer kernel, every bit of the inputs a
    0/1 row of one product (pimc/interp/integer_products.py). Larger ones go through BLAS: every partial sum of a
    1-bit input times the matrix is an integer of magnitude at most `bound`, the largest sum of |level| over a
    column's rows, so it is exact in float32 below 2^24 (float64 otherwise). Two bits b, b+1 share one product when
    (1 + radix) * bound < 2^24, radix the least power of two above 2 * bound: the input column
    bit_b + radix * bit_b+1 gives z_b + radix * z_b+1, and since |z_b| < radix / 2, z_b+1 = rint(product / radix)
    and z_b the remainder, both exact: half the products.
    """

    matrix: np.ndarray  # rows x (slices * filters), column j * filters + n: int8 for the integer kernel, else float
    filters: int
    bound: int
    radix: int  # 0: one bit per product

    BLOCK: ClassVar[int] = 1 << 16  # column sums per bit plane of one block of vectors: a block's planes stay in cache

    @classmethod
    def of(cls, slices: np.ndarray) -> SlicedWeights:
        count, rows, filters = slices.shape
        matrix = np.asarray(slices).transpose(1, 0, 2).reshape(rows, count * filters)
        bound = int(np.abs(matrix).sum(axis=0, dtype=np.int64).max(initial=0))
        radix = 1 << (2 * bound).bit_length()
        levels = as_int8(matrix)
        if levels is None:
            levels = matrix.astype(np.float32 if bound < 1 << 24 else np.float64)
        return cls(levels, filters, bound, radix if (1 + radix) * bound < 1 << 24 else 0)

    def bit_sums(self, x: np.ndarray, bits: int) -> np.ndarray:
        """(bits, V, columns): the column sums of each bit of x driving the rows alone, exact integers (int32 from the
        integer kernel, else float32 or float64)."""
        if self.matrix.dtype == np.int8:
            planes = input_bits(x, bits).reshape(bits * x.shape[0], -1)
            return small_products(planes, self.matrix).reshape(bits, x.shape[0], -1)
        sums = np.empty((bits, x.shape[0], self.matrix.shape[1]), self.matrix.dtype)
        codes = np.arange(1 << bits)
        step = 2 if self.radix else 1
        for b in range(0, bits, step):
            if step == 1 or b + 1 == bits:
                np.matmul(((codes >> b) & 1).astype(self.matrix.dtype)[x], self.matrix, out=sums[b])
                continue
            pair = (((codes >> b) & 1) + self.radix * ((codes >> (b + 1)) & 1)).astype(self.matrix.dtype)
            packed, high = sums[b], sums[b + 1]
            np.matmul(pair[x], self.matrix, out=packed)
            np.rint(np.multiply(packed, 1.0 / self.radix, out=high), out=high)
            packed -= high * self.radix
        return sums

    def mvm(self, x: np.ndarray, cell_shifts: tuple[int, ...], spec_widths: tuple[int, ...], adc_bits: int,
            speculation: bool = True) -> tuple[np.ndarray, SpeculationStats]:
        """speculative_mvm on these weights, a block of vectors at a time."""
        x = np.asarray(x, np.int64)
        if x.min(initial=0) < 0 or x.max(initial=0) >> sum(spec_widths):
            raise ValueError(f"inputs must be unsigned {sum(spec_widths)}-bit integers")
        vectors, columns, filters = x.shape[0], self.matrix.shape[1], self.filters
        stats = SpeculationStats()
        y = np.empty((vectors, filters), np.int64)
        wide = self.bound * ((1 << sum(spec_widths)) - 1) * sum(1 << s for s in cell_shifts) >= 1 << 31
        block = max(1, self.BLOCK // max(columns, 1))
        for v0 in range(0, vectors, block):
            total = self._offsets(x[v0 : v0 + block], spec_widths, adc_range(adc_bits), speculation, stats)
            total = total.astype(np.int64) if wide else total  # else every weighted sum fits int32
            weighted = total[:, :filters] << cell_shifts[0]  # weight slice j's columns, worth 2^cell_shifts[j]
            for j, shift in enumerate(cell_shifts[1:], start=1):
                weighted += total[:, j * filters : (j + 1) * filters] << shift
            y[v0 : v0 + block] = weighted
        for width in spec_widths:
            if speculation:
                stats.activations += vectors * (1 + width)
                stats.speculative_converts += vectors * columns
            else:
                stats.activations += vectors * width
                stats.recovery_converts += vectors * width * columns
        return y, stats

    def _offsets(self, x: np.ndarray, spec_widths: tuple[int, ...], rails: tuple[int, int], speculation: bool,
                 stats: SpeculationStats) -> np.ndarray:
        """(V, columns): sum over input slices g of 2^shift_g times each column's result for the slice, its analog
        sum where that converts (unflagged) and else sum_b 2^b clip(z_b); the flags and clipped conversions counted.

        The analog sum is sum_b 2^b z_b, so a recovered result differs from it only where a converted bit clips:
        those few entries (a bit's sum outside the rails, flagged or without speculation) are recomputed from
        their clamped bits. Every value is an integer of magnitude below bound * 2^bits, in int32 when that fits."""
        low, high = rails
        integers = np.int32 if self.bound << sum(spec_widths) < 1 << 31 else np.int64
        ones = self.bit_sums(x, sum(spec_widths)).astype(integers, copy=False)  # exact integers in any type
        total = None
        for width, shift in zip(spec_widths, shifts(spec_widths)):
            bits = ones[shift : shift + width]
            analog = _place_sum(bits)
            clips = (np.maximum.reduce(bits) > high) | (np.minimum.reduce(bits) < low)
            if speculation:  # only flagged sums convert bit by bit
                flagged = (analog <= low) | (analog >= high)
                count = int(np.count_nonzero(flagged))
                stats.flagged += count
                stats.recovery_converts += width * count
                clips &= flagged
            where = np.flatnonzero(clips)
            planes = bits.reshape(width, -1)[:, where]
            clamped = np.clip(planes, low, high)
            stats.saturated += int(np.count_nonzero(planes != clamped))
            analog.reshape(-1)[where] = _place_sum(clamped)
            if total is not None:  # the more significant slices' part, shifted up past this slice's bits
                total <<= width
                analog += total
            total = analog
        return total


def _place_sum(planes: np.ndarray) -> np.ndarray:
    """sum_b 2^b planes[b], in the planes' integer type (a new array)."""
    result = planes[-1].copy()
    for plane in planes[-2::-1]:
        result <<= 1
        result += plane
    return result


def slicing_candidates(weight_bits: int, cell_bits: int) -> list[tuple[int, ...]]:
    """Weight slicings from fewest slices to 1-bit slices, each splitting the previous one's least significant
    widest slice in two (the wider half more significant).

    slicing_candidates(8, 4)  ->  [(4, 4), (4, 2, 2), (2, 2, 2, 2), (2, 2, 2, 1, 1), ..., (1,) * 8]
    """
    count = -(-weight_bits // cell_bits)
    widths = (weight_bits - cell_bits * (count - 1),) + (cell_bits,) * (count - 1)
    candidates = [widths]
    while max(widths) > 1:
        j = len(widths) - 1 - widths[::-1].index(max(widths))
        widths = widths[:j] + (widths[j] - widths[j] // 2, widths[j] // 2) + widths[j + 1 :]
        candidates.append(widths)
    return candidates


def crossbar_product(w: np.ndarray, x: np.ndarray, centers: np.ndarray, widths: tuple[int, ...], adc_bits: int,
                     spec_widths: tuple[int, ...], speculation: bool = True, rows: int = 512) -> np.ndarray:
    """x @ w as RAELLA's crossbars compute it: w (K x N) cut into balanced chunks of at most `rows` rows (one
    crossbar each, their outputs added digitally), each chunk's offsets w - centers through speculative_mvm,
    plus centers * sum(x). It equals x @ w unless a recovery conversion clipped."""
    return CrossbarProduct.of(w, centers, widths, rows)(x, adc_bits, spec_widths, speculation)


@dataclass(frozen=True)
class CrossbarProduct:
    """`crossbar_product` with its weights sliced once, for several blocks of vectors (each vector's product is
    its own): product = CrossbarProduct.of(w, centers, (4, 4)); product(x[:64], 7, (3, 3, 2))."""

    centers: np.ndarray
    chunks: list[tuple[slice, SlicedWeights]]  # each crossbar's rows and its slices
    cell_shifts: tuple[int, ...]

    @classmethod
    def of(cls, w: np.ndarray, centers: np.ndarray, widths: tuple[int, ...], rows: int = 512) -> CrossbarProduct:
        chunks = [(chunk, SlicedWeights.of(signed_slices(np.asarray(w[chunk], np.int64) - centers, widths)))
                  for chunk in row_chunks(len(w), rows)]  # one crossbar's rows at a time: no copy of w in int64
        return cls(centers, chunks, shifts(widths))

    def __call__(self, x: np.ndarray, adc_bits: int, spec_widths: tuple[int, ...], speculation: bool = True) -> np.ndarray:
        x = np.asarray(x, np.int64)
        y = self.centers * x.sum(axis=1, keepdims=True)
        for chunk, weights in self.chunks:
            y = y + weights.mvm(x[:, chunk], self.cell_shifts, spec_widths, adc_bits, speculation)[0]
        return y


def slicing_error(w: np.ndarray, x: np.ndarray, centers: np.ndarray, widths: tuple[int, ...], adc_bits: int,
                  spec_widths: tuple[int, ...], speculation: bool = True, rows: int = 512) -> float:
    """||y - x @ w|| / ||x @ w|| (Frobenius norms over all V x N outputs), y = crossbar_product: saturation is
    the only error. 0 when x @ w is all zero and y equals it, else inf there.

    slicing_error(w, x, choose_centers(w, (4, 4)), (4, 4), 7, (3, 3, 2))  ->  0.045   (Kaiming-normal 3x3x64 conv)
    """
    exact = exact_product(np.asarray(x), np.asarray(w))
    y = crossbar_product(w, x, centers, widths, adc_bits, spec_widths, speculation, rows)
    error, scale = np.linalg.norm(y - exact), np.linalg.norm(exact)
    return float(error / scale) if scale else (0.0 if error == 0 else float("inf"))


def adaptive_slicing(w: np.ndarray, x_calib: np.ndarray, centers: np.ndarray | None,
                     candidates: list[tuple[int, ...]], adc_bits: int, budget: float, spec_widths: tuple[int, ...],
                     speculation: bool = True, rows: int = 512) -> tuple[tuple[int, ...], float]:
    """The first of `candidates` (fewest slices first) whose slicing_error on x_calib is within `budget`, and that
    error; the last candidate and its error when none is. `centers` None: each candidate with its own
    choose_centers. Forcing 1-bit slices (a final layer) is the caller's business.

    adaptive_slicing(w, x, None, slicing_candidates(8, 4), 7, 0.09, (3, 3, 2))  ->  ((4, 4), 0.045)
    """
    for widths in candidates:
        chosen = choose_centers(w, widths) if centers is None else centers
        error = slicing_error(w, x_calib, chosen, widths, adc_bits, spec_widths, speculation, rows)
        if error <= budget:
            break
    return widths, error


@dataclass
class PairedCrossbar:
    """A center-offset crossbar: each column a 2T2R pair holding a signed slice of weight - center, converted by a
    signed ADC, with speculative input slices recovered bit by bit (speculative_mvm)."""

    centered: ClassVar[bool] = True
    speculates: ClassVar[bool] = True
    signed_inputs: ClassVar[bool] = True

    spec: Crossbar
    slices: SlicedWeights  # the signed levels, positive device minus negative device, slices side by side
    correction: np.ndarray  # per weight: its center, times the input sum
    largest: tuple[int, int]  # the largest positive and negative column sum of one slice over all rows

    @classmethod
    def load(cls, spec: Crossbar, program: Program) -> PairedCrossbar:
        count = len(spec.cell_widths)
        devices = program.levels(spec).reshape(spec.rows, spec.weights, 2, count)
        slices = (devices[:, :, 0].astype(np.int16) - devices[:, :, 1]).transpose(2, 0, 1)
        positive, negative = devices.sum(axis=0, dtype=np.int64).max(axis=(0, 2), initial=0)
        return cls(spec, SlicedWeights.of(slices), program.centers(spec), (int(positive), int(negative)))

    @cached_property
    def stored(self) -> np.ndarray:
        """rows x weights: the offsets the pairs hold, slices recombined (float64), made when first read: only a
        crossbar that cannot clip and signed input planes read it, and most of RAELLA's crossbars can clip
        (VGG-16: 1.1 GB that a run never reads)."""
        matrix, weights = self.slices.matrix, self.spec.weights
        stored = np.zeros((self.spec.rows, weights), np.int32)
        for j, shift in enumerate(shifts(self.spec.cell_widths)):
            stored += matrix[:, j * weights : (j + 1) * weights].astype(np.int32) << shift
        return stored.astype(np.float64)

    @classmethod
    def load_noisy(cls, spec: Crossbar, program: Program, noise: CrossbarNoise):
        """The model of crossbar `spec` on imperfect devices (`NoisyPairs`)."""
        return NoisyPairs.of(cls.load(spec, program), program.levels(spec), noise)

    @staticmethod
    def slice_values(levels: np.ndarray) -> np.ndarray:
        """Each pair's |positive - negative| device level: a slice of |weight - center|."""
        return np.abs(levels[:, :, 0].astype(np.int16) - levels[:, :, 1])

    @property
    def column_sums(self) -> np.ndarray:
        """Per weight, the sum of its rows' weights: offsets plus centers."""
        return np.rint(self.stored.sum(axis=0)).astype(np.int64) + self.spec.rows * self.correction

    def never_clips(self, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int) -> bool:
        """No slice's column sum can reach a rail, so no column is flagged and no conversion clips."""
        low, high = adc_range(adc_bits)
        largest_input = max((1 << w) - 1 for w in input_widths)
        return largest_input * self.largest[0] < high and -largest_input * self.largest[1] > low

    def count(self, vectors: int, input_widths: tuple[int, ...], speculate: bool, stats: CrossbarStats) -> None:
        """Activations and conversions when no column is flagged: speculation adds one activation per input bit."""
        steps = len(input_widths) + (sum(input_widths) if speculate else 0)
        stats.activations += vectors * steps
        stats.adc_converts += vectors * len(input_widths) * self.spec.adc_columns

    def mvm(self, x: np.ndarray, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int,
            stats: CrossbarStats) -> np.ndarray:
        sums = x.sum(axis=1, keepdims=True)
        if self.never_clips(input_widths, speculate, adc_bits, adc_step):
            self.count(x.shape[0], input_widths, speculate, stats)
            return np.rint(x.astype(np.float64) @ self.stored).astype(np.int64) + self.correction * sums
        stats.fast = False
        y, run = self.slices.mvm(x, shifts(self.spec.cell_widths), input_widths, adc_bits, speculate)
        stats.activations += run.activations
        stats.adc_converts += run.adc_converts
        stats.recovery_converts += run.recovery_converts if speculate else 0
        stats.flagged += run.flagged
        stats.saturated += run.saturated
        return y + self.correction * sums


@dataclass
class NoisyPairs(PairedCrossbar):
    """PairedCrossbar whose column sums come from `devices` (rows x difference columns, slice-major as
    SlicedWeights.matrix: column j * filters + n), or, when no frozen non-ideality changed a device, from the exact
    `slices`; with relative read noise, each sum's N+ + N- from `currents`: RAELLA's σ counts the MACs' magnitudes
    as programmed. Never the fast path. float32 device sums: their rounding (below 1e-7 relative) is far below
    the noise that makes them differ from the exact ones."""

    devices: np.ndarray | None = None
    currents: SlicedWeights | None = None
    noise: CrossbarNoise | None = None

    @classmethod
    def of(cls, exact: PairedCrossbar, levels: np.ndarray, noise: CrossbarNoise) -> NoisyPairs:
        spec = exact.spec
        shape = (spec.rows, spec.weights, 2, len(spec.cell_widths))
        drawn = noise.devices(levels, column_maxima(spec)).reshape(shape)
        devices = (drawn[:, :, 0] - drawn[:, :, 1]).transpose(0, 2, 1).reshape(spec.rows, -1).astype(np.float32)
        programmed = levels.reshape(shape).astype(np.int64)
        currents = SlicedWeights.of((programmed[:, :, 0] + programmed[:, :, 1]).transpose(2, 0, 1)) \
            if noise.config.read else None
        return cls(**{f.name: getattr(exact, f.name) for f in fields(exact)},
                   devices=devices if noise.config.frozen else None, currents=currents, noise=noise)

    def never_clips(self, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int) -> bool:
        return False

    def mvm(self, x: np.ndarray, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int,
            stats: CrossbarStats) -> np.ndarray:
        """speculative_mvm's arithmetic on the noisy column sums (clamped at both rails), its events counted; a
        recovery bit's read noise is drawn for the flagged columns only, the only ones it converts."""
        stats.fast = False
        low, high = adc_range(adc_bits)
        vectors, columns, count = x.shape[0], self.spec.weights * len(self.spec.cell_widths), sum(input_widths)
        if self.devices is None:
            ones = self.slices.bit_sums(x, count).astype(np.float32)  # bits x vectors x columns: each bit alone
        else:
            ones = input_bits(x, count).astype(np.float32) @ self.devices
        currents = None if self.currents is None else self.currents.bit_sums(x, count).astype(np.float32)
        total = np.zeros((vectors, columns))
        for width, shift in zip(input_widths, shifts(input_widths)):
            place = np.array([float(1 << b) for b in range(width)], np.float32)
            one = ones[shift : shift + width]
            current = None if currents is None else currents[shift : shift + width]
            if speculate:
                slice_current = None if current is None else np.tensordot(place, current, 1)
                part = np.clip(self.noise.codes(np.tensordot(place, one, 1), slice_current), low, high)
                flags = (part <= low) | (part >= high)
                codes = self.noise.codes(one[:, flags], None if current is None else current[:, flags])
                clamped = np.clip(codes, low, high)
                part[flags] = place @ clamped
                flagged = int(np.count_nonzero(flags))
                stats.activations += vectors * (1 + width)
                stats.adc_converts += vectors * columns + width * flagged
                stats.recovery_converts += width * flagged
                stats.flagged += flagged
            else:
                codes = self.noise.codes(one, current)
                clamped = np.clip(codes, low, high)
                part = np.tensordot(place.astype(np.float64), clamped, 1)
                stats.activations += vectors * width
                stats.adc_converts += vectors * width * columns
            stats.saturated += int(np.count_nonzero(codes != clamped))
            total += part * (float(1 << shift) * self.noise.compensation)
        scale = np.repeat([float(1 << s) for s in shifts(self.spec.cell_widths)], self.spec.weights)
        y = (total * scale).reshape(vectors, len(self.spec.cell_widths), self.spec.weights).sum(axis=1)
        return np.rint(y).astype(np.int64) + self.correction * x.sum(axis=1, keepdims=True)


def input_bits(x: np.ndarray, count: int) -> np.ndarray:
    """(count, vectors, rows) uint8: bit b of every input, least significant first."""
    codes = x.astype(np.uint8 if count <= 8 else np.uint32)
    planes = np.empty((count, *x.shape), np.uint8)
    for b in range(count):
        np.bitwise_and(codes >> b, 1, out=planes[b], casting="unsafe")
    return planes

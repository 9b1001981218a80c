"""ISAAC's datapath on one crossbar: offset-encoded (or differential) weights in unsigned cells, inverted columns,
bit-serial inputs, a saturating ADC, shift-and-add (../shared/docs/domain.md §1.1, docs/isa.md).

    model = LoadedCrossbar.load(x, program)
    y = model.mvm(vectors, (1,) * 8, False, 8, 1, stats)    # x @ (weights + offset) - offset * sum(x)

Each input slice drives the rows, every cell column sums in the analog domain, the ADC converts the
sums (codes of `adc_step` column-sum units, clamped at 2^adc_bits - 1), the inversion of flipped
columns is undone from the count of driven rows, and the slices shift and add.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import ClassVar

import numpy as np

from pimc.targets.datapath import CrossbarStats, shifts
from pimc.targets.noise import CrossbarNoise
from pimc.targets.program import Crossbar, Program


@dataclass
class LoadedCrossbar:
    """A crossbar's cells, ready to compute: levels as stored, and how columns recombine into weights."""

    centered: ClassVar[bool] = False
    speculates: ClassVar[bool] = False
    signed_inputs: ClassVar[bool] = False

    spec: Crossbar
    levels: np.ndarray  # rows x cell columns, as stored (uint8)
    flipped: np.ndarray  # bool per cell column
    maxima: np.ndarray  # largest level of each cell column
    column_scale: np.ndarray  # per cell column of one weight: +-2^shift of its slice
    largest_column: float  # the largest sum of one cell column's levels
    correction: np.ndarray  # per weight: times the input sum, added digitally (-offset)

    @classmethod
    def load(cls, spec: Crossbar, program: Program) -> LoadedCrossbar:
        levels, flipped = program.levels(spec), program.flipped(spec).astype(bool)
        maxima, scale = _columns(spec.cell_widths, spec.planes, spec.weights)
        largest = float(levels.sum(axis=0, dtype=np.uint32).max(initial=0))
        return cls(spec, levels, flipped, maxima.astype(np.float64), scale, largest, program.centers(spec))

    @property
    def stored(self) -> np.ndarray:
        """Rows x weights: the (offset) weights the cells hold, made when read and not held (the fast path reads
        them once, to plan; VGG-16's would hold 1 GB)."""
        maxima = _columns(self.spec.cell_widths, self.spec.planes, self.spec.weights)[0]
        true_levels = self.levels ^ np.where(self.flipped, maxima, 0).astype(np.uint8)  # max - level: max ^ level
        return true_levels.reshape(self.spec.rows, self.spec.weights, -1) @ self.column_scale  # slices shift-added

    @classmethod
    def load_noisy(cls, spec: Crossbar, program: Program, noise: CrossbarNoise) -> NoisyCrossbar:
        """The model of crossbar `spec` on imperfect devices."""
        exact = cls.load(spec, program)
        devices = noise.devices(exact.levels, exact.maxima)
        frozen = devices.astype(np.float32) if noise.config.frozen else None
        return NoisyCrossbar(**vars(exact), devices=frozen, noise=noise)

    @staticmethod
    def slice_values(levels: np.ndarray) -> np.ndarray:
        """Each cell's level: a slice of weight + offset (or of its positive or negative part)."""
        return levels

    @property
    def combine(self) -> np.ndarray:
        """Cell columns x weights: the signed power of two each column's sum is worth."""
        per_weight = len(self.column_scale)
        column = np.arange(self.levels.shape[1])
        combine = np.zeros((self.levels.shape[1], self.spec.weights))
        combine[column, column // per_weight] = self.column_scale[column % per_weight]
        return combine

    def never_clips(self, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int) -> bool:
        """No column sum can exceed the ADC's range, so conversion is exact."""
        largest_input = max((1 << w) - 1 for w in input_widths)
        return adc_step == 1 and largest_input * self.largest_column <= (1 << adc_bits) - 1

    def count(self, vectors: int, input_widths: tuple[int, ...], speculate: bool, stats: CrossbarStats) -> None:
        """Every activation converts every cell column."""
        stats.activations += vectors * len(input_widths)
        stats.adc_converts += vectors * len(input_widths) * self.levels.shape[1]

    def mvm(self, x: np.ndarray, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int,
            stats: CrossbarStats) -> np.ndarray:
        """x (vectors x rows, unsigned integers) times the weights the cells hold, as the datapath computes it."""
        self.count(x.shape[0], input_widths, speculate, stats)
        if self.never_clips(input_widths, speculate, adc_bits, adc_step):
            product = x.astype(np.float64) @ self.stored
        else:
            stats.fast = False
            product = self._sliced(x, input_widths, adc_bits, adc_step, stats) @ self.combine
        return np.rint(product).astype(np.int64) + self.correction * x.sum(axis=1, keepdims=True)

    def _sliced(self, x: np.ndarray, input_widths: tuple[int, ...], adc_bits: int, adc_step: int,
                stats: CrossbarStats) -> np.ndarray:
        """Per cell column: the shift-added ADC codes over every input slice, inversion undone."""
        max_code = (1 << adc_bits) - 1
        total = np.zeros((x.shape[0], self.levels.shape[1]))
        levels = self.levels.astype(np.float64)
        for width, shift in zip(input_widths, shifts(input_widths)):
            bits = ((x >> shift) & ((1 << width) - 1)).astype(np.float64)
            sums = bits @ levels  # the analog column sums
            codes = np.floor(sums / adc_step)
            stats.saturated += int(np.count_nonzero(codes > max_code))
            converted = np.minimum(codes, max_code) * adc_step
            driven = bits.sum(axis=1, keepdims=True)  # the input-sum unit's count of what was driven
            total += np.where(self.flipped, self.maxima * driven - converted, converted) * float(1 << shift)
        return total


@cache
def _columns(widths: tuple[int, ...], planes: int, weights: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cell column, its largest level; per cell column of one weight, +-2^shift of its slice (read-only: crossbars
    of one shape share them)."""
    maxima = np.tile(np.array([(1 << w) - 1 for w in widths], np.uint8), weights * planes)
    scale = np.array([[1 << s for s in shifts(widths)], [-(1 << s) for s in shifts(widths)]][:planes], np.float64).ravel()
    maxima.flags.writeable = scale.flags.writeable = False
    return maxima, scale


@dataclass
class NoisyCrossbar(LoadedCrossbar):
    """The crossbar on imperfect devices (targets/noise.py): the devices' levels as drawn once, read noise and the
    ADC's errors on every conversion, conversions below code 0 clamped too; never the fast path. Read noise's
    N+ is the column sum as programmed (every device is positive; RAELLA's σ counts the MACs' magnitudes). Sums
    in float32: exact for programmed levels, and rounding far below the noise for drawn ones."""

    devices: np.ndarray | None = None  # rows x cell columns: the levels as read (float); None: as programmed
    noise: CrossbarNoise | None = None

    def never_clips(self, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int) -> bool:
        return False

    def _sliced(self, x: np.ndarray, input_widths: tuple[int, ...], adc_bits: int, adc_step: int,
                stats: CrossbarStats) -> np.ndarray:
        max_code = (1 << adc_bits) - 1
        total = np.zeros((x.shape[0], self.levels.shape[1]))
        programmed = self.levels.astype(np.float32)
        for width, shift in zip(input_widths, shifts(input_widths)):
            bits = ((x >> shift) & ((1 << width) - 1)).astype(np.float32)
            if self.devices is None:
                sums = currents = bits @ programmed
            else:
                sums, currents = bits @ self.devices, bits @ programmed if self.noise.config.read else None
            codes = self.noise.codes(sums, currents, adc_step)
            clamped = np.clip(codes, 0, max_code)
            stats.saturated += int(np.count_nonzero(codes != clamped))
            converted = clamped * (adc_step * self.noise.compensation)
            driven = bits.sum(axis=1, keepdims=True, dtype=np.float64)
            total += np.where(self.flipped, self.maxima * driven - converted, converted) * float(1 << shift)
        return total

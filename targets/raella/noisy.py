"""RAELLA's crossbar on imperfect devices (docs/noise.md): each 2T2R pair's two devices drawn once by
targets/noise.py, every converted column sum (speculative slice or single bit) with its own read noise.

    model = PairedCrossbar.load_noisy(x, program, CrossbarNoise(parse_noise("read=0.08"), seed=0, xbar=x.id))
    y = model.mvm(vectors, (3, 3, 2), True, 7, 1, stats)     # as PairedCrossbar.mvm, on the noisy sums

A pair's read noise has σ = E·sqrt(N+ + N-), N± the current its positive and negative device carry (input
slice times level), RAELLA's definition (domain.md §2.5); a speculative slice's sum is one activation, so
one draw, as is each recovery bit's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.targets.crossbar import shifts
from pimc.targets.datapath import CrossbarStats
from pimc.targets.noise import CrossbarNoise, column_maxima
from pimc.targets.raella.datapath import PairedCrossbar, adc_range


@dataclass
class NoisyPairs(PairedCrossbar):
    """PairedCrossbar whose MVMs run on `matrix`: rows x (difference columns, then current columns), each
    slice-major as SlicedWeights.matrix (column j * filters + n); never the fast path."""

    matrix: np.ndarray | None = None
    noise: CrossbarNoise | None = None

    @classmethod
    def of(cls, exact: PairedCrossbar, levels: np.ndarray, noise: CrossbarNoise) -> NoisyPairs:
        spec = exact.spec
        devices = noise.devices(levels, column_maxima(spec)).reshape(spec.rows, spec.weights, 2, len(spec.cell_widths))
        slice_major = [(devices[:, :, 0] + sign * devices[:, :, 1]).transpose(0, 2, 1).reshape(spec.rows, -1)
                       for sign in (-1, 1)]
        return cls(**vars(exact), matrix=np.hstack(slice_major), noise=noise)

    def never_clips(self, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int) -> bool:
        return False

    def mvm(self, x: np.ndarray, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int,
            stats: CrossbarStats) -> np.ndarray:
        """speculative_mvm's arithmetic on the noisy column sums (clamped at both rails), its events counted."""
        stats.fast = False
        low, high = adc_range(adc_bits)
        vectors, columns = x.shape[0], self.matrix.shape[1] // 2
        bits = np.stack([(x >> b) & 1 for b in range(sum(input_widths))]).astype(np.float64)
        both = bits @ self.matrix  # bits x vectors x (sums, currents): each bit's activation alone
        ones, currents = both[..., :columns], both[..., columns:]
        total = np.zeros((vectors, columns))
        for width, shift in zip(input_widths, shifts(input_widths)):
            place = np.array([float(1 << b) for b in range(width)])[:, None, None]
            one, current = ones[shift : shift + width], currents[shift : shift + width]
            codes = self.noise.codes(one, current)
            clamped = np.clip(codes, low, high)
            recovered = (clamped * place).sum(axis=0)
            if speculate:
                analog = np.clip(self.noise.codes((one * place).sum(axis=0), (current * place).sum(axis=0)), low, high)
                flags = (analog <= low) | (analog >= high)
                part = np.where(flags, recovered, analog)
                flagged = int(np.count_nonzero(flags))
                stats.activations += vectors * (1 + width)
                stats.adc_converts += vectors * columns + width * flagged
                stats.recovery_converts += width * flagged
                stats.flagged += flagged
                stats.saturated += int(np.count_nonzero((codes != clamped) & flags))
            else:
                part = recovered
                stats.activations += vectors * width
                stats.adc_converts += vectors * width * columns
                stats.saturated += int(np.count_nonzero(codes != clamped))
            total += part * (float(1 << shift) * self.noise.compensation)
        scale = np.repeat([float(1 << s) for s in shifts(self.spec.cell_widths)], self.spec.weights)
        y = (total * scale).reshape(vectors, len(self.spec.cell_widths), self.spec.weights).sum(axis=1)
        return np.rint(y).astype(np.int64) + self.correction * x.sum(axis=1, keepdims=True)

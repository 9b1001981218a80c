"""RAELLA's crossbar on imperfect devices (docs/noise.md): each 2T2R pair's two devices drawn once by
targets/noise.py, every converted column sum (speculative slice or single bit) with its own read noise.

    model = PairedCrossbar.load_noisy(x, program, CrossbarNoise(parse_noise("read=0.08"), seed=0, xbar=x.id))
    y = model.mvm(vectors, (3, 3, 2), True, 7, 1, stats)     # as PairedCrossbar.mvm, on the noisy sums

A pair's read noise has σ = E·sqrt(N+ + N-), N± the current its positive and negative device carry (input
slice times level as programmed), RAELLA's definition (domain.md §2.5); a speculative slice's sum is one
activation, so one draw, as is each recovery bit's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.targets.crossbar import shifts
from pimc.targets.datapath import CrossbarStats
from pimc.targets.noise import CrossbarNoise, column_maxima
from pimc.targets.raella.datapath import PairedCrossbar, SlicedWeights, adc_range


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
        return cls(**vars(exact), devices=devices if noise.config.frozen else None, currents=currents, noise=noise)

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
            ones = self.slices.bit_sums(x, count)  # bits x vectors x columns: each bit's activation alone
        else:
            ones = input_bits(x, count) @ self.devices
        currents = None if self.currents is None else self.currents.bit_sums(x, count)
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
    """(count, vectors, rows) float32: bit b of every input, least significant first."""
    if count <= 8:
        unpacked = np.unpackbits(x.astype(np.uint8)[None], axis=0, count=count, bitorder="little")
        return unpacked.astype(np.float32)
    return ((x[None] >> np.arange(count)[:, None, None]) & 1).astype(np.float32)

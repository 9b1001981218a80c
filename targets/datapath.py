"""The simulator's model of one crossbar: the interface every target's datapath implements.

    model = target(program.target).datapath(x.encoding).load(x, program)   # isaac's "offset": LoadedCrossbar
    y = model.mvm(vectors, (1,) * 8, False, 8, 1, stats)                    # vectors x weights, in integers

A target declares its models by the cell encoding they implement (targets/target.py); the
emitter refuses MVMs whose attributes ask for what the model cannot do; the simulator builds one per
crossbar from the program's cells, asks it whether the fast path (one
matrix product of the inputs with `stored + correction`) is provably exact, and lets it count
its events into the crossbar's stats when the fast path runs in its place. A model whose target drives
signed input planes (`zero_point`) also gives `column_sums`, per weight the sum of its rows' weights.
A noisy run (docs/noise.md) builds each crossbar with `load_noisy` instead: the same model on imperfect
devices, never on the fast path.

Weights sit in cells `widths` bits at a time, most significant first, and inputs drive the rows the same
way (domain.md §1.1); `shifts` gives each slice's place value:

    slice_bits(values, (4, 2, 2))  ->  [values >> 4 & 15, values >> 2 & 3, values & 3]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from pimc.targets.noise import CrossbarNoise
from pimc.targets.program import Crossbar, Program


def shifts(widths: tuple[int, ...]) -> tuple[int, ...]:
    """Bits below each slice, for slices listed most significant first: (4, 2, 2) -> (4, 2, 0)."""
    return tuple(sum(widths[index + 1 :]) for index in range(len(widths)))


def slice_bits(values: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Unsigned `values` cut into slices, most significant first: shape (len(widths), *values.shape)."""
    return np.stack([(values >> shift) & ((1 << width) - 1) for shift, width in zip(shifts(widths), widths)])


@dataclass
class CrossbarStats:
    """What one crossbar did over a run."""

    activations: int = 0
    adc_converts: int = 0
    saturated: int = 0  # conversions that clipped
    recovery_converts: int = 0  # 1-bit conversions of columns whose speculative conversion hit a rail
    flagged: int = 0  # speculative conversions at a rail
    fast: bool = True  # every MVM took the provably exact path

    def add(self, events: CrossbarStats, times: int = 1) -> None:
        """Add the counts of `events` `times` over (a fast group's, counted once when it is planned, times its runs;
        another simulator's)."""
        self.activations += events.activations * times
        self.adc_converts += events.adc_converts * times
        self.saturated += events.saturated * times
        self.recovery_converts += events.recovery_converts * times
        self.flagged += events.flagged * times
        self.fast &= events.fast


class Datapath(Protocol):
    """One crossbar's cells, ready to compute as its target's analog datapath does."""

    stored: np.ndarray  # rows x weights: the weights the cells hold, slices recombined
    correction: np.ndarray  # per weight: times the input sum, added digitally (-offset, or the center)
    centered: ClassVar[bool]  # the cells hold weight - center, a center per weight (an MVM's `centers`)
    speculates: ClassVar[bool]  # it recovers speculative input slices (an MVM's `speculate`)
    signed_inputs: ClassVar[bool]  # it drives signed input planes (an MVM's `signed_planes`; needs `column_sums`)

    @classmethod
    def load(cls, spec: Crossbar, program: Program) -> Datapath:
        """The model of crossbar `spec`, from the program's cells."""

    @classmethod
    def load_noisy(cls, spec: Crossbar, program: Program, noise: CrossbarNoise) -> Datapath:
        """The model of crossbar `spec` on the devices `noise` draws: its levels as read, each conversion's read
        noise and ADC error on the analog column sums; `never_clips` is False."""

    @staticmethod
    def slice_values(levels: np.ndarray) -> np.ndarray:
        """The magnitude of every weight slice, from levels rows x weights x planes x slices (the cost model's
        mean slice value)."""

    def never_clips(self, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int) -> bool:
        """No conversion can clip, so x @ stored + correction * sum(x) is exactly what the datapath computes."""

    def count(self, vectors: int, input_widths: tuple[int, ...], speculate: bool, stats: CrossbarStats) -> None:
        """Add the events of `vectors` activations that never clip to `stats` (the fast path's count)."""

    def mvm(self, x: np.ndarray, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int,
            stats: CrossbarStats) -> np.ndarray:
        """x (vectors x rows, unsigned integers) times the weights the cells hold, as the datapath computes it,
        its events counted into `stats`."""

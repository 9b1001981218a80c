"""Device non-idealities on a compiled program: the noise model and one crossbar's draws of it (docs/noise.md).

    noise = parse_noise("prog=0.02 read=0.04 saf-low=1e-3 drift-s=3600")   # NoiseConfig, rates checked
    cells = CrossbarNoise(noise, seed=0, xbar=3)
    levels = cells.devices(program.levels(x), maxima)    # frozen: variation, drift, stuck cells (float levels)
    cells.start(sample=7)                                 # read noise of sample 7 on crossbar 3
    codes = cells.codes(sums, currents)                   # column sums + read noise, through the ADC (unclamped)

Frozen parts are drawn from (seed, crossbar id), read noise from (seed, sample index, crossbar id): a result
depends on neither the order crossbars are built in nor how samples are spread over workers. A crossbar
datapath gives its noisy model with `with_noise(cells)`; the simulator asks for it only when the noise is on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from pimc.options import OptionError, convert_options, parse_specs
from pimc.targets.base import ConfigError, TargetConfig, param
from pimc.targets.program import Crossbar

FROZEN, READ = 0, 1  # the first key of a generator's seed: which part of the noise it draws
RATES = ("prog", "read", "read_abs", "saf_low", "saf_high", "drift_s", "adc_offset", "adc_gain")  # all 0: no noise


@dataclass(frozen=True)
class NoiseConfig(TargetConfig):
    """The device and converter non-idealities a noisy run applies; every one is off at its default."""

    name: ClassVar[str] = "noise"
    summary: ClassVar[str] = "device non-idealities of a noisy run"

    prog: float = param(0.0, "-", "programming variation: σ of each cell's relative error, frozen", 0.0, 1.0)
    prog_dist: Literal["gaussian", "lognormal"] = param(
        "gaussian", "-", "programming error's distribution: level·(1 + σ·ε), or level·exp(σ·ε)")
    read: float = param(0.0, "-", "read noise per activation: E of RAELLA's σ = E·sqrt(N+ + N-)", 0.0, 1.0)
    read_abs: float = param(0.0, "level units", "read noise per activation: σ of every converted column sum",
                            0.0, 1e6)
    saf_low: float = param(0.0, "fraction", "cells stuck at the lowest level (0), frozen", 0.0, 1.0)
    saf_high: float = param(0.0, "fraction", "cells stuck at the highest level, frozen", 0.0, 1.0)
    drift_s: float = param(0.0, "s", "time since programming; levels drift as (t/t0)^-ν once t > t0", 0.0, 1e12)
    drift_t0: float = param(20.0, "s", "drift's reference time t0 (aihwkit's 20 s)", 1e-9, 1e12)
    drift_nu: float = param(0.05, "-", "drift exponent ν, mean over cells", 0.0, 1.0)
    drift_nu_std: float = param(0.0, "-", "drift exponent's spread over cells (σ of ν, frozen per cell)", 0.0, 1.0)
    drift_comp: bool = param(False, "-", "global drift compensation: each crossbar's converted sums scaled by its "
                             "total conductance at programming over the drifted one (aihwkit's)")
    adc_offset: float = param(0.0, "LSB", "σ of each crossbar ADC's offset error, frozen", 0.0, 1e6)
    adc_gain: float = param(0.0, "-", "relative σ of each crossbar ADC's gain error, frozen", 0.0, 1.0)

    def check(self) -> None:
        if self.saf_low + self.saf_high > 1:
            raise ConfigError(f"saf-low + saf-high = {self.saf_low + self.saf_high:g} is more than every cell: "
                              f"the fractions of stuck cells add to at most 1")

    @property
    def active(self) -> bool:
        """Some non-ideality is on: the run is noisy and takes the sliced path."""
        return any(getattr(self, name) for name in RATES)

    @property
    def frozen(self) -> bool:
        """Some device reads other than it was programmed: variation, stuck devices or drift."""
        return bool(self.prog or self.saf_low or self.saf_high or self.drifting)

    @property
    def drifting(self) -> bool:
        return self.drift_s > self.drift_t0 and (self.drift_nu > 0 or self.drift_nu_std > 0)



def parse_noise(text: str) -> NoiseConfig:
    """`prog=0.02 read=0.04` (target-option syntax, without a name or braces) as a NoiseConfig; ConfigError else."""
    wrapped = f"noise{{{text}}}"
    try:
        (_, options), = parse_specs(wrapped, "--noise")
        return NoiseConfig(**convert_options(NoiseConfig, "the noise model", options))
    except (OptionError, ConfigError, ValueError) as error:
        raise ConfigError(f"--noise {text!r}: {spec_error(error, text)}") from None


def check_seed(seed: int) -> None:
    """`--noise-seed` seeds every draw (docs/noise.md): a ConfigError unless it is 0 or more."""
    if seed < 0:
        raise ConfigError(f"--noise-seed {seed}: give a seed of 0 or more")


def spec_error(error: Exception, text: str) -> str:
    """What is wrong with the --noise spec `text`, worded for it rather than for the `noise{...}` it is parsed as."""
    wrapped = f"noise{{{text}}}"
    message = str(error).replace(f": {wrapped!r}", "").replace("--noise 'noise' sets", "it sets")
    return re.sub(r"malformed --noise at column (\d+)",
                  lambda m: f"not key=value options (column {int(m[1]) - len('noise{')})", message)


def column_maxima(spec: Crossbar) -> np.ndarray:
    """Each cell column's highest level, in the order of the program's levels (a weight's planes, then slices)."""
    return np.tile(np.array([(1 << w) - 1 for w in spec.cell_widths], np.float64), spec.weights * spec.planes)


@dataclass
class CrossbarNoise:
    """One crossbar's noise: its frozen draws, and the read-noise generator of the sample being run."""

    config: NoiseConfig
    seed: int
    xbar: int
    compensation: float = 1.0  # converted sums are scaled by it (global drift compensation)
    adc_gain: float = 1.0
    adc_offset: float = 0.0  # in LSB
    stuck: int = 0  # cells stuck at either level
    _read: np.random.Generator | None = field(default=None, repr=False)

    def devices(self, levels: np.ndarray, maxima: np.ndarray) -> np.ndarray:
        """The devices' levels as read (float, rows x cell columns), from the levels written and each column's
        highest level: programming variation, drift, then stuck cells; draws the ADC's errors too."""
        c, rng = self.config, np.random.default_rng([self.seed, FROZEN, self.xbar])
        written = levels.astype(np.float64)
        error = rng.standard_normal(written.shape)
        if c.prog_dist == "lognormal":
            written = written * np.exp(c.prog * error)
        else:
            written = np.maximum(written * (1 + c.prog * error), 0.0)
        nu = np.maximum(c.drift_nu + c.drift_nu_std * rng.standard_normal(written.shape), 0.0)
        drifted = written * (c.drift_s / c.drift_t0) ** -nu if c.drifting else written
        if c.drifting and c.drift_comp and drifted.sum() > 0:
            self.compensation = float(written.sum() / drifted.sum())
        fate = rng.random(written.shape)
        low, high = fate < c.saf_low, (fate >= c.saf_low) & (fate < c.saf_low + c.saf_high)
        self.stuck = int(np.count_nonzero(low | high))
        read = np.where(low, 0.0, np.where(high, np.broadcast_to(maxima, written.shape), drifted))
        self.adc_gain = 1 + c.adc_gain * float(rng.standard_normal())
        self.adc_offset = c.adc_offset * float(rng.standard_normal())
        return read

    def start(self, sample: int) -> None:
        """Read noise from here on is sample `sample`'s."""
        self._read = np.random.default_rng([self.seed, READ, sample, self.xbar])

    def codes(self, sums: np.ndarray, currents: np.ndarray | None, step: int = 1) -> np.ndarray:
        """The ADC's codes (unclamped, codes of `step` level units) of one activation's analog column sums: read
        noise of σ = read·sqrt(currents) + read-abs added (`currents`: each sum's N+ + N-, in level units, needed
        when `read` is on), then the ADC's gain and offset, thresholds half a level unit below each integer sum
        (so integer sums convert to floor(sum / step), as the exact datapath's). In float32, which holds every
        half-integer below 2^22 exactly, far above any crossbar's column sums (512 rows x 15 x 7: 53,760)."""
        c = self.config
        analog = sums.astype(np.float32)
        if c.read or c.read_abs:
            draws = self._generator().standard_normal(sums.shape, dtype=np.float32)
            draws *= c.read * np.sqrt(currents, dtype=np.float32) + c.read_abs if c.read else c.read_abs
            analog += draws
        if self.adc_gain != 1:
            analog *= self.adc_gain
        analog += 0.5
        if step != 1:
            analog /= step
        if self.adc_offset:
            analog += self.adc_offset
        return np.floor(analog, out=analog)

    def _generator(self) -> np.random.Generator:
        if self._read is None:
            self.start(0)
        return self._read

"""The stages of each mapping mode of a generated weight: their integer weights, exact ranges and crossbar costs.

    stages = mode_stages("two-stage", "intra-cross", codes, scales, (32, 16, 3, 3))
    # [Stage("wc", W_c as 12x16x3x3, group 1, spatial), Stage("v", V as 32x12x1x1, group 1, not spatial)]

materialize: one stage, W = V @ (U @ W^b) (about 20 bits for 3-6-3); two-stage: W_c = U @ W^b (k x k,
Ci -> B_c), then V (1 x 1, B_c -> Co); three-stage: U (1 x 1, Ci -> B_c*B_i), W^b (depthwise k x k, B_c*B_i
groups), V repeated over B_i (1 x 1). A gemm's weight (Co x Ci) has materialize and two-stage forms.
Weights are OIHW for a conv (1 x 1 kernels for the stages that take no window) and N x K for a gemm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pimc.dialects import mlg

MODES = ("materialize", "two-stage", "three-stage")
OBJECTIVES = ("crossbars", "conversions", "cycles")


@dataclass(frozen=True)
class Stage:
    """One conv (or gemm) of a mode: its integer weight, the real value of one weight unit, its group count, and
    whether it takes the layer's window (kernel, strides, pads)."""

    name: str
    weight: np.ndarray
    scale: float
    group: int = 1
    spatial: bool = True

    @property
    def bits(self) -> int:
        return signed_bits(self.weight)


def available_modes(levels: str) -> tuple[str, ...]:
    """The modes a weight generated at `levels` has: two-stage needs the cross level, three-stage both."""
    return ("materialize",) + (("two-stage",) if "cross" in levels else ()) + \
        (("three-stage",) if levels == "intra-cross" else ())


def mode_stages(mode: str, levels: str, codes: list[np.ndarray], scales: list[float],
                shape: tuple[int, ...]) -> list[Stage]:
    """The stages of `mode` for the weight of `shape` (Co x Ci x kernel) generated from integer `codes`."""
    co, ci, *kernel = shape
    named = dict(zip(mlg.LEVELS[levels], (np.asarray(c, dtype=np.int64) for c in codes)))
    scale = dict(zip(mlg.LEVELS[levels], scales))
    point = (1,) * len(kernel)  # a 1 x 1 kernel for a conv, none for a gemm
    if mode == "materialize":
        return [Stage("w", mlg.integer_weight(levels, list(named.values()), co).reshape(shape), math.prod(scales))]
    v, b_c = named["coeff_out"], named["coeff_out"].shape[1]
    if mode == "two-stage":
        basis = named["basis"].reshape(b_c, -1, math.prod(kernel))
        wc = np.matmul(named["coeff_in"], basis) if "coeff_in" in named else basis
        return [Stage("wc", wc.reshape(b_c, ci, *kernel), scale["basis"] * scale.get("coeff_in", 1.0)),
                Stage("v", v.reshape(co, b_c, *point), scale["coeff_out"], spatial=False)]
    u = named["coeff_in"]  # B_c x Ci x B_i
    b_i = u.shape[2]
    return [Stage("u", np.transpose(u, (0, 2, 1)).reshape(b_c * b_i, ci, *point), scale["coeff_in"], spatial=False),
            Stage("wb", named["basis"].reshape(b_c * b_i, 1, *kernel), scale["basis"], group=b_c * b_i),
            Stage("v", np.repeat(v, b_i, axis=1).reshape(co, b_c * b_i, *point), scale["coeff_out"], spatial=False)]


def signed_bits(weight: np.ndarray) -> int:
    """Bits of a two's complement integer holding every value of `weight` (at least 2)."""
    peak = int(np.max(np.abs(weight))) if weight.size else 0
    return max(2, peak.bit_length() + 1)


def output_range(weight: np.ndarray, low: int, high: int) -> tuple[int, int]:
    """The least and greatest sum of weight[o] . c over the output channels o, for inputs c in [low, high]: the exact
    range of the stage's integer result (padding reads 0, inside the range)."""
    flat = weight.reshape(weight.shape[0], -1).astype(object)  # exact beyond int64 for the widest stages
    lows = np.where(flat > 0, flat * low, flat * high).sum(axis=1)
    highs = np.where(flat > 0, flat * high, flat * low).sum(axis=1)
    return int(lows.min()), int(highs.max())


@dataclass(frozen=True)
class Geometry:
    """What a stage's crossbar costs depend on: crossbar rows, columns, bits per cell, input bits per DAC step."""

    rows: int
    cols: int
    cell_bits: int
    dac_bits: int

    def costs(self, stage: Stage, input_bits: int, pixels: int) -> dict[str, int]:
        """Crossbars, ADC conversions and crossbar cycles of one stage, as the cost model counts the compiled layer:
        each output pixel, in each input slice, converts every cell column of every row block of every group;
        the groups of a grouped stage share crossbars on diagonal blocks where they fit (pack-groups)."""
        out, fan_in = stage.weight.shape[0] // stage.group, math.prod(stage.weight.shape[1:])
        columns = out * math.ceil(stage.bits / self.cell_bits)
        blocks = math.ceil(fan_in / self.rows)
        per_crossbar = min(self.rows // fan_in, self.cols // columns) if fan_in <= self.rows and columns <= self.cols else 1
        crossbars = math.ceil(stage.group / per_crossbar) if per_crossbar > 1 else \
            stage.group * blocks * math.ceil(columns / self.cols)
        cycles = pixels * math.ceil(input_bits / self.dac_bits)
        return {"crossbars": crossbars, "conversions": cycles * stage.group * blocks * columns, "cycles": cycles}

"""The simulator's fast path: MVMs over the same input vectors whose crossbars provably never clip, each group
computed as one matrix product.

    groups = plan_groups(program.instructions, crossbars, (adc_bits, adc_step))   # first seq -> its FastGroup
    product = groups[seq].product(x)     # every member's output, exact integers
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.targets.datapath import CrossbarStats, Datapath
from pimc.targets.integer_products import as_int8, byte_products
from pimc.targets.program import Instruction


@dataclass(frozen=True)
class FastGroup:
    """Crossbars that read the same input vectors and provably never clip: their weights side by side, the
    digital correction folded in (x @ stored + correction * sum(x) = x @ (stored + correction), in integers).

    Inputs of up to 8 bits times weights that fit int8 go through onnxruntime's 8-bit integer kernel, exact
    (targets/integer_products.py). Otherwise every partial sum of the product is an integer of magnitude at
    most (2^input bits - 1) * max|weight| * rows: float32 computes it exactly below 2^24, float64 below 2^53,
    so the product needs no rounding."""

    instructions: list[Instruction]
    weights: np.ndarray  # rows x all their weights: int8, else float32 where every product is exact in it
    outputs: list[tuple[str, int, int, int, int]]  # per member: dst buffer, its vectors v0:v1, its columns of `weights`
    events: list[tuple[int, CrossbarStats]]  # per member: its crossbar, what one execution of the group counts

    def product(self, x: np.ndarray) -> np.ndarray:
        """x @ weights in exact integers: int32 (the IR's i32 results) from int8 or float32 weights, else int64."""
        if self.weights.dtype == np.int8:
            return byte_products(x, self.weights)
        integers = np.int32 if self.weights.dtype == np.float32 else np.int64
        return (x.astype(self.weights.dtype) @ self.weights).astype(integers)

    @classmethod
    def build(cls, run: list[Instruction], crossbars: dict[int, Datapath]) -> FastGroup:
        parts = [crossbars[i.args["xbar"]] for i in run]
        folded = [p.stored + p.correction for p in parts]
        matrix, bits = np.hstack(folded), sum(run[0].args["input_slices"])
        weights = as_int8(matrix) if bits <= 8 else None
        if weights is None:
            bound = ((1 << bits) - 1) * float(np.abs(matrix).max(initial=0)) * len(matrix)
            weights = matrix.astype(np.float32 if bound < 2**24 else np.float64)
        bounds = np.cumsum([0] + [f.shape[1] for f in folded]).tolist()
        outputs = [(i.args["dst"], *i.args["vectors"], start, stop) for i, start, stop in zip(run, bounds, bounds[1:])]
        return cls(run, weights, outputs, [(i.args["xbar"], _events(i, part)) for i, part in zip(run, parts)])


def _events(i: Instruction, crossbar: Datapath) -> CrossbarStats:
    """What one fast execution of MVM `i` counts on its crossbar; signed planes: two passes."""
    events, (v0, v1) = CrossbarStats(), i.args["vectors"]
    for _ in range(2 if i.args.get("zero_point") else 1):
        crossbar.count(v1 - v0, tuple(i.args["input_slices"]), speculative(i), events)
    return events


def plan_groups(instructions: list[Instruction], crossbars: dict[int, Datapath],
                adc: tuple[int, int]) -> dict[int, FastGroup]:
    """The groups of MVMs over the same input vectors whose crossbars provably never clip, by their first
    instruction's seq. Buffers are written once per run, so a group may compute every member's output at its first;
    a whole `send` gives its destination the source's array, so MVMs on several tiles may read the same vectors.
    """
    origin: dict[str, str] = {}  # a buffer a whole send wrote -> the buffer it copies
    runs: dict[tuple, list[Instruction]] = {}
    for i in instructions:
        if i.op == "send" and "rows" not in i.args:
            origin[i.args["dst"]] = origin.get(i.args["src"], i.args["src"])
        if i.op == "mvm" and crossbars[i.args["xbar"]].never_clips(tuple(i.args["input_slices"]), speculative(i), *adc):
            runs.setdefault(_inputs_of(i, origin), []).append(i)
    return {run[0].seq: FastGroup.build(run, crossbars) for run in runs.values()}


def speculative(i: Instruction) -> bool:
    """The MVM applies speculative input slices (RAELLA's)."""
    return bool(i.args.get("speculate", False))


def _inputs_of(i: Instruction, origin: dict[str, str]) -> tuple:
    a = i.args
    return (origin.get(a["src"], a["src"]), tuple(a["src_cols"]), tuple(a["vectors"]), tuple(a["input_slices"]),
            speculative(i), a.get("zero_point", 0))

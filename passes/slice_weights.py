"""slice-weights: cut every xbar.mvm so that its rows and its weights' cells fit one crossbar.

    %m = xbar.mvm(%p) {rows = [0, 300], cols = [0, 64]}     (8-bit weights, 2-bit cells: 4 cells per weight)
  ->
    rows in 3 balanced chunks of 100, columns in chunks of 128 / 4 = 32 weights:
    %m = xbar.concat(xbar.add(mvm[0,100) x [0,32), mvm[100,200) x [0,32), ...), xbar.add(... x [32,64)))

Row chunks are balanced, as the reference datapath spreads them; a crossbar then holds
ceil(K / rows) x ceil(N x slices / cols) of a K x N matrix when slices divides cols. An MVM's own
`weight_slices` (adaptive-slicing) sets its slices; else weight-bits / cell-bits do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pimc.diagnostics import op_error
from pimc.dialects import xbar
from pimc.dialects.builtin import ModuleOp
from pimc.ir.types import ScalarType, TensorType
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.rewriting import PatternRewriter, RewritePattern, apply_patterns, op_pattern

I32 = ScalarType("i32")


def row_chunks(rows: int, height: int) -> list[slice]:
    """Split `rows` over ceil(rows/height) crossbars as evenly as possible (the datapath models cut them alike)."""
    count = math.ceil(rows / height)
    size = math.ceil(rows / count)
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]


@dataclass(frozen=True)
class SliceWeights(ModulePass):
    """Split every xbar.mvm so that its weight rows and cell columns fit one crossbar."""

    name = "slice-weights"
    needs = ("xbar.mvm",)
    made_by = "lower-to-xbar"
    rows: int = param(128, "rows", "crossbar height", 1, 1 << 16)
    cols: int = param(128, "columns", "crossbar width (cells)", 1, 1 << 16)
    cell_bits: int = param(2, "bits", "cell precision", 1, 16)
    encoding: Literal["offset", "differential", "center-offset"] = param(
        "offset", "-", "signed weights as one offset column per slice, a column pair per slice, or (center-offset) "
        "one column of 2T2R pairs per slice")

    def apply(self, module: ModuleOp) -> None:
        apply_patterns(module, [SplitMvm(self)])


@dataclass(frozen=True)
class SplitMvm(RewritePattern):
    config: SliceWeights

    @op_pattern
    def match_and_rewrite(self, op: xbar.MvmOp, rewriter: PatternRewriter) -> None:
        weights = op.weight_bits
        slices = cells_per_weight(op, self.config.cell_bits, self.config.encoding)
        per_xbar = self.config.cols // slices
        if per_xbar < 1:
            raise op_error(op, f"one {weights}-bit weight needs {slices} cells, more than a crossbar's {self.config.cols} columns")
        (r0, r1), (c0, c1) = op.rows, op.cols
        if r1 - r0 <= self.config.rows and c1 - c0 <= per_xbar:
            if op.bit_slices != slices:
                rewriter.replace_op(op, [_mvm(op, (r0, r1), (c0, c1), slices)])
            return
        chunks, columns = [], []
        for start in range(c0, c1, per_xbar):
            span = (start, min(start + per_xbar, c1))
            parts = [_mvm(op, (r0 + c.start, r0 + c.stop), span, slices) for c in row_chunks(r1 - r0, self.config.rows)]
            chunks.extend(parts)
            if len(parts) > 1:
                parts.append(xbar.AddOp.build([p.result for p in parts], [parts[0].output.type], op.location))
                chunks.append(parts[-1])
            columns.append(parts[-1].result)
        if len(columns) > 1:
            chunks.append(xbar.ConcatOp.build(columns, [op.output.type], op.location))
        rewriter.replace_op(op, chunks)


def cells_per_weight(op: xbar.MvmOp, cell_bits: int, encoding: str) -> int:
    """Cell columns one of the MVM's weights takes: its slices (its own, or weight-bits / cell-bits), doubled for
    differential pairs."""
    count = len(op.weight_slices) if op.weight_slices else math.ceil(op.weight_bits / cell_bits)
    return count * (2 if encoding == "differential" else 1)


def _mvm(op: xbar.MvmOp, rows: tuple[int, int], cols: tuple[int, int], slices: int) -> xbar.MvmOp:
    product = TensorType((op.input.type.shape[0], cols[1] - cols[0]), I32)
    return xbar.MvmOp.build([op.input], [product], op.location, weights=op.weights, rows=rows, cols=cols,
                            weight_bits=op.weight_bits, input_offset=op.input_offset or None,
                            input_zero_point=op.input_zero_point, bit_slices=slices,
                            weight_slices=op.weight_slices, slicing_error=op.slicing_error, centers=op.centers,
                            block_groups=op.block_groups)

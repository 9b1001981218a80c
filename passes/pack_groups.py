"""pack-groups: put several groups of a grouped or depthwise conv on one crossbar, each on its own diagonal block.

    %c = xbar.concat(mvm(%p) {rows = [0, 9], cols = [0, 1], input_offset = 0}, ... 32 groups ...)   (depthwise 3x3)
  ->
    %c = xbar.concat(mvm(%p) {weights = "dw_matrix_packed", rows = [0, 126], cols = [0, 14], block_groups = 14}, ...)

lower-to-xbar gives group g of a grouped conv an MVM of its own over rows [0, K_g) of the K_g x N matrix, at input
offset g K_g: a 3 x 3 depthwise group uses 9 of a crossbar's 128 rows. Here the groups' MVMs become MVMs over a
block-diagonal G K_g x N matrix, rows [g0 K_g, g1 K_g) and columns [g0 N_g, g1 N_g): G groups share a crossbar,
as many as its rows and cell columns hold. The cells off the diagonal blocks hold zero weights, so the product
is exactly the unpacked one in integers; they are still cells, and the rows of every packed group are driven
at once (the costs count them). Run before slice-weights, with the same crossbar options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pimc.dialects import xbar
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_canonicalize import weight_store
from pimc.ir.core import OpResult
from pimc.ir.types import ScalarType, TensorType
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.passes.slice_weights import cells_per_weight
from pimc.rewriting import PatternRewriter, RewritePattern, apply_patterns, op_pattern

I32 = ScalarType("i32")


@dataclass(frozen=True)
class PackGroups(ModulePass):
    """Pack the groups of grouped and depthwise convs onto shared crossbars, block-diagonally."""

    name = "pack-groups"
    needs = ("xbar.mvm",)
    made_by = "lower-to-xbar"
    rows: int = param(128, "rows", "crossbar height", 1, 1 << 16)
    cols: int = param(128, "columns", "crossbar width (cells)", 1, 1 << 16)
    cell_bits: int = param(2, "bits", "cell precision", 1, 16)
    encoding: Literal["offset", "differential", "center-offset"] = param(
        "offset", "-", "signed weights' encoding, as slice-weights takes it")

    def apply(self, module: ModuleOp) -> None:
        apply_patterns(module, [PackConcat(self)])


@dataclass(frozen=True)
class PackConcat(RewritePattern):
    config: PackGroups

    @op_pattern
    def match_and_rewrite(self, op: xbar.ConcatOp, rewriter: PatternRewriter) -> None:
        groups = _group_mvms(op)
        if groups is None:
            return
        first = groups[0]
        k_g, n_g = first.rows[1], first.cols[1] - first.cols[0]
        slices = cells_per_weight(first, self.config.cell_bits, self.config.encoding)
        per_xbar = min(self.config.rows // k_g, self.config.cols // (n_g * slices), len(groups))
        if per_xbar < 2:
            return
        store = weight_store(op)
        matrix = store[first.weights]
        packed = np.zeros((len(groups) * k_g, matrix.shape[1]), matrix.dtype)
        for g in range(len(groups)):
            packed[g * k_g : (g + 1) * k_g, g * n_g : (g + 1) * n_g] = matrix[:, g * n_g : (g + 1) * n_g]
        ref, mvms = store.add(f"{first.weights}_packed", packed), []  # MVMs name their matrix in the store
        for g0 in range(0, len(groups), per_xbar):
            g1 = min(g0 + per_xbar, len(groups))
            product = TensorType((first.input.type.shape[0], (g1 - g0) * n_g), I32)
            mvm = xbar.MvmOp.build([first.input], [product], first.location, weights=ref, rows=(g0 * k_g, g1 * k_g),
                                   cols=(g0 * n_g, g1 * n_g), weight_bits=first.weight_bits,
                                   input_zero_point=first.input_zero_point, block_groups=g1 - g0)
            mvm.result.name_hint = first.result.name_hint
            mvms.append(mvm)
        joined = [xbar.ConcatOp.build([m.result for m in mvms], [op.output.type], op.location)] if len(mvms) > 1 else []
        rewriter.replace_op(op, [*mvms, *joined])
        for mvm in groups:
            rewriter.erase_op(mvm)


def _group_mvms(op: xbar.ConcatOp) -> list[xbar.MvmOp] | None:
    """The concat's operands if they are the per-group MVMs lower-to-xbar makes of one grouped conv: one input and
    one K_g x N matrix, rows [0, K_g) at input offset g K_g, columns [g N_g, (g + 1) N_g), nothing set after lowering."""
    mvms = [value.op if isinstance(value, OpResult) else None for value in op.operands]
    if len(mvms) < 2 or not all(isinstance(m, xbar.MvmOp) and len(m.result.uses) == 1 for m in mvms):
        return None
    first = mvms[0]
    k_g, n_g = first.rows[1], first.cols[1] - first.cols[0]
    for g, mvm in enumerate(mvms):
        if (mvm.input is not first.input or mvm.weights != first.weights or tuple(mvm.rows) != (0, k_g)
                or (mvm.input_offset or 0) != g * k_g or tuple(mvm.cols) != (g * n_g, (g + 1) * n_g)
                or mvm.weight_bits != first.weight_bits or mvm.input_zero_point != first.input_zero_point
                or mvm.weight_slices is not None or mvm.centers is not None or mvm.tile is not None):
            return None
    return mvms

"""lower-to-xbar: integer convs and gemms become crossbar MVMs over a K x N weight matrix.

    %acc = q.conv2d(%xq, %wq, %bq) {input_zero_point = 3, group = 2, ...}
  ->
    %p = xbar.im2col(%xq) {pad_value = 3, ...}
    %m0 = xbar.mvm(%p) {weights = "w.matrix", rows = [0, Kg], cols = [0, N/2]}
    %m1 = xbar.mvm(%p) {weights = "w.matrix", rows = [0, Kg], cols = [N/2, N], input_offset = Kg}
    %acc = xbar.col2im(xbar.add_bias(xbar.concat(%m0, %m1), %bias))

The input zero point is not subtracted on the crossbar: `bias - zero_point * column sums`
corrects for it, and padding reads the zero point, so padded taps cancel too. The result is
exactly the q op's.

With `epitomes`, a conv whose weight is an ep.materialize of an epitome E keeps only E on crossbars
(docs/epitome.md): W[o, i] = E[r(o), c(i)], so x . W = route(wrap_sum(x) . E) exactly in integers:

    %p = xbar.im2col(%xq) ; %s = xbar.wrap_sum(%p) {map = c} ; %m = xbar.mvm(%s) {weights = "e.matrix", ...}
    %acc = xbar.col2im(xbar.add_bias(xbar.route(%m) {map = r}, %bias))

Without it, or for a grouped conv, the weight is materialised and lowered as any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.dialects import ep, q, xbar
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.dialects.q_canonicalize import produced_by, weight_ref
from pimc.ir.core import Operation, Value
from pimc.ir.types import ScalarType, TensorType
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.rewriting import PatternRewriter, RewritePattern, apply_patterns, op_pattern

I32 = ScalarType("i32")


@dataclass(frozen=True)
class LowerToXbar(ModulePass):
    """Lower q.conv2d and q.gemm to im2col, crossbar MVMs over a K x N weight matrix, bias and col2im."""

    name = "lower-to-xbar"
    needs = ("q.conv2d", "q.gemm")
    made_by = "quantize"
    epitomes: bool = param(False, "-", "keep only the epitome of an ep.materialize weight on crossbars, with "
                           "wrap_sum and route around it (EPIM)")

    def apply(self, module: ModuleOp) -> None:
        apply_patterns(module, [LowerConv(self.epitomes), LowerGemm()])
        module.attributes["stage"] = "xbar"


def _matrix_mvms(anchor: Operation, rows: Value, weight: np.ndarray, groups: int,
                 zero_point: int | None = None) -> tuple[list, Value]:
    """The weight matrix (K_g x N), one MVM per group over its own input columns, and their joined result;
    the MVMs record the zero point of their input codes."""
    k_g, n = weight.shape
    matrix = new_weight(anchor, f"{_base(anchor)}_matrix", weight, anchor.weight.type.element)
    ops, parts = [matrix], []
    per_group = n // groups
    for g in range(groups):
        product = TensorType((rows.type.shape[0], per_group), I32)
        mvm = xbar.MvmOp.build([rows], [product], anchor.location, weights=matrix.ref, rows=(0, k_g),
                               cols=(g * per_group, (g + 1) * per_group), weight_bits=anchor.weight.type.element.width,
                               input_offset=g * k_g or None, input_zero_point=zero_point or None)
        mvm.result.name_hint = f"{anchor.output.name_hint}_mvm" if anchor.output.name_hint else None
        ops.append(mvm)
        parts.append(mvm.result)
    if len(parts) == 1:
        return ops, parts[0]
    joined = xbar.ConcatOp.build(parts, [TensorType((rows.type.shape[0], n), I32)], anchor.location)
    return [*ops, joined], joined.result


def _corrected_bias(anchor: Operation, matrix: np.ndarray) -> Operation:
    """bias[n] - input_zero_point * (sum of column n): the crossbar sees x, not x - zero_point."""
    bias = constant(anchor.bias) if anchor.bias is not None else np.zeros(matrix.shape[1], np.int64)
    corrected = bias - anchor.input_zero_point * matrix.astype(np.int64).sum(axis=0)
    return new_weight(anchor, f"{_base(anchor)}_xbar_bias", corrected, I32)


def _base(op: Operation) -> str:
    """`conv1.weight` for a q op whose weight is `conv1.weight_q` (or is sampled from the epitome `conv1.epitome_q`)."""
    return weight_ref(op.weight).removesuffix("_q")


@dataclass(frozen=True)
class LowerConv(RewritePattern):
    epitomes: bool = False

    @op_pattern
    def match_and_rewrite(self, op: q.Conv2dOp, rewriter: PatternRewriter) -> None:
        sampled = produced_by(op.weight, ep.MaterializeOp)
        epitome = constant(sampled.input) if sampled is not None else None
        weight = constant(op.weight) if sampled is None else None if epitome is None else \
            ep.materialize(epitome, *op.weight.type.shape[:2], sampled.patch, sampled.stride)
        if weight is None:
            return
        out, per_group, kh, kw = weight.shape
        matrix = weight.reshape(out, per_group * kh * kw).T  # K_g x N: column n holds output channel n
        n, _, oh, ow = op.output.type.shape
        patches = xbar.Im2ColOp.build([op.input], [TensorType((n * oh * ow, op.input.type.shape[1] * kh * kw), op.input.type.element)],
                                      op.location, kernel=(kh, kw), strides=op.strides, pads=op.pads,
                                      dilations=op.dilations, pad_value=op.input_zero_point or None)
        patches.result.name_hint = f"{op.input.name_hint}_patches"
        if self.epitomes and epitome is not None and op.group == 1:
            crossbar, product = _epitome_mvms(op, sampled, patches.result, epitome)
        else:
            crossbar, product = _matrix_mvms(op, patches.result, matrix, op.group, op.input_zero_point)
        corrected = _corrected_bias(op, matrix)  # the materialised W's column sums: exact for the epitome too
        added = xbar.AddBiasOp.build([product, corrected.result], [product.type], op.location)
        image = xbar.Col2ImOp.build([added.result], [op.output.type], op.location)
        rewriter.replace_op(op, [patches, *crossbar, corrected, added, image])


def _epitome_mvms(op: q.Conv2dOp, sampled: ep.MaterializeOp, patches: Value, epitome: np.ndarray) -> tuple[list, Value]:
    """wrap_sum of the patches onto E's rows, the MVMs over E's matrix, and a route of its columns to the output
    channels; each left out when its map is the identity."""
    rows, cols = sampled.index_maps()
    epitome_o, epitome_i, kh, kw = epitome.shape
    taps = kh * kw
    ops, summed = [], patches
    if not np.array_equal(cols, np.arange(epitome_i)):
        where = (cols[:, None] * taps + np.arange(taps)).ravel()  # patch column (i, tap) -> E row (c(i), tap)
        wraps = int(np.bincount(cols).max())
        element = xbar.wrap_element(patches.type.element, wraps)
        wrap = xbar.WrapSumOp.build([patches], [TensorType((patches.type.shape[0], epitome_i * taps), element)],
                                    op.location, map=tuple(int(m) for m in where))
        wrap.result.name_hint = f"{patches.name_hint}_wrapped"
        ops, summed = [wrap], wrap.result
    zero_point = op.input_zero_point if summed is patches else None  # pre-sums have no single zero point
    mvms, product = _matrix_mvms(op, summed, epitome.reshape(epitome_o, epitome_i * taps).T, 1, zero_point)
    ops += mvms
    if not np.array_equal(rows, np.arange(epitome_o)):
        routed = xbar.RouteOp.build([product], [TensorType((product.type.shape[0], len(rows)), I32)], op.location,
                                    map=tuple(int(r) for r in rows))
        routed.result.name_hint = f"{op.output.name_hint}_routed" if op.output.name_hint else None
        ops.append(routed)
        product = routed.result
    return ops, product


class LowerGemm(RewritePattern):
    @op_pattern
    def match_and_rewrite(self, op: q.GemmOp, rewriter: PatternRewriter) -> None:
        weight = constant(op.weight)
        if weight is None:
            return
        matrix = weight.T  # K x N
        mvms, product = _matrix_mvms(op, op.input, matrix, 1, op.input_zero_point)
        corrected = _corrected_bias(op, matrix)
        added = xbar.AddBiasOp.build([product, corrected.result], [op.output.type], op.location)
        rewriter.replace_op(op, [*mvms, corrected, added])

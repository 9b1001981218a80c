"""Canonicalization patterns of the `nn` dialect, in `PATTERNS`; `pimc.dialects.canonicalize` applies them.

    %c = nn.conv2d(%x, %w) ; %y = nn.mul(%c, %s)   ->   %y = nn.conv2d(%x, %w_scaled)

Folding a per-channel multiply or add into the conv or gemm before it is
exact in real arithmetic, and each new weight is rounded once: a product or
sum of two floats of one type is correctly rounded in that type (gemm's
`beta * c + t` is computed in float64). Folded arrays go into the module's weight store under fresh
names, so an ONNX initializer name always means the ONNX array.
"""

from __future__ import annotations

import numpy as np

from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_conv import Conv2dOp, GemmOp, WeightOp
from pimc.dialects.nn_elementwise import AddOp, MulOp
from pimc.dialects.nn_tensor import ReshapeOp, ShapeOnlyOp, TransposeOp
from pimc.ir.core import Operation, OpResult, Value
from pimc.ir.types import TensorType
from pimc.rewriting import PatternRewriter, RewritePattern, fused, op_pattern
from pimc.weights import WeightStore


def weight_store(op: Operation) -> WeightStore:
    """The weight store of the module that contains `op`."""
    while not isinstance(op, ModuleOp):
        op = op.parent_op()
    return op.weights


def constant(value: Value | None) -> np.ndarray | None:
    """The array behind an `nn.weight` value, or None for anything else."""
    if not isinstance(value, OpResult) or not isinstance(value.op, WeightOp):
        return None
    return weight_store(value.op)[value.op.ref].reshape(value.type.shape)


def new_weight(anchor: Operation, hint: str, array: np.ndarray, element) -> WeightOp:
    """A detached `nn.weight` op for `array`, stored under a fresh name derived from `hint`."""
    array = np.asarray(array, dtype=element.numpy_dtype())
    store = weight_store(anchor)
    base, _, suffix = hint.rpartition("_")
    if suffix.isdigit() and base in store:  # fold again: `w_1` -> `w_2`, not `w_1_1`
        hint = base
    ref = store.add(hint, array)
    op = WeightOp.build([], [TensorType(array.shape, element)], anchor.location, ref=ref)
    op.result.name_hint = ref
    return op


def _channel_vector(value: Value, out: TensorType, axis: int) -> np.ndarray | None:
    """The constant as one entry per channel of `out`, if it varies along `axis` only."""
    array = constant(value)
    if array is None or array.ndim > out.rank or not np.issubdtype(array.dtype, np.floating):
        return None
    aligned = array.reshape((1,) * (out.rank - array.ndim) + array.shape)
    if any(d != 1 and (i != axis or d != out.shape[axis]) for i, d in enumerate(aligned.shape)):
        return None
    target = [out.shape[axis] if i == axis else 1 for i in range(out.rank)]
    return np.broadcast_to(aligned, target).reshape(-1)


def _split(op: MulOp | AddOp) -> tuple[Operation, np.ndarray, Value] | None:
    """(the conv or gemm feeding only `op`, the constant per channel, its value) if `op` can fold into it."""
    for producer_value, other in ((op.lhs, op.rhs), (op.rhs, op.lhs)):
        producer = producer_value.op if isinstance(producer_value, OpResult) else None
        if not isinstance(producer, (Conv2dOp, GemmOp)) or len(producer_value.uses) != 1:
            continue
        if op.output.type != producer_value.type:
            continue
        vector = _channel_vector(other, producer_value.type, axis=1)
        if vector is not None:
            return producer, vector, other
    return None


def _replace(rewriter: PatternRewriter, op: Operation, producer: Operation, operands: list, weights: list,
             **changes) -> None:
    """Replace `op` by a copy of `producer` with new operands and attributes, then erase `producer`."""
    attributes = {**producer.attributes, **changes}
    location = fused(producer.location, op.location)
    merged = type(producer)(operands, [op.output.type], attributes, location=location)
    merged.result.name_hint = op.output.name_hint
    rewriter.replace_op(op, [*weights, merged])
    rewriter.erase_op(producer)


class FoldScaleIntoProducer(RewritePattern):
    """nn.mul(nn.conv2d(x, w, b), s) -> nn.conv2d(x, w * s, b * s) for a per-channel constant s; gemm alike."""

    @op_pattern
    def match_and_rewrite(self, op: MulOp, rewriter: PatternRewriter) -> None:
        found = _split(op)
        if found is None:
            return
        producer, scale, _ = found
        if isinstance(producer, Conv2dOp):
            matrix, bias, axis = producer.weight, producer.bias, 0
        else:
            matrix, bias, axis = producer.b, producer.c, 0 if producer.trans_b else 1
        w = constant(matrix)
        b = constant(bias) if bias is not None else None
        if w is None or (bias is not None and b is None):
            return
        shape = [-1 if i == axis else 1 for i in range(w.ndim)]
        weights = [new_weight(op, matrix.op.ref, w * scale.reshape(shape), matrix.type.element)]
        if bias is not None:
            weights.append(new_weight(op, bias.op.ref, b * scale, bias.type.element))
        operands = [producer.operands[0], *(w.result for w in weights)]
        _replace(rewriter, op, producer, operands, weights)


class FoldShiftIntoProducer(RewritePattern):
    """nn.add(nn.conv2d(x, w, b), t) -> nn.conv2d(x, w, b + t) for a per-channel constant t; gemm alike."""

    @op_pattern
    def match_and_rewrite(self, op: AddOp, rewriter: PatternRewriter) -> None:
        found = _split(op)
        if found is None:
            return
        producer, shift, source = found
        bias = producer.bias if isinstance(producer, Conv2dOp) else producer.c
        element = op.output.type.element
        changes = {}
        if bias is None:
            total, hint = shift, source.op.ref
        else:
            b = constant(bias)
            if b is None:
                return
            beta = 1.0 if isinstance(producer, Conv2dOp) else producer.beta
            total = b + shift if beta == 1.0 else beta * b.astype(np.float64) + shift
            hint = bias.op.ref
        if isinstance(producer, GemmOp) and producer.beta != 1.0:
            changes = {"beta": 1.0}
        weight = new_weight(op, hint, total, element)
        operands = [*producer.operands[:2], weight.result]
        _replace(rewriter, op, producer, operands, [weight], **changes)


class FoldShapeOnly(RewritePattern):
    """Drop a reshape-like op that changes nothing, merge two in a row, apply one to an `nn.weight`."""

    @op_pattern
    def match_and_rewrite(self, op: ShapeOnlyOp, rewriter: PatternRewriter) -> None:
        source = op.input
        if source.type == op.output.type:
            rewriter.replace_all_uses(op.output, source)
            rewriter.erase_op(op)
            return
        array = constant(source)
        if array is not None:
            _replace_by_weight(rewriter, op, array.reshape(op.output.type.shape))
            return
        if isinstance(source, OpResult) and isinstance(source.op, ShapeOnlyOp):
            shape = op.output.type.shape
            reshape = ReshapeOp([source.op.input], [op.output.type], {"shape": shape}, location=op.location)
            reshape.result.name_hint = op.output.name_hint
            rewriter.replace_op(op, [reshape])


class FoldTranspose(RewritePattern):
    """Drop an identity transpose, merge two in a row, apply one to an `nn.weight`."""

    @op_pattern
    def match_and_rewrite(self, op: TransposeOp, rewriter: PatternRewriter) -> None:
        if list(op.perm) == sorted(op.perm):
            rewriter.replace_all_uses(op.output, op.input)
            rewriter.erase_op(op)
            return
        array = constant(op.input)
        if array is not None:
            _replace_by_weight(rewriter, op, array.transpose(op.perm))
            return
        source = op.input
        if isinstance(source, OpResult) and isinstance(source.op, TransposeOp):
            perm = tuple(source.op.perm[p] for p in op.perm)
            fused = TransposeOp([source.op.input], [op.output.type], {"perm": perm}, location=op.location)
            fused.result.name_hint = op.output.name_hint
            rewriter.replace_op(op, [fused])


# Each pattern matches every subclass of the op it names (FoldShapeOnly covers reshape, flatten, squeeze, unsqueeze).
PATTERNS = (FoldShiftIntoProducer, FoldScaleIntoProducer, FoldShapeOnly, FoldTranspose)


def _replace_by_weight(rewriter: PatternRewriter, op: Operation, array: np.ndarray) -> None:
    weight = new_weight(op, op.input.op.ref, array, op.output.type.element)
    weight.result.name_hint = op.output.name_hint or weight.result.name_hint
    rewriter.replace_op(op, [weight])

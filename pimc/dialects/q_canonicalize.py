"""Canonicalization of the `q` dialect: a layer between dequantize and quantize becomes integer arithmetic.

    %x = q.dequantize(%xq) {scale = 0.0157, zero_point = 0} : ...
    %w = q.dequantize(%wq, %ws) : (tensor<16x1x3x3xi8>, tensor<16xf32>) -> tensor<16x1x3x3xf32>
    %y = nn.conv2d(%x, %w, %b) {pads = [1, 1, 1, 1]} : ...
    %yq = q.quantize(%y) {scale = 0.0412, zero_point = 0} : ...
  ->
    %acc = q.conv2d(%xq, %wq, %bq) {pads = [1, 1, 1, 1]} : ...
    %yq = q.requantize(%acc, %m) {scale = 0.0412, zero_point = 0} : ...

with the model's own scales: bq = b / (0.0157 * ws) (the model's i32 bias when it has that scale) and
m = 0.0157 * ws / 0.0412. This is how a QDQ model's layers become crossbar layers. ONNX rounds the float
layer's result once; so does q.requantize, from an exact sum instead of a float32 one. A gemm or a 2-D
matmul becomes q.gemm alike, and a ReLU between the layer and the quantize is absorbed when the zero
point is the lowest integer, where the clamp computes it.

Also: a max pool, reshape or transpose of a q.dequantize runs on its integers, and q.quantize(q.dequantize(%v))
with one scale, zero point and type is %v, so layers in a row exchange integers. `unsigned_activations` makes
signed activations unsigned.
"""

from __future__ import annotations

import numpy as np

from pimc.dialects import ep, q
from pimc.dialects.nn_base import NnOp
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.dialects.nn_conv import Conv2dOp, GemmOp, MatMulOp, MaxPoolOp
from pimc.dialects.nn_elementwise import ReluOp
from pimc.dialects.nn_tensor import ShapeOnlyOp, TransposeOp
from pimc.ir.core import Operation, OpResult, Value
from pimc.ir.location import Location, UnknownLoc
from pimc.ir.types import ScalarType, TensorType
from pimc.rewriting import PatternRewriter, RewritePattern, fused, op_pattern

I32, F64 = ScalarType("i32"), ScalarType("f64")
MOVES = (MaxPoolOp, ShapeOnlyOp, TransposeOp)  # they move or select values, so they commute with (de)quantization


def produced_by(value: Value | None, kind: type) -> Operation | None:
    """The op of class `kind` whose result `value` is, or None."""
    return value.op if isinstance(value, OpResult) and isinstance(value.op, kind) else None


def per_tensor(value: Value) -> q.DequantizeOp | None:
    """The q.dequantize with one scale that produces `value`, or None."""
    op = produced_by(value, q.DequantizeOp)
    return op if op is not None and op.scales is None else None


def weight_slot(layer: Operation) -> tuple[Value, int, Value | None] | None:
    """(weight, its output-channel axis, bias) of a conv, a plain gemm or a 2-D matmul; None for other forms."""
    if isinstance(layer, Conv2dOp):
        return layer.weight, 0, layer.bias
    if isinstance(layer, GemmOp):
        plain = layer.alpha == 1.0 and layer.beta == 1.0 and not layer.trans_a and layer.a.type.rank == 2
        bias_ok = layer.c is None or layer.c.type.rank == 1
        return (layer.b, 0 if layer.trans_b else 1, layer.c) if plain and bias_ok else None
    if isinstance(layer, MatMulOp) and layer.a.type.rank == 2 and layer.b.type.rank == 2 and layer.a.type.element.is_float:
        return layer.b, 1, None
    return None


def dequantized_weight(weight: Value, axis: int) -> np.ndarray | None:
    """The scale of each output channel (`axis`) of a weight that is a dequantized integer constant, or None."""
    dequantize = produced_by(weight, q.DequantizeOp)
    if dequantize is None or constant(dequantize.input) is None or dequantize.zero_point:
        return None
    scales = np.array([dequantize.scale]) if dequantize.scales is None else constant(dequantize.scales)
    if scales is None or (scales.size > 1 and dequantize.axis != axis):
        return None
    return np.broadcast_to(scales.astype(np.float64), (weight.type.shape[axis],))


def integer_weight(layer: Operation, weight: Value, axis: int) -> tuple[list[Operation], Value, np.ndarray]:
    """For a dequantized weight: (new ops, its integers with the output channel first, each channel's scale)."""
    scales, ints = dequantized_weight(weight, axis), weight.op.input
    if axis == 0:
        return [], ints, scales
    moved = new_weight(layer, f"{ints.op.ref}_t", np.moveaxis(constant(ints), axis, 0), ints.type.element)
    return [moved], moved.result, scales


def is_constant(value: Value) -> bool:
    """A float constant, or a q.dequantize of constants."""
    dequantize = produced_by(value, q.DequantizeOp)
    if dequantize is not None:
        return all(constant(v) is not None for v in dequantize.operands)
    array = constant(value)
    return array is not None and array.dtype.kind == "f"


def integer_bias(layer: Operation, bias: Value | None, scale: np.ndarray) -> tuple[list[Operation], Value | None]:
    """(new ops, the i32 bias at `scale` per channel) of a bias that `is_constant`: the model's own integers when
    they have that scale, else its real values rounded."""
    if bias is None:
        return [], None
    dequantize = produced_by(bias, q.DequantizeOp)
    if dequantize is None:
        real, hint = constant(bias), bias.op.ref
    else:
        ints = constant(dequantize.input).astype(np.int64) - dequantize.zero_point
        scales = np.array([dequantize.scale]) if dequantize.scales is None else constant(dequantize.scales)
        same = np.allclose(scales, scale, rtol=1e-6, atol=0)
        if dequantize.input.type.element == I32 and not dequantize.zero_point and same:
            return [], dequantize.input
        real, hint = ints * scales.astype(np.float64), dequantize.input.op.ref
    rounded = new_weight(layer, f"{hint}_q", np.rint(real.astype(np.float64) / scale), I32)
    return [rounded], rounded.result


def weight_ref(weight: Value) -> str:
    """The weight store name of an integer weight constant, or of the epitome an ep.materialize samples it from."""
    op = weight.op
    return op.input.op.ref if isinstance(op, ep.MaterializeOp) else op.ref


def integer_layer(layer: Operation, x: Value, x_zero: int, weight: Value, bias: Value | None, multiplier: np.ndarray,
                  output: TensorType, y_scale: float, y_zero: int, where: Location, hint: str) -> list[Operation]:
    """The multiplier constant, q.conv2d or q.gemm (its result named `hint`_acc), and q.requantize (last)
    computing `layer` on integers."""
    m = new_weight(layer, f"{weight_ref(weight).removesuffix('_q')}_requant", multiplier, F64)
    operands = [x, weight] + ([bias] if bias is not None else [])
    i32 = TensorType(layer.results[0].type.shape, I32)
    if isinstance(layer, (Conv2dOp, ep.Conv2dOp)):
        acc = q.Conv2dOp.build(operands, [i32], where, input_zero_point=x_zero, strides=layer.strides, pads=layer.pads,
                               dilations=layer.dilations, group=layer.group)
    else:
        acc = q.GemmOp.build(operands, [i32], where, input_zero_point=x_zero)
    y = q.RequantizeOp.build([acc.result, m.result], [output], where, scale=y_scale, zero_point=y_zero)
    acc.result.name_hint = f"{hint}_acc"
    return [m, acc, y]


class FormIntegerLayer(RewritePattern):
    """q.quantize(layer(q.dequantize(%xq), q.dequantize(%wq, %ws), %b)) -> q.requantize(q.conv2d(%xq, %wq, %bq), %m)."""

    @op_pattern
    def match_and_rewrite(self, op: q.QuantizeOp, rewriter: PatternRewriter) -> None:
        relu = produced_by(op.input, ReluOp)
        if relu is not None and (len(relu.output.uses) != 1 or op.zero_point != op.output.type.element.bounds[0]):
            return
        layer = produced_by(relu.input if relu else op.input, (Conv2dOp, GemmOp, MatMulOp))
        slot = weight_slot(layer) if layer is not None and len(layer.results[0].uses) == 1 else None
        source = per_tensor(layer.operands[0]) if slot is not None else None
        if source is None:
            return
        weight, axis, bias = slot
        if dequantized_weight(weight, axis) is None or (bias is not None and not is_constant(bias)):
            return
        weight_ops, w_int, w_scale = integer_weight(layer, weight, axis)
        scale = source.scale * w_scale
        bias_ops, b_int = integer_bias(layer, bias, scale)
        named = [o.location for o in (relu, op) if o is not None and not isinstance(o.location, UnknownLoc)]
        where = fused(layer.location, *named)
        ops = integer_layer(layer, source.input, source.zero_point, w_int, b_int, scale / op.scale, op.output.type,
                            op.scale, op.zero_point, where, op.input.name_hint or "y")
        ops[-1].result.name_hint = op.output.name_hint
        rewriter.replace_op(op, [*weight_ops, *bias_ops, *ops])


class FoldQuantizeOfDequantize(RewritePattern):
    """q.quantize(q.dequantize(%v)) with the same scale, zero point and type is %v."""

    @op_pattern
    def match_and_rewrite(self, op: q.QuantizeOp, rewriter: PatternRewriter) -> None:
        source = per_tensor(op.input)
        if source is not None and _same_grid(source, op):
            rewriter.replace_all_uses(op.output, source.input)
            rewriter.erase_op(op)


class MoveBeforeDequantize(RewritePattern):
    """nn.max_pool(q.dequantize(%v)) -> q.dequantize(nn.max_pool(%v)); reshapes and transposes alike.

    Exact: dequantization is increasing, so the max of the reals is the real of the max."""

    @op_pattern
    def match_and_rewrite(self, op: NnOp, rewriter: PatternRewriter) -> None:
        source = per_tensor(op.operands[0]) if isinstance(op, MOVES) else None
        if source is None:
            return
        moved = type(op).create([source.input], op.location, **op.attributes)
        result = op.results[0]
        dequantize = q.DequantizeOp.build([moved.results[0]], [result.type], op.location, scale=source.scale,
                                          zero_point=source.zero_point)
        moved.results[0].name_hint = f"{result.name_hint}_q" if result.name_hint else None
        dequantize.output.name_hint = result.name_hint
        rewriter.replace_op(op, [moved, dequantize])


def _same_grid(dequantize: q.DequantizeOp, quantize: q.QuantizeOp) -> bool:
    return (dequantize.scale, dequantize.zero_point, dequantize.input.type.element) == (
        quantize.scale, quantize.zero_point, quantize.output.type.element)


PATTERNS = (FormIntegerLayer, FoldQuantizeOfDequantize, MoveBeforeDequantize)


def unsigned_activations(ops: list[Operation]) -> None:
    """Signed activations become unsigned, as crossbar inputs are: the values and every zero point that reads
    them move up by 2^(b-1), which is exact. A value is changed only when every op that reads it, through max
    pools and reshapes, takes a zero point: q.dequantize, or the input of q.conv2d and q.gemm."""
    for op in ops:
        element = op.output.type.element if isinstance(op, (q.QuantizeOp, q.RequantizeOp)) else None
        if element is None or element.is_unsigned or element.width < 2:
            continue
        found = _readers(op.output)
        if found is None:
            continue
        values, readers = found
        offset, unsigned = 1 << (element.width - 1), ScalarType(f"ui{element.width}")
        for value in values:  # renamed too: the ONNX tensor of that name holds the signed values
            value.type = TensorType(value.type.shape, unsigned)
            value.name_hint = value.name_hint and f"{value.name_hint}_{unsigned}"
        for reader in (op, *readers):
            key = "input_zero_point" if isinstance(reader, (q.Conv2dOp, q.GemmOp)) else "zero_point"
            reader.attributes[key] = getattr(reader, key) + offset


def _readers(value: Value) -> tuple[list[Value], list[Operation]] | None:
    """(the values `value` flows to through moves, the ops that read them with a zero point); None if any other op reads one."""
    values, readers, pending = [value], [], [value]
    while pending:
        for use in pending.pop().uses:
            user = use.operation
            if isinstance(user, MOVES):
                values.append(user.results[0])
                pending.append(user.results[0])
            elif (isinstance(user, q.DequantizeOp) and user.scales is None) or (
                    isinstance(user, (q.Conv2dOp, q.GemmOp)) and use.index == 0):
                readers.append(user)
            else:
                return None
    return values, list(dict.fromkeys(readers))

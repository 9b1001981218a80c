"""quantize: post-training quantization of conv, gemm and 2-D matmul layers into the `q` dialect.

    %y = nn.conv2d(%x, %w, %b) ; %r = nn.relu(%y)
  ->
    %x_q = q.quantize(%x) ; %acc = q.conv2d(%x_q, %w_q, %b_q) ; %r_q = q.requantize(%acc, %m) ; %r = q.dequantize(%r_q)

Weights are symmetric per output channel; activations are unsigned per tensor, with ranges
observed by running the float model on calibration inputs. A ReLU that follows a layer is
absorbed: its output range starts at zero, so the requantization clamp computes it.

An epitome conv (ep.conv2d) becomes q.conv2d on ep.materialize of its integer epitome, quantized per epitome row;
output channel o takes the scale of the row r(o) it is sampled from (docs/epitome.md).

Layers that arrived quantized (q.conv2d, q.gemm) are left alone. Where a float layer reads a
q.dequantize, or its weight is a dequantized integer constant, the model's own scale and integers are
kept. Afterwards the `q` canonicalization patterns join the layers, and signed activations become
unsigned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.calibrate import Ranges, calibration_inputs, observed_ranges
from pimc.dialects import ep, nn_conv, nn_elementwise, nn_tensor, q
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.canonicalize import RemoveDeadOp
from pimc.dialects.func import FuncOp, ReturnOp
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.dialects.q_canonicalize import (
    PATTERNS, dequantized_weight, integer_bias, integer_layer, integer_weight, is_constant, per_tensor,
    unsigned_activations, weight_slot,
)
from pimc.ir.core import Operation, Value
from pimc.ir.types import ScalarType, TensorType
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.ranges import calibration_key, load_ranges, save_ranges
from pimc.rewriting import PatternRewriter, RewritePattern, apply_patterns, fused, op_pattern


@dataclass(frozen=True)
class Quantize(ModulePass):
    """Quantize conv and gemm layers: per-channel symmetric weights, per-tensor unsigned activations, calibrated."""

    name = "quantize"
    weight_bits: int = param(8, "bits", "weight precision", 2, 16)
    act_bits: int = param(8, "bits", "activation precision between layers", 2, 16)
    calib: str = param("", "-", "an .npz of calibration inputs; seeded normal samples if empty")
    samples: int = param(16, "-", "how many inputs to calibrate on", 1)
    seed: int = param(0, "-", "seed of the normal samples")
    ranges: str = param("", "-", "a calibration.json whose ranges to use instead of calibrating (refused if made "
                        "for another module or calibration)")
    save_ranges: str = param("", "-", "write the ranges used to this calibration.json")

    def apply(self, module: ModuleOp) -> None:
        (func,) = module.funcs()
        apply_patterns(func, [FlattenBatchedMatMul()])
        ranges = self._calibrate(module, func)
        for op in list(func.body.ops):
            if _quantizable(op):
                self._rewrite(op, ranges)
        apply_patterns(func, [RemoveDeadOp(), *(pattern() for pattern in PATTERNS)])
        unsigned_activations(list(func.body.ops))
        module.attributes["stage"] = "quant"

    def _calibrate(self, module: ModuleOp, func: FuncOp) -> Ranges:
        """The smallest and largest value each tensor took over the calibration inputs (`pimc.calibrate`)."""
        quantizable = [op for op in func.body.ops if _quantizable(op)]
        wanted = {op.operands[0] for op in quantizable} | {(_absorbed_relu(op) or op).results[0] for op in quantizable}
        key = calibration_key(module, self.calib, self.samples, self.seed) if self.ranges or self.save_ranges else {}
        if self.ranges:
            ranges = load_ranges(self.ranges, key, module, func, wanted)
        else:
            samples = calibration_inputs(func, self.calib, self.samples, self.seed, self.name)
            ranges = observed_ranges(module, func, samples, wanted)
        if self.save_ranges:
            save_ranges(self.save_ranges, key, module, func, ranges)
        return ranges

    def _rewrite(self, op: Operation, ranges: Ranges) -> None:
        relu = _absorbed_relu(op)
        last = relu or op
        x = op.operands[0]
        weight, axis, bias = _weight_slot(op)
        where = fused(op.location, relu.location) if relu else op.location
        new: list[Operation] = []  # the constants first
        quantize_x: list[Operation] = []
        source = per_tensor(x)
        if source is not None and source.input.type.element.width <= self.act_bits:  # the model's own scale
            x_int, x_scale, x_zero = source.input, source.scale, source.zero_point
        else:
            x_scale, x_zero = _activation(ranges[x], self.act_bits)
            x_q = q.QuantizeOp.build([x], [TensorType(x.type.shape, ScalarType(f"ui{self.act_bits}"))], where,
                                     scale=x_scale, zero_point=x_zero)
            x_int = x_q.result
            x_int.name_hint = f"{x.name_hint}_q"
            quantize_x.append(x_q)
        w = constant(weight)
        if w is None:
            weight_ops, w_int, w_scale = integer_weight(op, weight, axis)
        else:
            w_scale, w_q = _per_channel(np.moveaxis(w, axis, 0), self.weight_bits)
            weight_ops = [new_weight(op, f"{_hint(weight)}_q", w_q, ScalarType(f"i{self.weight_bits}"))]
            w_int = weight_ops[0].result
        if isinstance(op, ep.Conv2dOp):  # E is quantized per row; output channel o shares the scale of row r(o)
            weight_ops, w_int, w_scale = _materialized(op, weight_ops, w_int, w_scale)
        new += weight_ops
        if bias is None:  # a zero bias, which lower-to-xbar corrects for the input zero point
            new.append(new_weight(op, f"{_hint(weight)}_bias_q", np.zeros(len(w_scale)), ScalarType("i32")))
            b_int = new[-1].result
        else:
            bias_ops, b_int = integer_bias(op, bias, x_scale * w_scale)
            new += bias_ops
        returned = any(isinstance(user, ReturnOp) for user in last.results[0].users)
        out_bits = 16 if returned else self.act_bits  # the model's outputs keep 16 bits, as a classifier's logits need
        y_scale, y_zero = _activation(ranges[last.results[0]], out_bits)
        out = TensorType(last.results[0].type.shape, ScalarType(f"ui{out_bits}"))
        hint = last.results[0].name_hint or "y"
        multiplier, *layer = integer_layer(op, x_int, x_zero, w_int, b_int, x_scale * w_scale / y_scale, out, y_scale,
                                           y_zero, where, hint)
        y = q.DequantizeOp.build([layer[-1].result], [last.results[0].type], where, scale=y_scale, zero_point=y_zero)
        layer[-1].result.name_hint = f"{hint}_q"
        for created in [*new, multiplier, *quantize_x, *layer, y]:
            op.parent.insert_before(created, op)
        ranges[y.result] = ranges[last.results[0]]
        last.results[0].replace_all_uses_with(y.result)
        if relu:
            relu.erase()
        op.erase()


class FlattenBatchedMatMul(RewritePattern):
    """A batched matmul by a constant matrix is a 2-D one over every leading index, as a crossbar takes it.

    %y = nn.matmul(%x, %w) : (tensor<1x6x16xf32>, tensor<16x8xf32>) -> tensor<1x6x8xf32>
      -> nn.reshape(nn.matmul(nn.reshape(%x) {shape = [6, 16]}, %w)) {shape = [1, 6, 8]}
    """

    @op_pattern
    def match_and_rewrite(self, op: nn_conv.MatMulOp, rewriter: PatternRewriter) -> None:
        a, b = op.a.type, op.b.type
        if a.rank < 3 or b.rank != 2 or constant(op.b) is None:
            return
        rows = TensorType((a.num_elements // a.shape[-1], a.shape[-1]), a.element)
        flat = nn_tensor.ReshapeOp.build([op.a], [rows], op.location, shape=rows.shape)
        product = nn_conv.MatMulOp.build([flat.result, op.b], [TensorType((rows.shape[0], b.shape[1]), a.element)],
                                         op.location)
        back = nn_tensor.ReshapeOp.build([product.result], [op.output.type], op.location, shape=op.output.type.shape)
        flat.result.name_hint = f"{op.a.name_hint or 'x'}_rows"
        product.result.name_hint = f"{op.output.name_hint or 'y'}_rows"
        rewriter.replace_op(op, [flat, product, back])


def _materialized(op: ep.Conv2dOp, weight_ops: list[Operation], epitome: Value, scales: np.ndarray):
    """(the ops, the integer weight as ep.materialize of the integer epitome, each output channel's scale)."""
    co, ci, kh, kw = op.weight_shape()
    sampled = ep.MaterializeOp.build([epitome], [TensorType((co, ci, kh, kw), epitome.type.element)], op.location,
                                     patch=op.patch, stride=op.stride)
    sampled.result.name_hint = f"{epitome.name_hint}_w" if epitome.name_hint else None
    rows, _ = sampled.index_maps()
    return [*weight_ops, sampled], sampled.result, scales[rows]


def _weight_slot(op: Operation) -> tuple[Value, int, Value | None] | None:
    """`weight_slot`, and (epitome, 0, bias) of an ep.conv2d."""
    return (op.epitome, 0, op.bias) if isinstance(op, ep.Conv2dOp) else weight_slot(op)


def _quantizable(op: Operation) -> bool:
    """A conv, epitome conv, plain gemm or 2-D matmul whose weight is a float constant or a dequantized integer
    one, and whose (1-D) bias is constant too."""
    slot = _weight_slot(op)
    if slot is None:
        return False
    weight, axis, bias = slot
    array = constant(weight)
    weight_ok = (array is not None and array.dtype.kind == "f") or dequantized_weight(weight, axis) is not None
    return weight_ok and (bias is None or (is_constant(bias) and bias.type.rank == 1))


def _absorbed_relu(op: Operation) -> Operation | None:
    users = op.results[0].users
    if len(users) == 1 and isinstance(users[0], nn_elementwise.ReluOp) and len(op.results[0].uses) == 1:
        return users[0]
    return None


def _hint(weight: Value) -> str:
    """A name for what is made of `weight`: its store entry, or (a dequantized integer constant) its SSA name."""
    return getattr(getattr(weight, "op", None), "ref", None) or weight.name_hint or "weight"


def _activation(observed: list[float], bits: int) -> tuple[float, int]:
    """Scale and zero point of an unsigned `bits`-bit grid covering the observed range and zero."""
    low, high = min(observed[0], 0.0), max(observed[1], 0.0)
    levels = (1 << bits) - 1
    scale = float(np.float32((high - low) / levels)) if high > low else 1.0  # a float32, as ONNX holds scales
    return scale, int(np.clip(np.rint(-low / scale), 0, levels))


def _per_channel(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel (axis 0) scales and the integer weights, in [-(2^(b-1)-1), 2^(b-1)-1], in the
    narrowest integer type; rint(w / scale) in float64, a block of channels at a time (VGG-16's classifier: 103
    million weights, 8 MB of float64 at once rather than four 822 MB arrays)."""
    limit = (1 << (bits - 1)) - 1
    flat = weight.reshape(weight.shape[0], -1)
    peak = np.maximum(flat.max(axis=1, initial=0), -flat.min(axis=1, initial=0)).astype(np.float64)  # max |w|
    scale = np.where(peak > 0, peak / limit, 1.0)
    shaped = scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    integers = np.empty(weight.shape, np.min_scalar_type(-limit))
    step = max(1, (1 << 20) // max(flat.shape[1], 1))
    for start in range(0, len(weight), step):
        block = np.divide(weight[start : start + step], shaped[start : start + step], dtype=np.float64)
        np.clip(np.rint(block, out=block), -limit, limit, out=block)
        integers[start : start + step] = block
    return scale, integers

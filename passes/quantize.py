"""quantize: post-training quantization of conv and gemm layers into the `q` dialect.

    %y = nn.conv2d(%x, %w, %b) ; %r = nn.relu(%y)
  ->
    %x_q = q.quantize(%x) ; %acc = q.conv2d(%x_q, %w_q, %b_q) ; %r_q = q.requantize(%acc, %m) ; %r = q.dequantize(%r_q)

Weights are symmetric per output channel; activations are unsigned per tensor, with ranges
observed by running the float model on calibration inputs. A ReLU that follows a layer is
absorbed: its output range starts at zero, so the requantization clamp computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pimc.diagnostics import Diagnostic, DiagnosticError
from pimc.dialects import nn_conv, nn_elementwise, q
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp, ReturnOp
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.interp.interpreter import Interpreter
from pimc.ir.core import Operation, Value
from pimc.ir.types import ScalarType, TensorType
from pimc.pass_manager import ModulePass
from pimc.rewriting import fused

Ranges = dict[Value, list[float]]


@dataclass(frozen=True)
class Quantize(ModulePass):
    """Quantize conv and gemm layers: per-channel symmetric weights, per-tensor unsigned activations, calibrated."""

    name = "quantize"
    weight_bits: int = field(default=8, metadata={"doc": "bits per weight, 2 to 16"})
    act_bits: int = field(default=8, metadata={"doc": "bits per activation between layers, 2 to 16"})
    calib: str = field(default="", metadata={"doc": "an .npz of calibration inputs; seeded normal samples if empty"})
    samples: int = field(default=16, metadata={"doc": "how many inputs to calibrate on"})
    seed: int = field(default=0, metadata={"doc": "seed of the normal samples"})

    def __post_init__(self) -> None:
        for option, value in (("weight-bits", self.weight_bits), ("act-bits", self.act_bits)):
            if not 2 <= value <= 16:
                raise ValueError(f"{option} = {value} is out of range: an integer from 2 to 16")
        if self.samples < 1:
            raise ValueError(f"samples = {self.samples} must be at least 1")

    def apply(self, module: ModuleOp) -> None:
        (func,) = module.funcs()
        ranges = self._calibrate(module, func)
        for op in list(func.body.ops):
            if _quantizable(op):
                self._rewrite(op, ranges)
        _fold_requantize_chains(func)
        module.attributes["stage"] = "quant"

    def _calibrate(self, module: ModuleOp, func: FuncOp) -> Ranges:
        """The smallest and largest value each tensor took over the calibration inputs."""
        ranges: Ranges = {}

        def observe(value: Value, array: np.ndarray) -> None:
            if array.dtype.kind != "f" or array.size == 0:
                return
            low, high = float(array.min()), float(array.max())
            seen = ranges.setdefault(value, [low, high])
            seen[0], seen[1] = min(seen[0], low), max(seen[1], high)

        interpreter = Interpreter(module, record=False, observer=observe)
        for inputs in self._inputs(func):
            for arg, array in zip(func.arguments, inputs):
                observe(arg, array)
            interpreter.run(inputs, func.sym_name)
        return ranges

    def _inputs(self, func: FuncOp) -> list[list[np.ndarray]]:
        shapes = [arg.type.shape for arg in func.arguments]
        if not self.calib:
            rng = np.random.default_rng(self.seed)
            return [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(self.samples)]
        try:
            data = np.load(self.calib)
        except OSError as error:
            raise DiagnosticError(Diagnostic(f"quantize: cannot read calibration inputs '{self.calib}': {error}")) from None
        arrays = [_calibration_array(data, arg, len(func.arguments)) for arg in func.arguments]
        batch = [s[0] for s in shapes]
        count = min(self.samples, *(len(a) // b for a, b in zip(arrays, batch)))
        return [[a[i * b : (i + 1) * b].astype(np.float32) for a, b in zip(arrays, batch)] for i in range(count)]

    def _rewrite(self, op: Operation, ranges: Ranges) -> None:
        relu = _absorbed_relu(op)
        last = relu or op
        x, w_value, *rest = op.operands
        weight, bias = constant(w_value), constant(rest[0]) if rest else None
        if isinstance(op, nn_conv.GemmOp) and not op.trans_b:
            weight = weight.T
        x_scale, x_zero = _activation(ranges[x], self.act_bits)
        returned = any(isinstance(user, ReturnOp) for user in last.results[0].users)
        out_bits = 16 if returned else self.act_bits  # the model's outputs keep 16 bits, as a classifier's logits need
        y_scale, y_zero = _activation(ranges[last.results[0]], out_bits)
        w_scale, w_q = _per_channel(weight, self.weight_bits)
        b = np.zeros(weight.shape[0]) if bias is None else bias.astype(np.float64)
        b_q = np.rint(b / (x_scale * w_scale)).astype(np.int64)
        where = fused(op.location, relu.location) if relu else op.location
        acts, weights = ScalarType(f"ui{self.act_bits}"), ScalarType(f"i{self.weight_bits}")
        w_ref = w_value.op.ref
        b_ref = rest[0].op.ref if rest else f"{w_ref}_bias"
        constants = [
            new_weight(op, f"{w_ref}_q", w_q, weights),
            new_weight(op, f"{b_ref}_q", b_q, ScalarType("i32")),
            new_weight(op, f"{w_ref}_requant", x_scale * w_scale / y_scale, ScalarType("f64")),
        ]
        w_q_value, b_q_value, m_value = (c.result for c in constants)
        x_q = q.QuantizeOp.build([x], [TensorType(x.type.shape, acts)], where, scale=x_scale, zero_point=x_zero)
        accumulate = _integer_op(op, x_q.result, w_q_value, b_q_value, x_zero, where)
        y_q = q.RequantizeOp.build([accumulate.result, m_value], [TensorType(last.results[0].type.shape, ScalarType(f"ui{out_bits}"))],
                                   where, zero_point=y_zero)
        y = q.DequantizeOp.build([y_q.result], [last.results[0].type], where, scale=y_scale, zero_point=y_zero)
        hint = last.results[0].name_hint or "y"
        x_q.result.name_hint, accumulate.result.name_hint, y_q.result.name_hint = f"{x.name_hint}_q", f"{hint}_acc", f"{hint}_q"
        for new in [*constants, x_q, accumulate, y_q, y]:
            op.parent.insert_before(new, op)
        ranges[y.result] = ranges[last.results[0]]
        last.results[0].replace_all_uses_with(y.result)
        if relu:
            relu.erase()
        op.erase()
        for value in (w_value, *rest):
            if not value.has_uses():
                value.op.erase()


def _quantizable(op: Operation) -> bool:
    """A conv, or a plain gemm by a constant matrix, whose weight and (1-D) bias are constants."""
    if isinstance(op, nn_conv.GemmOp) and (op.alpha != 1.0 or op.beta != 1.0 or op.trans_a):
        return False
    if not isinstance(op, (nn_conv.Conv2dOp, nn_conv.GemmOp)):
        return False
    x, weight, *bias = op.operands
    bias_ok = not bias or (constant(bias[0]) is not None and bias[0].type.rank == 1)
    return constant(weight) is not None and bias_ok and (x.type.rank == 2 or isinstance(op, nn_conv.Conv2dOp))


def _absorbed_relu(op: Operation) -> Operation | None:
    users = op.results[0].users
    if len(users) == 1 and isinstance(users[0], nn_elementwise.ReluOp) and len(op.results[0].uses) == 1:
        return users[0]
    return None


def _integer_op(op: Operation, x: Value, w: Value, b: Value, x_zero: int, where) -> Operation:
    rows = op.results[0].type.shape
    i32 = TensorType(rows, ScalarType("i32"))
    if isinstance(op, nn_conv.Conv2dOp):
        return q.Conv2dOp.build([x, w, b], [i32], where, input_zero_point=x_zero, strides=op.strides, pads=op.pads,
                                dilations=op.dilations, group=op.group)
    return q.GemmOp.build([x, w, b], [i32], where, input_zero_point=x_zero)


def _activation(observed: list[float], bits: int) -> tuple[float, int]:
    """Scale and zero point of an unsigned `bits`-bit grid covering the observed range and zero."""
    low, high = min(observed[0], 0.0), max(observed[1], 0.0)
    levels = (1 << bits) - 1
    scale = (high - low) / levels if high > low else 1.0
    return scale, int(np.clip(np.rint(-low / scale), 0, levels))


def _per_channel(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel (axis 0) scales and the integer weights, in [-(2^(b-1)-1), 2^(b-1)-1]."""
    limit = (1 << (bits - 1)) - 1
    peak = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1).astype(np.float64)
    scale = np.where(peak > 0, peak / limit, 1.0)
    shaped = scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    return scale, np.clip(np.rint(weight / shaped), -limit, limit).astype(np.int64)


def _calibration_array(data, arg: Value, count: int) -> np.ndarray:
    name = arg.name_hint or ""
    if name in data.files:
        return data[name]
    if count == 1 and ("x" in data.files or len(data.files) == 1):
        return data["x" if "x" in data.files else data.files[0]]
    raise DiagnosticError(Diagnostic(f"quantize: the calibration file has no array for input '{name}' ({', '.join(data.files)})"))


def _fold_requantize_chains(func: FuncOp) -> None:
    """q.quantize(q.dequantize(%v)) with the same scale, zero point and type is %v."""
    for op in list(func.body.ops):
        if not isinstance(op, q.QuantizeOp) or not isinstance(getattr(op.input, "op", None), q.DequantizeOp):
            continue
        source = op.input.op
        same = (source.scale, source.zero_point, source.input.type) == (op.scale, op.zero_point, op.output.type)
        if same:
            op.output.replace_all_uses_with(source.input)
            op.erase()
            if not source.output.has_uses():
                source.erase()

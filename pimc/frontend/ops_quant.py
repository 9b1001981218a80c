"""Converters for quantized ONNX: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, and
onnxruntime's QGemm (domain com.microsoft).

    QLinearConv(x, sx, zx, w, sw, zw, sy, zy, b)  ->  %acc = q.conv2d(%x, %w, %b) {input_zero_point = zx}
                                                     %y = q.requantize(%acc, %m) {scale = sy, zero_point = zy}

with m = sx * sw / sy per output channel. Scales and zero points must be constants, and an activation
has one scale (other nodes stay generic). A dequantized integer constant, a QDQ model's weight or
bias, stays integer behind a q.dequantize, and canonicalization hands the integers to q.conv2d and
q.gemm. A weight's zero point is subtracted from it exactly, in the narrowest signed type that holds
the result.
"""

from __future__ import annotations

import numpy as np

from pimc.dialects import q
from pimc.dialects.nn_base import window_output
from pimc.dialects.nn_conv import WeightOp
from pimc.frontend.ops_nn import window_of
from pimc.frontend.registry import converter
from pimc.frontend.types import UnsupportedType, array_type, element_type
from pimc.ir.types import ScalarType, TensorType

I32 = ScalarType("i32")


def _grid(scale, zero_point) -> tuple[float, int, ScalarType] | None:
    """(scale, zero point, integer type) of a per-tensor quantization with constant parameters."""
    s = None if scale is None else scale.const
    z = np.zeros((), np.uint8) if zero_point is None else zero_point.const
    if s is None or z is None or s.size != 1 or z.size != 1 or not s.reshape(-1)[0] > 0:
        return None
    return float(s.reshape(-1)[0]), int(z.reshape(-1)[0]), array_type(z).element


def _signed_type(array: np.ndarray) -> ScalarType:
    """The narrowest signed integer type (at least 2 bits) that holds every value of `array`."""
    low, high = int(array.min(initial=0)), int(array.max(initial=0))
    return ScalarType(f"i{max(2, (-low - 1).bit_length() + 1, high.bit_length() + 1)}")


def _constant(tensor) -> bool:
    """A missing optional input, or a constant."""
    return tensor is None or tensor.const is not None


def _integers(imp, x, zero_point, axis: int):
    """The integer constant `x` minus its constant zero point (one, or one per index along `axis`), as an IR value."""
    z = None if zero_point is None else zero_point.const
    if z is None or not z.any():
        return imp.value(x)
    shape = [-1 if i == axis else 1 for i in range(x.type.rank)] if z.size > 1 else [1] * x.type.rank
    shifted = x.const.astype(np.int64) - z.astype(np.int64).reshape(shape)
    element = _signed_type(shifted)
    ref = imp.module.weights.add(x.name, shifted.astype(element.numpy_dtype()))
    (value,) = imp.append(WeightOp.build([], [TensorType(x.type.shape, element)], ref=ref))
    value.name_hint = ref
    return value


@converter("QuantizeLinear")
def quantize_linear(imp, x, y_scale, y_zero_point=None, *, axis=1, block_size=0, output_dtype=0, saturate=1):
    grid = _grid(y_scale, y_zero_point)
    if grid is None or block_size or not x.type.element.is_float:
        return None
    scale, zero, element = grid
    if output_dtype and y_zero_point is None:
        try:
            element = element_type(output_dtype)
        except UnsupportedType:
            return None
    if not element.is_integer:
        return None
    return imp.append(q.QuantizeOp.build([imp.value(x)], [TensorType(x.type.shape, element)], scale=scale, zero_point=zero))


@converter("DequantizeLinear")
def dequantize_linear(imp, x, x_scale, x_zero_point=None, *, axis=1, block_size=0, output_dtype=0):
    """A constant (a weight, a bias) keeps its integers and may have a scale per index along `axis`."""
    scales = x_scale.const
    if block_size or output_dtype or not x.type.element.is_integer or scales is None or not (scales > 0).all() \
            or not _constant(x_zero_point):
        return None
    out = TensorType(x.type.shape, array_type(scales).element)
    if scales.size == 1:
        scale, zero, _ = _grid(x_scale, x_zero_point)
        if x.const is None:
            return imp.append(q.DequantizeOp.build([imp.value(x)], [out], scale=scale, zero_point=zero))
        return imp.append(q.DequantizeOp.build([_integers(imp, x, x_zero_point, 0)], [out], scale=scale))
    if x.const is None or scales.ndim != 1 or not x.type.rank:
        return None
    axis %= x.type.rank
    return imp.append(q.DequantizeOp.build([_integers(imp, x, x_zero_point, axis), imp.value(x_scale)], [out],
                                           axis=axis or None))


@converter("QLinearConv")
def qlinear_conv(imp, x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B=None, *,
                 auto_pad="NOTSET", dilations=(), group=1, kernel_shape=(), pads=(), strides=()):
    window = window_of(x, w, kernel_shape, auto_pad, pads, strides, dilations, any_element=True)
    if window is None or window[0] != 2:
        return None
    _, (kh, kw), strides, dilations, pads = window
    n, _, h, wd = x.type.shape
    shape = (n, w.type.shape[0], window_output(h, kh, strides[0], pads[0], pads[2], dilations[0]),
             window_output(wd, kw, strides[1], pads[1], pads[3], dilations[1]))
    conv = {"strides": strides, "pads": pads, "dilations": dilations, "group": group}
    return _layer(imp, x, x_scale, x_zero_point, w, w_scale, w_zero_point, 0, B, y_scale, y_zero_point, shape, conv)


@converter("QLinearMatMul")
def qlinear_matmul(imp, a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    if a.type.rank != 2 or b.type.rank != 2:
        return None
    shape = (a.type.shape[0], b.type.shape[1])
    return _layer(imp, a, a_scale, a_zero_point, b, b_scale, b_zero_point, 1, None, y_scale, y_zero_point, shape)


@converter("com.microsoft.QGemm")
def qgemm(imp, A, a_scale, a_zero_point, B, b_scale, b_zero_point, C=None, y_scale=None, y_zero_point=None, *,
          alpha=1.0, transA=0, transB=0):
    """onnxruntime's quantized Gemm with a quantized output; a float output (no y_scale) stays generic."""
    if alpha != 1.0 or transA or y_scale is None or A.type.rank != 2 or B.type.rank != 2:
        return None
    axis = 0 if transB else 1
    shape = (A.type.shape[0], B.type.shape[axis])
    return _layer(imp, A, a_scale, a_zero_point, B, b_scale, b_zero_point, axis, C, y_scale, y_zero_point, shape)


def _layer(imp, x, x_scale, x_zero, w, w_scale, w_zero, axis: int, bias, y_scale, y_zero, shape, conv=None) -> list | None:
    """q.conv2d (with `conv`'s attributes) or q.gemm, then q.requantize; `axis` is the weight's output-channel
    axis, which goes first in the integer weight."""
    x_grid, y_grid, scales = _grid(x_scale, x_zero), _grid(y_scale, y_zero), w_scale.const
    channels = w.type.shape[axis]
    if x_grid is None or y_grid is None or scales is None or w.const is None or x.const is not None \
            or not x.type.element.is_integer or scales.size not in (1, channels) or not (scales > 0).all() \
            or not _constant(w_zero):
        return None
    if bias is not None and (bias.const is None or bias.type != TensorType((channels,), I32)):
        return None
    integers = _integers(imp, imp.weight(np.moveaxis(w.const, axis, 0), w.name) if axis else w, w_zero, 0)
    (sx, zx, _), (sy, zy, y_element) = x_grid, y_grid
    multiplier = sx * np.broadcast_to(scales.astype(np.float64).reshape(-1), (channels,)) / sy
    m = imp.value(imp.weight(multiplier, f"{w.name}_requant"))
    operands = [imp.value(x), integers] + ([imp.value(bias)] if bias is not None else [])
    acc_type = TensorType(shape, I32)
    if conv is not None:
        acc = q.Conv2dOp.build(operands, [acc_type], input_zero_point=zx, **conv)
    else:
        acc = q.GemmOp.build(operands, [acc_type], input_zero_point=zx)
    (acc_value,) = imp.append(acc)
    acc_value.name_hint = f"{imp.node.output[0]}_acc"
    return imp.append(q.RequantizeOp.build([acc_value, m], [TensorType(shape, y_element)], scale=sy, zero_point=zy))

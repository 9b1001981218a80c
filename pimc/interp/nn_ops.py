"""numpy semantics of the weighted, windowed and elementwise `nn` ops.

    %c = nn.conv2d(%x, %w) ...   ->   sum over kernel taps of W[:, :, i, j] @ shifted x, in float64

Accumulating ops (conv, gemm, matmul, pools, softmax, normalizations) work in
float64 and round once to the result type, so they sit within an ulp or two
of the exact answer; onnxruntime's float32 kernels are then the ones that
differ, by their own rounding.
"""

from __future__ import annotations

import math

import numpy as np

from pimc.dialects import nn_conv as conv
from pimc.dialects import nn_elementwise as ew
from pimc.interp.registry import impl


def _f64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64, copy=False)


@impl(conv.WeightOp)
def weight(interp, op):
    return interp.weight(op.ref).reshape(op.output.type.shape)  # the store may hold a scalar as shape (1,)


def kernel_taps(padded: np.ndarray, kernel, strides, dilations, out):
    """Yield ((i, j), view) for every kernel tap: the padded input the tap sees, one entry per output pixel."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilations, out
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            yield (i, j), padded[..., rows, j * dw : j * dw + sw * (ow - 1) + 1 : sw]


def pad2d(x: np.ndarray, pads, value: float = 0.0, extra=(0, 0)) -> np.ndarray:
    if not any(pads) and not any(extra):
        return x  # callers only read it
    top, left, bottom, right = pads
    width = [(0, 0)] * (x.ndim - 2) + [(top, bottom + extra[0]), (left, right + extra[1])]
    return np.pad(x, width, constant_values=value)


@impl(conv.Conv2dOp)
def conv2d(interp, op, x, w, b=None):
    n, _, oh, ow = op.output.type.shape
    out_channels, per_group, kh, kw = w.shape
    g = op.group
    padded = pad2d(_f64(x), op.pads)
    padded = padded.reshape(n, g, per_group, *padded.shape[2:])
    kernel = _f64(w).reshape(g, out_channels // g, per_group, kh, kw)
    acc = np.zeros((n, g, out_channels // g, oh * ow))
    for (i, j), view in kernel_taps(padded, (kh, kw), op.strides, op.dilations, (oh, ow)):
        patch = view.reshape(n, g, per_group, oh * ow)
        tap = kernel[:, :, :, i, j]
        acc += tap[None] * patch if per_group == 1 else np.matmul(tap, patch)
    y = acc.reshape(n, out_channels, oh, ow)
    return y + _f64(b)[:, None, None] if b is not None else y


@impl(conv.ConvTranspose2dOp)
def conv_transpose2d(interp, op, x, w, b=None):
    n, c, h, wd = x.shape
    _, per_group, kh, kw = w.shape
    g = op.group
    (sh, sw), (dh, dw), (pt, pl, pb, pr), (eh, ew_) = op.strides, op.dilations, op.pads, op.output_padding
    full_h, full_w = sh * (h - 1) + dh * (kh - 1) + 1 + eh, sw * (wd - 1) + dw * (kw - 1) + 1 + ew_
    full = np.zeros((n, g, per_group, full_h, full_w))
    source = _f64(x).reshape(n, g, c // g, h * wd)
    kernel = _f64(w).reshape(g, c // g, per_group, kh, kw)
    for i in range(kh):
        for j in range(kw):
            contribution = np.matmul(kernel[:, :, :, i, j].transpose(0, 2, 1), source).reshape(n, g, per_group, h, wd)
            full[..., i * dh : i * dh + sh * (h - 1) + 1 : sh, j * dw : j * dw + sw * (wd - 1) + 1 : sw] += contribution
    y = full.reshape(n, g * per_group, full_h, full_w)[:, :, pt : full_h - pb, pl : full_w - pr]
    return y + _f64(b)[:, None, None] if b is not None else y


@impl(conv.GemmOp)
def gemm(interp, op, a, b, c=None):
    a, b = _f64(a), _f64(b)
    y = op.alpha * (a.T if op.trans_a else a) @ (b.T if op.trans_b else b)
    return y + op.beta * _f64(c) if c is not None else y


@impl(conv.MatMulOp)
def matmul(interp, op, a, b):
    if a.dtype.kind == "f":
        return np.matmul(_f64(a), _f64(b))
    return np.matmul(a.astype(np.int64), b.astype(np.int64))


def _pool_geometry(op, x):
    _, _, oh, ow = op.output.type.shape
    (kh, kw), (sh, sw), (dh, dw) = op.kernel_shape, op.strides, op.dilations
    top, left, bottom, right = op.pads
    # ceil mode may need input past the end padding; that part never counts
    extra_h = max((oh - 1) * sh + dh * (kh - 1) + 1 - (x.shape[2] + top + bottom), 0)
    extra_w = max((ow - 1) * sw + dw * (kw - 1) + 1 - (x.shape[3] + left + right), 0)
    return (kh, kw), (oh, ow), (extra_h, extra_w)


@impl(conv.MaxPoolOp)
def max_pool(interp, op, x):
    kernel, out, extra = _pool_geometry(op, x)
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = pad2d(x, op.pads, lowest, extra)
    return np.maximum.reduce([view for _, view in kernel_taps(padded, kernel, op.strides, op.dilations, out)])


@impl(conv.AveragePoolOp)
def average_pool(interp, op, x):
    kernel, out, extra = _pool_geometry(op, x)
    padded = pad2d(_f64(x), op.pads, 0.0, extra)
    inside = np.pad(np.ones(x.shape[2:]), [(p, q) for p, q in zip(op.pads[:2], op.pads[2:])],
                    constant_values=1.0 if op.count_include_pad else 0.0)
    inside = np.pad(inside, [(0, extra[0]), (0, extra[1])])
    total = sum(view for _, view in kernel_taps(padded, kernel, op.strides, op.dilations, out))
    count = sum(view for _, view in kernel_taps(inside, kernel, op.strides, op.dilations, out))
    return total / count


@impl(conv.GlobalAveragePoolOp)
def global_average_pool(interp, op, x):
    return _f64(x).mean(axis=tuple(range(2, x.ndim)), keepdims=True)


@impl(conv.LrnOp)
def lrn(interp, op, x):
    x = _f64(x)
    square = np.square(x)
    below, above = (op.size - 1) // 2, math.ceil((op.size - 1) / 2)
    padded = np.pad(square, [(0, 0), (below, above)] + [(0, 0)] * (x.ndim - 2))
    window = sum(padded[:, k : k + x.shape[1]] for k in range(op.size))
    return x / (op.bias + op.alpha / op.size * window) ** op.beta


_erf = np.frompyfunc(math.erf, 1, 1)

_UNARY = {
    ew.NegOp: np.negative,
    ew.SqrtOp: lambda x: np.sqrt(_f64(x)),
    ew.SigmoidOp: lambda x: 1.0 / (1.0 + np.exp(-_f64(x))),
    ew.TanhOp: lambda x: np.tanh(_f64(x)),
    ew.ErfOp: lambda x: _erf(_f64(x)).astype(np.float64),
    ew.HardSwishOp: lambda x: _f64(x) * np.clip(_f64(x) / 6.0 + 0.5, 0.0, 1.0),
}


@impl(*_UNARY)
def unary(interp, op, x):
    return _UNARY[type(op)](x)


@impl(ew.ReluOp)
def relu(interp, op, x):
    return np.maximum(x, x.dtype.type(0))  # keeps -0.0 and NaN, as x < 0 is false for them


@impl(ew.LeakyReluOp)
def leaky_relu(interp, op, x):
    return np.where(x < 0, op.alpha * _f64(x), x)


@impl(ew.HardSigmoidOp)
def hard_sigmoid(interp, op, x):
    return np.clip(op.alpha * _f64(x) + op.beta, 0.0, 1.0)


@impl(ew.ClipOp)
def clip(interp, op, x):
    if op.min is not None:
        x = np.maximum(x, np.asarray(op.min).astype(x.dtype))
    if op.max is not None:
        x = np.minimum(x, np.asarray(op.max).astype(x.dtype))
    return x


@impl(ew.PReluOp)
def prelu(interp, op, x, slope):
    return np.where(x < 0, _f64(slope) * _f64(x), x)


@impl(ew.SoftmaxOp)
def softmax(interp, op, x):
    x = _f64(x)
    shifted = np.exp(x - x.max(axis=op.axis, keepdims=True))
    return shifted / shifted.sum(axis=op.axis, keepdims=True)


_BINARY = {ew.AddOp: np.add, ew.SubOp: np.subtract, ew.MulOp: np.multiply}


@impl(*_BINARY)
def binary(interp, op, a, b):
    return _BINARY[type(op)](a, b)


@impl(ew.DivOp)
def div(interp, op, a, b):
    if a.dtype.kind in "iu":
        quotient = np.abs(a.astype(np.int64)) // np.abs(b.astype(np.int64))
        return np.where((a < 0) != (b < 0), -quotient, quotient)
    return np.divide(a, b)


@impl(ew.PowOp)
def power(interp, op, a, b):
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return np.power(_f64(a), _f64(b))
    return np.power(a.astype(np.int64), b.astype(np.int64))


@impl(ew.SumOp)
def sum_(interp, op, *inputs):
    return sum(_f64(x) if x.dtype.kind == "f" else x for x in inputs)


@impl(ew.CastOp)
def cast(interp, op, x):
    return x

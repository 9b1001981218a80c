"""Integer semantics of the `q` dialect; accumulation is exact in int64, rounding is half to even.

    %acc = q.conv2d(%xq, %wq, %bq) ...   ->   sum over kernel taps of W[:, :, i, j] @ (shifted x - zero point)
"""

from __future__ import annotations

import numpy as np

from pimc.dialects import q
from pimc.interp.registry import impl
from pimc.interp.nn_ops import pad2d, kernel_taps


def _rounded(scaled: np.ndarray, zero_point: int, element) -> np.ndarray:
    """rint(scaled) + zero_point clamped to the element type's bounds, in its numpy type (`scaled` is rounded and
    clamped in place): whole numbers within the bounds, so the final cast is exact."""
    low, high = element.bounds
    np.rint(scaled, out=scaled)
    np.clip(scaled, low - zero_point, high - zero_point, out=scaled)
    return np.add(scaled, zero_point, out=np.empty_like(scaled, element.numpy_dtype()), casting="unsafe")


@impl(q.QuantizeOp)
def quantize(interp, op, x):
    scaled = np.divide(x, op.scale, out=np.empty_like(x, np.float64), dtype=np.float64)  # x's layout; 0-d too
    return _rounded(scaled, op.zero_point, op.output.type.element)


@impl(q.DequantizeOp)
def dequantize(interp, op, x, scales=None):
    shifted = np.subtract(x, op.zero_point, dtype=np.float64)  # exact: integers of at most 32 bits
    if scales is None:
        shifted *= op.scale
        return shifted
    shifted *= scales.astype(np.float64).reshape([-1 if i == op.axis else 1 for i in range(x.ndim)])
    return shifted


@impl(q.Conv2dOp)
def conv2d(interp, op, x, w, b=None):
    n, _, oh, ow = op.output.type.shape
    out_channels, per_group, kh, kw = w.shape
    g = op.group
    shifted = x.astype(np.int64) - op.input_zero_point
    padded = pad2d(shifted, op.pads)
    padded = padded.reshape(n, g, per_group, *padded.shape[2:])
    kernel = w.astype(np.int64).reshape(g, out_channels // g, per_group, kh, kw)
    acc = np.zeros((n, g, out_channels // g, oh * ow), dtype=np.int64)
    for (i, j), view in kernel_taps(padded, (kh, kw), op.strides, op.dilations, (oh, ow)):
        acc += np.matmul(kernel[:, :, :, i, j], view.reshape(n, g, per_group, oh * ow))
    y = acc.reshape(n, out_channels, oh, ow)
    return y + b.astype(np.int64)[:, None, None] if b is not None else y


@impl(q.GemmOp)
def gemm(interp, op, x, w, b=None):
    y = (x.astype(np.int64) - op.input_zero_point) @ w.astype(np.int64).T
    return y + b.astype(np.int64) if b is not None else y


@impl(q.RequantizeOp)
def requantize(interp, op, acc, multiplier):
    shape = (1, -1) + (1,) * (acc.ndim - 2) if acc.ndim > 1 and multiplier.size > 1 else (-1,)
    scaled = np.multiply(acc, multiplier.reshape(shape), dtype=np.float64)
    return _rounded(scaled, op.zero_point, op.output.type.element)

"""Ideal integer semantics of the `xbar` dialect (an MVM is an exact matrix product; sums wrap as their result type).

    %m = xbar.mvm(%p) {weights = "fc.matrix", rows = [0, 64], cols = [0, 10]}   ->   p[:, 0:64] @ W[0:64, 0:10]
"""

from __future__ import annotations

import numpy as np

from pimc.dialects import xbar
from pimc.interp.integer_products import byte_products
from pimc.interp.registry import impl
from pimc.interp.nn_ops import kernel_taps


@impl(xbar.Im2ColOp)
def im2col(interp, op, x):
    n, c, _, _ = x.shape
    (oh, ow), (kh, kw) = op.output_size(), op.kernel
    dtype = np.result_type(x.dtype, np.min_scalar_type(op.pad_value))  # the input's, if it holds the pad value
    padded = _padded(x.astype(dtype, copy=False), op.pads, op.pad_value)
    patches = np.empty((n, oh, ow, c, kh, kw), dtype)
    for (i, j), view in kernel_taps(padded, op.kernel, op.strides, op.dilations, (oh, ow)):
        patches[..., i, j] = view.transpose(0, 2, 3, 1)
    return patches.reshape(n * oh * ow, c * kh * kw)


def _padded(x: np.ndarray, pads, value) -> np.ndarray:
    """x (N, C, H, W) padded in H and W, channels last in memory (as col2im leaves a layer's output), so that each
    kernel tap copies whole runs of channels (ResNet-18's 20 per image: 6.9 -> 5.9 ms)."""
    if not any(pads):
        return x
    top, left, bottom, right = pads
    widths = [(0, 0), (top, bottom), (left, right), (0, 0)]
    return np.pad(x.transpose(0, 2, 3, 1), widths, constant_values=value).transpose(0, 3, 1, 2)


@impl(xbar.MvmOp)
def mvm(interp, op, x):
    (r0, r1), (c0, c1), offset = op.rows, op.cols, op.input_offset
    return interp.products(x[:, offset + r0 : offset + r1], interp.weight(op.weights)[r0:r1, c0:c1])


def exact_product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w in int64, through BLAS: every partial sum is an integer of magnitude at most
    max|x| * max|w| * rows, exact in float32 below 2^24 (8-bit operands: up to 514 rows) and in float64 below
    2^53 (always, for 16-bit operands and fewer than 2^21 rows); numpy's integer matmul is tens of times slower.
    The integer reference's products: another library than the simulator's 8-bit kernel, so that a fault of
    either shows as a mismatch."""
    bound = float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0)) * x.shape[1]
    if bound >= 2.0**53:
        return x.astype(np.int64) @ w.astype(np.int64)
    exact = np.float32 if bound < 2.0**24 else np.float64
    return (x.astype(exact) @ w.astype(exact)).astype(np.int64)


def kernel_product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """exact_product on onnxruntime's 8-bit kernel when bytes meet int8 weights (integer_products.py: its int32
    sums stay within 255 * 128 * rows < 2^31), 4x BLAS here: for searches over the integer model (RAELLA's
    adaptive slicing), not for the reference."""
    if x.dtype == np.uint8 and w.dtype == np.int8 and 255 * 128 * x.shape[1] < 2**31:
        return byte_products(x, w).astype(np.int64)
    return exact_product(x, w)


@impl(xbar.AddOp)
def add(interp, op, *parts):
    total = parts[0].astype(_integers(op))
    for part in parts[1:]:
        np.add(total, part, out=total, casting="unsafe")
    return total


@impl(xbar.ConcatOp)
def concat(interp, op, *parts):
    return np.concatenate(parts, axis=1)


@impl(xbar.AddBiasOp)
def add_bias(interp, op, x, bias):
    return np.add(x, bias, out=np.empty_like(x, _integers(op)), casting="unsafe")  # the exact sum, wrapped


def _integers(op) -> np.dtype:
    """The type a sum is taken in: the result's, whose wrapping gives the int64 sum's cast to it (integers modulo
    2^bits)."""
    return op.output.type.element.numpy_dtype()


@impl(xbar.Col2ImOp)
def col2im(interp, op, x):
    n, c, h, w = op.output.type.shape
    return x.reshape(n, h, w, c).transpose(0, 3, 1, 2)


@impl(xbar.WrapSumOp)
def wrap_sum(interp, op, x):
    order = np.argsort(op.map, kind="stable")
    targets, starts = np.unique(np.asarray(op.map)[order], return_index=True)
    summed = np.zeros((x.shape[0], op.output.type.shape[1]), np.int64)
    summed[:, targets] = np.add.reduceat(x[:, order].astype(np.int64), starts, axis=1)
    return summed


@impl(xbar.RouteOp)
def route(interp, op, x):
    return x[:, np.asarray(op.map)]

"""Converters for the weighted and windowed ONNX ops: Conv, ConvTranspose, Gemm, MatMul, pools, LRN,
BatchNormalization, Softmax.

    Conv(x, w) {auto_pad = "SAME_UPPER"}  ->  nn.conv2d(%x, %w) {pads = [1, 1, 1, 1]}

1-D convolutions and pools become their 2-D form on a height-1 view of the
input; 3-D ones stay generic. A Conv whose weight was sampled from a smaller
constant becomes `ep.conv2d` on that epitome (`frontend/epitome.py`).
"""

from __future__ import annotations

import numpy as np

from pimc.dialects.nn_conv import (
    AveragePoolOp, Conv2dOp, ConvTranspose2dOp, GemmOp, GlobalAveragePoolOp, LrnOp, MatMulOp, MaxPoolOp,
)
from pimc.dialects.nn_elementwise import AddOp, MulOp, SoftmaxOp
from pimc.dialects.nn_tensor import ReshapeOp
from pimc.frontend.epitome import epitome_conv, sampling
from pimc.frontend.registry import converter


def same_pads(auto_pad: str, pads: tuple, sizes, kernels, strides, dilations) -> tuple[int, ...] | None:
    """Explicit [begins..., ends...] pads for `auto_pad`; None for an unknown mode."""
    if auto_pad == "NOTSET":
        return tuple(pads) or (0,) * (2 * len(sizes))
    if auto_pad == "VALID":
        return (0,) * (2 * len(sizes))
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        return None
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernels, strides, dilations):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        begins.append(begin)
        ends.append(total - begin)
    return (*begins, *ends)


def lift(imp, tensor):
    """N x C x W -> N x C x 1 x W (a constant is reshaped in place)."""
    shape = tensor.type.shape
    new = (*shape[:2], 1, *shape[2:])
    if getattr(tensor, "const", None) is not None:
        return imp.weight(tensor.const.reshape(new), tensor.name)
    return imp.emit(ReshapeOp, [tensor], shape=new)[0]


def unlift(imp, value) -> list:
    """N x C x 1 x W -> N x C x W."""
    n, c, _, w = value.type.shape
    return imp.emit(ReshapeOp, [value], shape=(n, c, w))


def _spatial(x, w, kernel_shape, any_element: bool = False) -> tuple[int, list[int]] | None:
    """(number of spatial dims, kernel) when `x` is a 1-D or 2-D NC... tensor of floats (or `any_element`)."""
    rank = x.type.rank
    if rank not in (3, 4) or not (any_element or x.type.element.is_float):
        return None
    kernel = list(w.type.shape[2:]) if w is not None else list(kernel_shape)
    return (rank - 2, kernel) if len(kernel) == rank - 2 else None


def _two_d(values: tuple, fill: int, n: int) -> tuple:
    """Spatial attributes of a 1-D op for its 2-D form: prepend `fill` (pads: to begins and ends)."""
    if n == 2:
        return tuple(values)
    if len(values) == 2:
        return (fill, values[0], fill, values[1])
    return (fill, *values)


def window_of(X, W, kernel_shape, auto_pad, pads, strides, dilations, any_element: bool = False):
    """(spatial dims, kernel, strides, dilations, explicit pads) of a conv or pool, or None if pimc declines it."""
    spatial = _spatial(X, W, kernel_shape, any_element)
    if spatial is None:
        return None
    n, kernel = spatial
    strides, dilations = strides or (1,) * n, dilations or (1,) * n
    pads = same_pads(auto_pad, pads, X.type.shape[2:], kernel, strides, dilations)
    return None if pads is None else (n, kernel, strides, dilations, pads)


@converter("Conv")
def conv(imp, X, W, B=None, *, auto_pad="NOTSET", dilations=(), group=1, kernel_shape=(), pads=(), strides=()):
    window = window_of(X, W, kernel_shape, auto_pad, pads, strides, dilations)
    if window is None:
        return None
    n, kernel, strides, dilations, pads = window
    x, w = (X, W) if n == 2 else (lift(imp, X), lift(imp, W))
    y = imp.emit(Conv2dOp, [x, w, B], strides=_two_d(strides, 1, n), pads=_two_d(pads, 0, n),
                 dilations=_two_d(dilations, 1, n), group=group)
    if n == 1:
        return unlift(imp, y[0])
    found = sampling(W)
    return y if found is None else epitome_conv(imp, y[0].op, found)


@converter("ConvTranspose")
def conv_transpose(imp, X, W, B=None, *, auto_pad="NOTSET", dilations=(), group=1, kernel_shape=(),
                   output_padding=(), output_shape=(), pads=(), strides=()):
    spatial = _spatial(X, W, kernel_shape)
    if spatial is None:
        return None
    n, kernel = spatial
    strides, dilations = strides or (1,) * n, dilations or (1,) * n
    output_padding = output_padding or (0,) * n
    if output_shape or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        sizes = X.type.shape[2:]
        wanted = output_shape[-n:] if output_shape else [s * size for s, size in zip(strides, sizes)]
        totals = [s * (size - 1) + extra + (k - 1) * d + 1 - want
                  for s, size, extra, k, d, want in zip(strides, sizes, output_padding, kernel, dilations, wanted)]
        upper = auto_pad == "SAME_UPPER"
        begins = [t // 2 if upper else t - t // 2 for t in totals]
        ends = [t - b for t, b in zip(totals, begins)]
        if min(begins) < 0:
            return None
        # a negative end pad grows the output: that is output padding
        output_padding = tuple(extra + max(-e, 0) for extra, e in zip(output_padding, ends))
        pads = (*begins, *(max(e, 0) for e in ends))
    elif auto_pad not in ("NOTSET", "VALID"):
        return None
    pads = pads if auto_pad != "VALID" and pads else (0,) * (2 * n)
    x, w = (X, W) if n == 2 else (lift(imp, X), lift(imp, W))
    y = imp.emit(ConvTranspose2dOp, [x, w, B], strides=_two_d(strides, 1, n), pads=_two_d(pads, 0, n),
                 dilations=_two_d(dilations, 1, n), output_padding=_two_d(output_padding, 0, n), group=group)
    return y if n == 2 else unlift(imp, y[0])


@converter("Gemm")
def gemm(imp, A, B, C=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    if not A.type.element.is_float:
        return None
    return imp.emit(GemmOp, [A, B, C], alpha=alpha, beta=beta, trans_a=bool(transA), trans_b=bool(transB))


@converter("MatMul")
def matmul(imp, A, B):
    return imp.emit(MatMulOp, [A, B])


def _pool(imp, op_class, X, kernel_shape, auto_pad, pads, strides, dilations, **extra):
    window = window_of(X, None, kernel_shape, auto_pad, pads, strides, dilations, any_element=op_class is MaxPoolOp)
    if window is None:
        return None
    n, kernel, strides, dilations, pads = window
    x = X if n == 2 else lift(imp, X)
    y = imp.emit(op_class, [x], kernel_shape=_two_d(kernel, 1, n), strides=_two_d(strides, 1, n),
                 pads=_two_d(pads, 0, n), dilations=_two_d(dilations, 1, n), **extra)
    return y if n == 2 else unlift(imp, y[0])


@converter("MaxPool")
def max_pool(imp, X, *, auto_pad="NOTSET", ceil_mode=0, dilations=(), kernel_shape=(), pads=(), storage_order=0,
             strides=()):
    return _pool(imp, MaxPoolOp, X, kernel_shape, auto_pad, pads, strides, dilations, ceil_mode=bool(ceil_mode))


@converter("AveragePool")
def average_pool(imp, X, *, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=(), kernel_shape=(),
                 pads=(), strides=()):
    return _pool(imp, AveragePoolOp, X, kernel_shape, auto_pad, pads, strides, dilations,
                 ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))


@converter("GlobalAveragePool")
def global_average_pool(imp, X):
    if X.type.rank < 3 or not X.type.element.is_float:
        return None
    return imp.emit(GlobalAveragePoolOp, [X])


@converter("LRN")
def lrn(imp, X, *, alpha=0.0001, beta=0.75, bias=1.0, size=1):
    if not X.type.element.is_float:
        return None
    return imp.emit(LrnOp, [X], size=size, alpha=alpha, beta=beta, bias=bias)


@converter("BatchNormalization")
def batch_normalization(imp, X, scale, B, mean, var, *, epsilon=1e-05, momentum=0.9, training_mode=0):
    """Inference-mode BatchNormalization as x * s + t with per-channel constants; canonicalize folds them."""
    constants = (scale.const, B.const, mean.const, var.const)
    if training_mode or any(c is None for c in constants) or X.type.rank < 2 or not X.type.element.is_float:
        return None
    gamma, beta, mu, sigma2 = (c.astype(np.float64) for c in constants)
    s = gamma / np.sqrt(sigma2 + float(np.float32(epsilon)))
    t = beta - mu * s
    shape = (-1,) + (1,) * (X.type.rank - 2)
    dtype = X.type.element.numpy_dtype()
    scaled = imp.emit(MulOp, [X, imp.weight(s.reshape(shape).astype(dtype), scale.name)])[0]
    return imp.emit(AddOp, [scaled, imp.weight(t.reshape(shape).astype(dtype), B.name)])


@converter("Softmax")
def softmax(imp, input, *, axis=-1):
    if not input.type.element.is_float:
        return None
    return imp.emit(SoftmaxOp, [input], axis=axis)

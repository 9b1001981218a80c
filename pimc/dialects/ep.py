"""The `ep` dialect: convolutions whose weight is sampled from a smaller epitome tensor (EPIM; docs/epitome.md).

    %y = ep.conv2d(%x, %e, %b) {pads = [1, 1, 1, 1], patch = [2, 3], stride = [1, 3]} : (tensor<1x6x8x8xf32>, tensor<4x3x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>

The weight W (Co x Ci/group x kh x kw) is never stored. `materialize` is the one definition of how it
is sampled from the epitome E (Co_E x Ci_E x kh x kw): W is cut into patches of beta_o x beta_i
channels, patch (a, b) starts at epitome channels (a * sigma_o, b * sigma_i), and every index wraps
modulo the epitome's size:

    W[a*beta_o + u, b*beta_i + v] = E[(a*sigma_o + u) mod Co_E, (b*sigma_i + v) mod Ci_E]

Only channels are sampled: E's kernel is the conv's kernel (no spatial epitomes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pimc.dialects.nn_base import check_lengths, fmt, require_rank, same_element, tensor_of, window_output
from pimc.dialects.nn_conv import check_spatial
from pimc.ir.irdl import (
    FLOAT, FLOAT_TENSOR, INT, INT_TENSOR, INTS, DeclaredOp, VerifyError, attr, irdl_op, operand, optional_operand,
    result,
)


def sample_indices(size: int, patch: int, stride: int, epitome: int) -> np.ndarray:
    """The epitome channel each of `size` weight channels reads: ((j // patch) * stride + j % patch) mod epitome."""
    j = np.arange(size)
    return ((j // patch) * stride + j % patch) % epitome


def _index_maps(epitome_shape: Sequence[int], co: int, ci: int, patch: Sequence[int], stride: Sequence[int]):
    rows = sample_indices(co, patch[0], stride[0], epitome_shape[0])
    cols = sample_indices(ci, patch[1], stride[1], epitome_shape[1])
    return rows, cols


def materialize(epitome: np.ndarray, co: int, ci: int, patch: Sequence[int], stride: Sequence[int]) -> np.ndarray:
    """The Co x Ci x kh x kw weight that `epitome` (Co_E x Ci_E x kh x kw) stands for."""
    rows, cols = _index_maps(epitome.shape, co, ci, patch, stride)
    return epitome[rows[:, None], cols[None, :]]


def project(weight: np.ndarray, shape: Sequence[int], patch: Sequence[int], stride: Sequence[int]) -> np.ndarray:
    """The epitome of `shape` (Co_E, Ci_E) whose materialisation is nearest `weight` in least squares, in float64.

    Each weight element reads exactly one epitome element, so the optimum is the mean of the weights
    sampled from each epitome element; an element no weight samples is 0 (the least-norm solution).
    """
    co, ci, *kernel = weight.shape
    rows, cols = _index_maps(shape, co, ci, patch, stride)
    sums = np.zeros((*shape, *kernel))
    np.add.at(sums, (rows[:, None], cols[None, :]), weight.astype(np.float64))
    counts = np.outer(np.bincount(rows, minlength=shape[0]), np.bincount(cols, minlength=shape[1]))
    counts = counts.reshape(counts.shape + (1,) * len(kernel))
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


@irdl_op("ep.conv2d")
class Conv2dOp(DeclaredOp):
    """nn.conv2d whose weight is materialize(epitome, Co, Ci / group, patch, stride); Co is the result's channels.

    %y = ep.conv2d(%x, %e) {patch = [4, 3], stride = [4, 3]} : (tensor<1x6x8x8xf32>, tensor<4x3x1x1xf32>) -> tensor<1x8x8x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    epitome = operand(FLOAT_TENSOR)
    bias = optional_operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    strides = attr(INTS, default=(1, 1))
    pads = attr(INTS, default=(0, 0, 0, 0))
    dilations = attr(INTS, default=(1, 1))
    group = attr(INT, default=1)
    patch = attr(INTS)
    stride = attr(INTS)
    projection_error = attr(FLOAT, default=None)

    def weight_shape(self) -> tuple[int, int, int, int]:
        """Co x Ci/group x kh x kw: the shape of the weight the epitome stands for."""
        return (self.output.type.shape[1], self.input.type.shape[1] // self.group, *self.epitome.type.shape[2:])

    def verify_(self) -> None:
        n, c, h, w = require_rank(self.input, "input", 4)
        epitome_o, epitome_i, kh, kw = require_rank(self.epitome, "epitome", 4)
        out = require_rank(self.output, "result", 4)[1]
        check_spatial(self, (kh, kw))
        if self.group < 1 or c % self.group or out % self.group:
            raise VerifyError(f"group {self.group} must divide the input's {c} and the result's {out} channels")
        _check_sampling(self, (epitome_o, epitome_i), (out, c // self.group))
        if self.bias is not None and self.bias.type.shape != (out,):
            raise VerifyError(f"bias must have shape {out}, but has {fmt(self.bias.type.shape)}")
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = self.strides, self.dilations, self.pads
        oh, ow = window_output(h, kh, sh, pt, pb, dh), window_output(w, kw, sw, pl, pr, dw)
        expected = tensor_of((n, out, oh, ow), same_element(*self.operands))
        if self.output.type != expected:
            raise VerifyError(f"result type {self.output.type} does not match {expected} implied by its input, "
                              f"the epitome's {kh}x{kw} kernel and its attributes")


def _check_sampling(op: DeclaredOp, epitome: tuple[int, ...], weight: tuple[int, ...]) -> None:
    """The patch and stride are well formed, and the epitome is no larger than the weight, the patch no larger
    than the epitome."""
    check_lengths("patch", op.patch, 2, minimum=1)
    check_lengths("stride", op.stride, 2, minimum=0)
    if epitome[0] > weight[0] or epitome[1] > weight[1]:
        raise VerifyError(f"epitome {epitome[0]}x{epitome[1]} is larger than the weight it samples, "
                          f"{weight[0]}x{weight[1]} (output x input channels per group)")
    if op.patch[0] > epitome[0] or op.patch[1] > epitome[1]:
        raise VerifyError(f"patch {list(op.patch)} is larger than the epitome {epitome[0]}x{epitome[1]}")


@irdl_op("ep.materialize")
class MaterializeOp(DeclaredOp):
    """The integer weight materialize(epitome, Co, Ci, patch, stride), Co x Ci from the result type; quantize
    leaves it as a q.conv2d's weight, so lower-to-xbar can keep only the epitome on crossbars.

    %w = ep.materialize(%e) {patch = [8, 8], stride = [4, 4]} : (tensor<16x8x3x3xi8>) -> tensor<32x16x3x3xi8>
    """

    input = operand(INT_TENSOR)
    output = result(INT_TENSOR)
    patch = attr(INTS)
    stride = attr(INTS)

    def verify_(self) -> None:
        epitome = require_rank(self.input, "epitome", 4)
        weight = require_rank(self.output, "result", 4)
        if self.input.type.element != self.output.type.element or epitome[2:] != weight[2:]:
            raise VerifyError(f"result {self.output.type} must have the epitome's kernel {fmt(epitome[2:])} "
                              f"and element type {self.input.type.element}")
        _check_sampling(self, epitome, weight)

    def index_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """r and c: the epitome row of each output channel and the epitome column of each input channel."""
        co, ci = self.output.type.shape[:2]
        return _index_maps(self.input.type.shape, co, ci, self.patch, self.stride)


OPS = (Conv2dOp, MaterializeOp)

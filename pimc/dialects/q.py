"""The `q` dialect: integer tensors with scales, as post-training quantization leaves them.

A real value r is held as an integer q with r = scale * (q - zero_point). Activations are
per-tensor and unsigned (crossbar inputs are), weights per output channel and symmetric, and
accumulation is exact in i32:

    %xq = q.quantize(%x) {scale = 0.0157, zero_point = 0} : (tensor<1x1x8x8xf32>) -> tensor<1x1x8x8xui8>
    %acc = q.conv2d(%xq, %wq, %bq) {pads = [1, 1, 1, 1]} : (tensor<1x1x8x8xui8>, tensor<16x1x3x3xi8>, tensor<16xi32>) -> tensor<1x16x8x8xi32>
    %yq = q.requantize(%acc, %m) {scale = 0.0412, zero_point = 0} : (tensor<1x16x8x8xi32>, tensor<16xf64>) -> tensor<1x16x8x8xui8>
    %y = q.dequantize(%yq) {scale = 0.0412, zero_point = 0} : (tensor<1x16x8x8xui8>) -> tensor<1x16x8x8xf32>

A model that arrives quantized keeps its own scales: its dequantized weights are a q.dequantize of an
integer constant, with one scale per channel as an operand. Canonicalization turns quantize/dequantize
sandwiches into the integer ops (`q_canonicalize`).
"""

from __future__ import annotations

from pimc.dialects.nn_base import window_output
from pimc.ir.irdl import (
    FLOAT, FLOAT_TENSOR, INT, INT_TENSOR, INTS, DeclaredOp, VerifyError, attr, irdl_op, operand,
    optional_operand, result,
)
from pimc.ir.types import ScalarType, TensorType


def _check_zero_point(zero_point: int, element: ScalarType) -> None:
    low, high = element.bounds
    if not low <= zero_point <= high:
        raise VerifyError(f"zero_point {zero_point} is outside {element}'s range [{low}, {high}]")


def _check_scaling(op: DeclaredOp, integer: ScalarType) -> None:
    """What q.quantize and q.dequantize require: one shape, a positive scale, a zero point in range."""
    if op.input.type.shape != op.output.type.shape:
        raise VerifyError(f"result shape {op.output.type} differs from the input's {op.input.type}")
    if not op.scale > 0:
        raise VerifyError(f"scale must be positive, got {op.scale}")
    _check_zero_point(op.zero_point, integer)


def _check_bias(op: DeclaredOp, channels: int) -> None:
    if op.bias is None:
        return
    if op.bias.type.shape != (channels,) or op.bias.type.element != ScalarType("i32"):
        raise VerifyError(f"bias must be tensor<{channels}xi32>, but is {op.bias.type}")


def _expect(op: DeclaredOp, shape: tuple[int, ...]) -> None:
    expected = TensorType(shape, ScalarType("i32"))
    if op.output.type != expected:
        raise VerifyError(f"result type {op.output.type} does not match {expected} implied by its operands")


@irdl_op("q.quantize")
class QuantizeOp(DeclaredOp):
    """q = clamp(round_half_even(x / scale) + zero_point) to the result's integer range.

    %xq = q.quantize(%x) {scale = 0.0157, zero_point = 0} : (tensor<1x64xf32>) -> tensor<1x64xui8>
    """

    input = operand(FLOAT_TENSOR)
    output = result(INT_TENSOR)
    scale = attr(FLOAT)
    zero_point = attr(INT, default=0)

    def verify_(self) -> None:
        _check_scaling(self, self.output.type.element)


@irdl_op("q.dequantize")
class DequantizeOp(DeclaredOp):
    """x = scale * (q - zero_point); with a `scales` operand, scale is scales[c], c the index along `axis`.

    %y = q.dequantize(%yq) {scale = 0.0412, zero_point = 0} : (tensor<1x64xui8>) -> tensor<1x64xf32>
    %w = q.dequantize(%wq, %ws) : (tensor<16x1x3x3xi8>, tensor<16xf32>) -> tensor<16x1x3x3xf32>
    """

    input = operand(INT_TENSOR)
    scales = optional_operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    scale = attr(FLOAT, default=None)
    zero_point = attr(INT, default=0)
    axis = attr(INT, default=0)

    def verify_(self) -> None:
        if (self.scale is None) == (self.scales is None):
            raise VerifyError("needs a scale attribute or a scales operand, and not both")
        if self.scales is None:
            _check_scaling(self, self.input.type.element)
            return
        shape = self.input.type.shape
        if self.output.type.shape != shape:
            raise VerifyError(f"result shape {self.output.type} differs from the input's {self.input.type}")
        if not 0 <= self.axis < len(shape) or self.scales.type.shape != (shape[self.axis],):
            raise VerifyError(f"scales must have shape {shape[self.axis] if 0 <= self.axis < len(shape) else '?'} "
                              f"(one per index along axis {self.axis}), but is {self.scales.type}")
        _check_zero_point(self.zero_point, self.input.type.element)


@irdl_op("q.conv2d")
class Conv2dOp(DeclaredOp):
    """Exact integer convolution of (x - input_zero_point) with w, plus bias; padding reads the zero point.

    %acc = q.conv2d(%xq, %wq, %bq) {pads = [1, 1, 1, 1]} : (tensor<1x1x8x8xui8>, tensor<16x1x3x3xi8>, tensor<16xi32>) -> tensor<1x16x8x8xi32>
    """

    input = operand(INT_TENSOR)
    weight = operand(INT_TENSOR)
    bias = optional_operand(INT_TENSOR)
    output = result(INT_TENSOR)
    input_zero_point = attr(INT, default=0)
    strides = attr(INTS, default=(1, 1))
    pads = attr(INTS, default=(0, 0, 0, 0))
    dilations = attr(INTS, default=(1, 1))
    group = attr(INT, default=1)

    def verify_(self) -> None:
        if self.input.type.rank != 4 or self.weight.type.rank != 4:
            raise VerifyError(f"input and weight must have rank 4, got {self.input.type} and {self.weight.type}")
        n, c, h, w = self.input.type.shape
        out, per_group, kh, kw = self.weight.type.shape
        if self.group < 1 or c != per_group * self.group or out % self.group:
            raise VerifyError(f"input has {c} channels, but the weight expects {per_group} x group {self.group}")
        _check_zero_point(self.input_zero_point, self.input.type.element)
        _check_bias(self, out)
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = self.strides, self.dilations, self.pads
        _expect(self, (n, out, window_output(h, kh, sh, pt, pb, dh), window_output(w, kw, sw, pl, pr, dw)))


@irdl_op("q.gemm")
class GemmOp(DeclaredOp):
    """Exact integer (x - input_zero_point) @ weight^T plus bias; the weight is N x K, as nn.gemm's with trans_b.

    %acc = q.gemm(%xq, %wq, %bq) : (tensor<1x128xui8>, tensor<10x128xi8>, tensor<10xi32>) -> tensor<1x10xi32>
    """

    input = operand(INT_TENSOR)
    weight = operand(INT_TENSOR)
    bias = optional_operand(INT_TENSOR)
    output = result(INT_TENSOR)
    input_zero_point = attr(INT, default=0)

    def verify_(self) -> None:
        if self.input.type.rank != 2 or self.weight.type.rank != 2:
            raise VerifyError(f"input and weight must have rank 2, got {self.input.type} and {self.weight.type}")
        (m, k), (n, k_w) = self.input.type.shape, self.weight.type.shape
        if k != k_w:
            raise VerifyError(f"input has {k} columns, but the weight has {k_w}")
        _check_zero_point(self.input_zero_point, self.input.type.element)
        _check_bias(self, n)
        _expect(self, (m, n))


@irdl_op("q.requantize")
class RequantizeOp(DeclaredOp):
    """y = clamp(round_half_even(acc * multiplier[c]) + zero_point), c the channel (axis 1).

    `scale`, when given, is what y means: r = scale * (y - zero_point). Nothing computes with it; it
    records the result's scale for readers and for export.

    %yq = q.requantize(%acc, %m) {scale = 0.0412, zero_point = 0} : (tensor<1x16x8x8xi32>, tensor<16xf64>) -> tensor<1x16x8x8xui8>
    """

    input = operand(INT_TENSOR)
    multiplier = operand(FLOAT_TENSOR)
    output = result(INT_TENSOR)
    scale = attr(FLOAT, default=None)
    zero_point = attr(INT, default=0)

    def verify_(self) -> None:
        if self.input.type.shape != self.output.type.shape:
            raise VerifyError(f"result shape {self.output.type} differs from the input's {self.input.type}")
        channels = self.input.type.shape[1] if self.input.type.rank > 1 else 1
        if self.multiplier.type.shape not in ((channels,), (1,)):
            raise VerifyError(f"multiplier must have shape {channels} (one per channel) or 1, but is {self.multiplier.type}")
        if self.scale is not None and not self.scale > 0:
            raise VerifyError(f"scale must be positive, got {self.scale}")
        _check_zero_point(self.zero_point, self.output.type.element)


OPS = (QuantizeOp, DequantizeOp, Conv2dOp, GemmOp, RequantizeOp)

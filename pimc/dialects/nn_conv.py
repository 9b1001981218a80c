"""`nn` ops that carry weights or slide windows: weight, conv2d, conv_transpose2d, gemm, matmul, pools, lrn.

    %c = nn.conv2d(%x, %w, %b) {pads = [1, 1, 1, 1]} : (tensor<1x2x4x4xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>

Spatial attributes follow ONNX for 2-D NCHW: `strides = [sh, sw]`,
`dilations = [dh, dw]`, `pads = [top, left, bottom, right]`. The importer
resolves `auto_pad` and `output_shape` into explicit pads.
"""

from __future__ import annotations

from pimc.dialects.nn_base import (
    NnOp, broadcast, broadcasts_to, check_lengths, fmt, require_rank, same_element, tensor_of, window_output,
)
from pimc.ir.irdl import (
    ANY_TENSOR, BOOL, FLOAT, FLOAT_TENSOR, INT, INTS, WEIGHT_REF, VerifyError, attr, irdl_op, operand,
    optional_operand, result,
)
from pimc.ir.types import TensorType


@irdl_op("nn.weight")
class WeightOp(NnOp):
    """A constant tensor kept in the module's weight store under `ref`.

    %w = nn.weight() {ref = "conv1.weight"} : () -> tensor<4x2x3x3xf32>
    """

    ref = attr(WEIGHT_REF)
    output = result(ANY_TENSOR)

    def verify_(self) -> None:
        if not self.ref:
            raise VerifyError("'ref' must name an array in the weight store")


def check_spatial(op, kernel: tuple[int, int], pads_name: str = "pads") -> None:
    """Two strides and dilations of at least 1, four pads of at least 0, a two-dimensional kernel."""
    check_lengths("strides", op.strides, 2, minimum=1)
    check_lengths("dilations", op.dilations, 2, minimum=1)
    check_lengths(pads_name, getattr(op, pads_name), 4, minimum=0)
    check_lengths("kernel", kernel, 2, minimum=1)


@irdl_op("nn.conv2d")
class Conv2dOp(NnOp):
    """2-D convolution, NCHW input, OIHW weight, optional bias; `group` covers depthwise.

    %c = nn.conv2d(%x, %w, %b) {strides = [2, 2], group = 4} : (tensor<1x4x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> tensor<1x4x3x3xf32>
    """

    input = operand(FLOAT_TENSOR)
    weight = operand(FLOAT_TENSOR)
    bias = optional_operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    strides = attr(INTS, default=(1, 1))
    pads = attr(INTS, default=(0, 0, 0, 0))
    dilations = attr(INTS, default=(1, 1))
    group = attr(INT, default=1)

    def infer_types(self) -> list[TensorType]:
        n, c, h, w = require_rank(self.input, "input", 4)
        out, per_group, kh, kw = require_rank(self.weight, "weight", 4)
        element = same_element(*self.operands)
        check_spatial(self, (kh, kw))
        if self.group < 1 or c != per_group * self.group:
            raise VerifyError(f"input has {c} channels, but the weight expects {per_group} x group {self.group}")
        if out % self.group:
            raise VerifyError(f"weight has {out} output channels, which group {self.group} does not divide")
        if self.bias is not None and self.bias.type.shape != (out,):
            raise VerifyError(f"bias must have shape {out}, but has {fmt(self.bias.type.shape)}")
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = self.strides, self.dilations, self.pads
        oh, ow = window_output(h, kh, sh, pt, pb, dh), window_output(w, kw, sw, pl, pr, dw)
        if oh < 1 or ow < 1:
            dilations = list(self.dilations)
            raise VerifyError(f"kernel {kh}x{kw} (dilations {dilations}) does not fit the padded input {h}x{w}")
        return [tensor_of((n, out, oh, ow), element)]


@irdl_op("nn.conv_transpose2d")
class ConvTranspose2dOp(NnOp):
    """2-D transposed convolution; the weight is C x (O / group) x kH x kW, as in ONNX.

    %y = nn.conv_transpose2d(%x, %w) {strides = [2, 2]} : (tensor<1x4x3x3xf32>, tensor<4x2x2x2xf32>) -> tensor<1x2x6x6xf32>
    """

    input = operand(FLOAT_TENSOR)
    weight = operand(FLOAT_TENSOR)
    bias = optional_operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    strides = attr(INTS, default=(1, 1))
    pads = attr(INTS, default=(0, 0, 0, 0))
    dilations = attr(INTS, default=(1, 1))
    output_padding = attr(INTS, default=(0, 0))
    group = attr(INT, default=1)

    def infer_types(self) -> list[TensorType]:
        n, c, h, w = require_rank(self.input, "input", 4)
        cw, per_group, kh, kw = require_rank(self.weight, "weight", 4)
        element = same_element(*self.operands)
        check_spatial(self, (kh, kw))
        check_lengths("output_padding", self.output_padding, 2, minimum=0)
        if self.group < 1 or c != cw or c % self.group:
            raise VerifyError(f"input has {c} channels, but the weight has {cw} input channels for group {self.group}")
        out = per_group * self.group
        if self.bias is not None and self.bias.type.shape != (out,):
            raise VerifyError(f"bias must have shape {out}, but has {fmt(self.bias.type.shape)}")
        dims = []
        for size, k, s, d, begin, end, extra in zip(
            (h, w), (kh, kw), self.strides, self.dilations, self.pads[:2], self.pads[2:], self.output_padding
        ):
            dims.append(s * (size - 1) + extra + d * (k - 1) + 1 - begin - end)
        if min(dims) < 1:
            raise VerifyError(f"pads {list(self.pads)} leave no output from input {h}x{w}")
        return [tensor_of((n, out, *dims), element)]


@irdl_op("nn.gemm")
class GemmOp(NnOp):
    """`alpha * op(a) @ op(b) + beta * c`, where op transposes when `trans_a` / `trans_b` is set.

    %y = nn.gemm(%x, %w, %b) {trans_b = true} : (tensor<1x64xf32>, tensor<10x64xf32>, tensor<10xf32>) -> tensor<1x10xf32>
    """

    a = operand(FLOAT_TENSOR)
    b = operand(FLOAT_TENSOR)
    c = optional_operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    alpha = attr(FLOAT, default=1.0)
    beta = attr(FLOAT, default=1.0)
    trans_a = attr(BOOL, default=False)
    trans_b = attr(BOOL, default=False)

    def infer_types(self) -> list[TensorType]:
        m, k = require_rank(self.a, "a", 2)[:: -1 if self.trans_a else 1]
        kb, n = require_rank(self.b, "b", 2)[:: -1 if self.trans_b else 1]
        element = same_element(*self.operands)
        if k != kb:
            raise VerifyError(f"inner dimensions differ: op(a) is {m}x{k}, op(b) is {kb}x{n}")
        if self.c is not None:
            broadcasts_to(self.c.type.shape, (m, n), "'c'")
        return [tensor_of((m, n), element)]


@irdl_op("nn.matmul")
class MatMulOp(NnOp):
    """Matrix product with numpy semantics: batch dimensions broadcast, 1-D operands are promoted.

    %y = nn.matmul(%a, %b) : (tensor<2x4x8xf32>, tensor<8x3xf32>) -> tensor<2x4x3xf32>
    """

    a = operand(ANY_TENSOR)
    b = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)

    def infer_types(self) -> list[TensorType]:
        a = require_rank(self.a, "a", at_least=1)
        b = require_rank(self.b, "b", at_least=1)
        element = same_element(self.a, self.b)
        a2 = (1, *a) if len(a) == 1 else a
        b2 = (*b, 1) if len(b) == 1 else b
        if a2[-1] != b2[-2]:
            raise VerifyError(f"inner dimensions differ: a is {fmt(a)}, b is {fmt(b)}")
        shape = (*broadcast(a2[:-2], b2[:-2]), a2[-2], b2[-1])
        if len(a) == 1:
            shape = shape[:-2] + shape[-1:]
        if len(b) == 1:
            shape = shape[:-1]
        return [tensor_of(shape, element)]


class _Pool2d(NnOp):
    """Shared shape rule of 2-D pools."""

    def infer_types(self) -> list[TensorType]:
        n, c, h, w = require_rank(self.input, "input", 4)
        kh, kw = self.kernel_shape if len(self.kernel_shape) == 2 else (0, 0)
        check_lengths("kernel_shape", self.kernel_shape, 2, minimum=1)
        check_spatial(self, (kh, kw))
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = self.strides, self.dilations, self.pads
        oh = window_output(h, kh, sh, pt, pb, dh, self.ceil_mode)
        ow = window_output(w, kw, sw, pl, pr, dw, self.ceil_mode)
        if oh < 1 or ow < 1:
            raise VerifyError(f"kernel {kh}x{kw} does not fit the padded input {h}x{w}")
        return [tensor_of((n, c, oh, ow), self.input.type.element)]


@irdl_op("nn.max_pool")
class MaxPoolOp(_Pool2d):
    """2-D max pooling over NCHW; padding never wins the max.

    %p = nn.max_pool(%x) {kernel_shape = [2, 2], strides = [2, 2]} : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    kernel_shape = attr(INTS)
    strides = attr(INTS, default=(1, 1))
    pads = attr(INTS, default=(0, 0, 0, 0))
    dilations = attr(INTS, default=(1, 1))
    ceil_mode = attr(BOOL, default=False)


@irdl_op("nn.average_pool")
class AveragePoolOp(_Pool2d):
    """2-D average pooling over NCHW; `count_include_pad` counts padded cells in the divisor.

    %p = nn.average_pool(%x) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : (tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    kernel_shape = attr(INTS)
    strides = attr(INTS, default=(1, 1))
    pads = attr(INTS, default=(0, 0, 0, 0))
    dilations = attr(INTS, default=(1, 1))
    ceil_mode = attr(BOOL, default=False)
    count_include_pad = attr(BOOL, default=False)


@irdl_op("nn.global_average_pool")
class GlobalAveragePoolOp(NnOp):
    """Mean over every spatial dimension: N x C x ... -> N x C x 1 x ...

    %g = nn.global_average_pool(%x) : (tensor<1x512x7x7xf32>) -> tensor<1x512x1x1xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)

    def infer_types(self) -> list[TensorType]:
        shape = require_rank(self.input, "input", at_least=3)
        return [tensor_of((*shape[:2], *[1] * (len(shape) - 2)), self.input.type.element)]


@irdl_op("nn.lrn")
class LrnOp(NnOp):
    """Local response normalization across `size` neighbouring channels.

    %y = nn.lrn(%x) {size = 5, alpha = 0.0001, beta = 0.75, bias = 1.0} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    size = attr(INT)
    alpha = attr(FLOAT, default=0.0001)
    beta = attr(FLOAT, default=0.75)
    bias = attr(FLOAT, default=1.0)

    def infer_types(self) -> list[TensorType]:
        require_rank(self.input, "input", at_least=2)
        if self.size < 1:
            raise VerifyError(f"'size' must be positive, but is {self.size}")
        return [self.input.type]


OPS = (WeightOp, Conv2dOp, ConvTranspose2dOp, GemmOp, MatMulOp, MaxPoolOp, AveragePoolOp, GlobalAveragePoolOp, LrnOp)

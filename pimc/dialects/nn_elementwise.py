"""Elementwise `nn` ops: activations, broadcasting arithmetic, softmax, sum and cast.

    %y = nn.leaky_relu(%x) {alpha = 0.1} : (tensor<1x8xf32>) -> tensor<1x8xf32>

Binary ops broadcast as numpy (and ONNX) do; the result has the left
operand's element type.
"""

from __future__ import annotations

from pimc.dialects.nn_base import NnOp, broadcast, broadcasts_to, normalize_axis, require_rank, same_element, tensor_of
from pimc.ir.irdl import (
    ANY_TENSOR, FLOAT, FLOAT_TENSOR, INT, VerifyError, attr, irdl_op, operand, result, variadic_operand,
)
from pimc.ir.types import TensorType


class _Unary(NnOp):
    """The result has the input's type."""

    def infer_types(self) -> list[TensorType]:
        return [self.input.type]


@irdl_op("nn.relu")
class ReluOp(_Unary):
    """max(x, 0).

    %y = nn.relu(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)


@irdl_op("nn.neg")
class NegOp(_Unary):
    """-x.

    %y = nn.neg(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)


@irdl_op("nn.sqrt")
class SqrtOp(_Unary):
    """Square root.

    %y = nn.sqrt(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)


@irdl_op("nn.sigmoid")
class SigmoidOp(_Unary):
    """1 / (1 + exp(-x)).

    %y = nn.sigmoid(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)


@irdl_op("nn.tanh")
class TanhOp(_Unary):
    """Hyperbolic tangent.

    %y = nn.tanh(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)


@irdl_op("nn.erf")
class ErfOp(_Unary):
    """The error function.

    %y = nn.erf(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)


@irdl_op("nn.hard_swish")
class HardSwishOp(_Unary):
    """x * max(0, min(1, x / 6 + 1 / 2)).

    %y = nn.hard_swish(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)


@irdl_op("nn.leaky_relu")
class LeakyReluOp(_Unary):
    """x if x >= 0 else alpha * x.

    %y = nn.leaky_relu(%x) {alpha = 0.1} : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    alpha = attr(FLOAT, default=0.01)


@irdl_op("nn.hard_sigmoid")
class HardSigmoidOp(_Unary):
    """max(0, min(1, alpha * x + beta)).

    %y = nn.hard_sigmoid(%x) {alpha = 0.2, beta = 0.5} : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    alpha = attr(FLOAT, default=0.2)
    beta = attr(FLOAT, default=0.5)


@irdl_op("nn.clip")
class ClipOp(_Unary):
    """min(max(x, min), max); a missing bound does not clip.

    %y = nn.clip(%x) {min = 0.0, max = 6.0} : (tensor<1x8xf32>) -> tensor<1x8xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    min = attr(FLOAT, default=None)
    max = attr(FLOAT, default=None)


@irdl_op("nn.softmax")
class SoftmaxOp(NnOp):
    """exp(x) / sum(exp(x)) along `axis`.

    %y = nn.softmax(%x) {axis = 1} : (tensor<1x10xf32>) -> tensor<1x10xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    axis = attr(INT, default=-1)

    def infer_types(self) -> list[TensorType]:
        normalize_axis(self.axis, len(require_rank(self.input, "input", at_least=1)))
        return [self.input.type]


@irdl_op("nn.prelu")
class PReluOp(NnOp):
    """x if x >= 0 else slope * x; `slope` broadcasts to x.

    %y = nn.prelu(%x, %slope) : (tensor<1x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<1x4x8x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    slope = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)

    def infer_types(self) -> list[TensorType]:
        same_element(self.input, self.slope)
        broadcasts_to(self.slope.type.shape, self.input.type.shape, "'slope'")
        return [self.input.type]


class _Binary(NnOp):
    """Broadcast the operands; keep the element type they share."""

    def infer_types(self) -> list[TensorType]:
        element = same_element(self.lhs, self.rhs)
        return [tensor_of(broadcast(self.lhs.type.shape, self.rhs.type.shape), element)]


@irdl_op("nn.add")
class AddOp(_Binary):
    """lhs + rhs.

    %y = nn.add(%a, %b) : (tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>
    """

    lhs = operand(ANY_TENSOR)
    rhs = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)


@irdl_op("nn.sub")
class SubOp(_Binary):
    """lhs - rhs.

    %y = nn.sub(%a, %b) : (tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>
    """

    lhs = operand(ANY_TENSOR)
    rhs = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)


@irdl_op("nn.mul")
class MulOp(_Binary):
    """lhs * rhs.

    %y = nn.mul(%a, %b) : (tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>
    """

    lhs = operand(ANY_TENSOR)
    rhs = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)


@irdl_op("nn.div")
class DivOp(_Binary):
    """lhs / rhs; integer division truncates toward zero.

    %y = nn.div(%a, %b) : (tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>
    """

    lhs = operand(ANY_TENSOR)
    rhs = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)


@irdl_op("nn.pow")
class PowOp(NnOp):
    """lhs ** rhs; the exponent may have another element type.

    %y = nn.pow(%a, %b) : (tensor<1x8xf32>, tensor<f32>) -> tensor<1x8xf32>
    """

    lhs = operand(ANY_TENSOR)
    rhs = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)

    def infer_types(self) -> list[TensorType]:
        return [tensor_of(broadcast(self.lhs.type.shape, self.rhs.type.shape), self.lhs.type.element)]


@irdl_op("nn.sum")
class SumOp(NnOp):
    """The elementwise sum of one or more broadcasting operands.

    %y = nn.sum(%a, %b, %c) : (tensor<1x8xf32>, tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>
    """

    inputs = variadic_operand(ANY_TENSOR)
    output = result(ANY_TENSOR)

    def infer_types(self) -> list[TensorType]:
        if not self.inputs:
            raise VerifyError("needs at least one operand")
        element = same_element(*self.inputs)
        return [tensor_of(broadcast(*(v.type.shape for v in self.inputs)), element)]


@irdl_op("nn.cast")
class CastOp(NnOp):
    """Convert elements to the result's element type; the shape is kept. Built with `build`, not `create`.

    %y = nn.cast(%x) : (tensor<1x8xf32>) -> tensor<1x8xi64>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)

    def infer_types(self) -> list[TensorType]:
        return [TensorType(self.input.type.shape, self.output.type.element)]


OPS = (
    ReluOp, NegOp, SqrtOp, SigmoidOp, TanhOp, ErfOp, HardSwishOp, LeakyReluOp, HardSigmoidOp, ClipOp,
    SoftmaxOp, PReluOp, AddOp, SubOp, MulOp, DivOp, PowOp, SumOp, CastOp,
)

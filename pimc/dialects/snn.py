"""The `snn` dialect: spiking networks as NIR describes them, one call of the function per timestep.

    %c = snn.conv2d(%s, %w) {pads = [1, 1, 1, 1]} : (tensor<1x1x8x8xf32>, tensor<8x1x3x3xf32>) -> tensor<1x8x8x8xf32>
    %s1 = snn.if(%c) {threshold = 1.0} : (tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>

Synapses (conv2d, affine, sum_pool2d, avg_pool2d, flatten) are stateless and act on one timestep's tensor.
Neurons (if, lif) are stateful: each keeps a membrane potential per element across calls, starting at 0.
On a call a neuron integrates its input, `v = beta * v + gain * x` (IF: beta = 1), fires where
`v > threshold` (`compare = "gt"`, NIR's rule) or `v >= threshold` (`"ge"`), and resets the neurons that
fired by subtracting the threshold (`reset = "subtract"`) or to zero (`"zero"`); its result is 1 where it fired.
A leaky neuron's subtraction is not decayed, as in snnTorch: after a spike the next step starts from
`beta * v - threshold` (v before the reset).

The same ops on integer tensors are the quantized network (stage "snn-int"): weights are integers, spikes
are i8 counts, a neuron's membrane has `vmem_bits` bits (two's complement), and after each timestep's
accumulation it saturates or wraps (`overflow`); thresholds are integers.
"""

from __future__ import annotations

from pimc.dialects.nn_base import check_lengths, fmt, require_rank, tensor_of, window_output
from pimc.ir.irdl import (
    ANY_TENSOR, FLOAT, INT, INTS, AttrKind, DeclaredOp, TypeConstraint, VerifyError, attr, int_in, irdl_op,
    one_of, operand, optional_operand, result,
)
from pimc.ir.types import TensorType

NUMBER = AttrKind("number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
NUMERIC_TENSOR = TypeConstraint("tensor of float or integer",
                                lambda t: isinstance(t, TensorType) and (t.element.is_float or t.element.is_integer))


def _check_elements(op: DeclaredOp) -> None:
    """Float operands give a float result; integer operands, an integer one."""
    kinds = {v.type.element.is_float for v in (*op.operands, *op.results)}
    if len(kinds) > 1:
        raise VerifyError("operands and result must be all float or all integer")


def _expect(op: DeclaredOp, shape: tuple[int, ...]) -> None:
    if op.output.type.shape != tuple(shape):
        raise VerifyError(f"result shape {fmt(op.output.type.shape)} does not match {fmt(shape)} "
                          f"implied by its operands and attributes")


@irdl_op("snn.conv2d")
class Conv2dOp(DeclaredOp):
    """2-D convolution of one timestep's NCHW tensor, OIHW weight, optional bias added every timestep.

    %c = snn.conv2d(%s, %w, %b) {strides = [2, 2]} : (tensor<1x2x8x8xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<1x4x3x3xf32>
    """

    input = operand(NUMERIC_TENSOR)
    weight = operand(NUMERIC_TENSOR)
    bias = optional_operand(NUMERIC_TENSOR)
    output = result(NUMERIC_TENSOR)
    strides = attr(INTS, default=(1, 1))
    pads = attr(INTS, default=(0, 0, 0, 0))
    dilations = attr(INTS, default=(1, 1))
    group = attr(INT, default=1)

    def verify_(self) -> None:
        _check_elements(self)
        n, c, h, w = require_rank(self.input, "input", 4)
        out, per_group, kh, kw = require_rank(self.weight, "weight", 4)
        check_lengths("strides", self.strides, 2, minimum=1)
        check_lengths("dilations", self.dilations, 2, minimum=1)
        check_lengths("pads", self.pads, 4, minimum=0)
        if self.group < 1 or c != per_group * self.group or out % self.group:
            raise VerifyError(f"input has {c} channels, but the weight expects {per_group} x group {self.group}")
        if self.bias is not None and self.bias.type.shape != (out,):
            raise VerifyError(f"bias must have shape {out}, but has {fmt(self.bias.type.shape)}")
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = self.strides, self.dilations, self.pads
        _expect(self, (n, out, window_output(h, kh, sh, pt, pb, dh), window_output(w, kw, sw, pl, pr, dw)))


@irdl_op("snn.affine")
class AffineOp(DeclaredOp):
    """`x @ w.T + b` on one timestep's N x K tensor; NIR's Linear is an affine without bias.

    %y = snn.affine(%s, %w, %b) : (tensor<1x64xf32>, tensor<10x64xf32>, tensor<10xf32>) -> tensor<1x10xf32>
    """

    input = operand(NUMERIC_TENSOR)
    weight = operand(NUMERIC_TENSOR)
    bias = optional_operand(NUMERIC_TENSOR)
    output = result(NUMERIC_TENSOR)

    def verify_(self) -> None:
        _check_elements(self)
        n, k = require_rank(self.input, "input", 2)
        m, kw = require_rank(self.weight, "weight", 2)
        if k != kw:
            raise VerifyError(f"input has {k} features, but the weight is {m}x{kw}")
        if self.bias is not None and self.bias.type.shape != (m,):
            raise VerifyError(f"bias must have shape {m}, but has {fmt(self.bias.type.shape)}")
        _expect(self, (n, m))


class _Pool(DeclaredOp):
    """Shared shape rule of the pools; each op declares its operands and attributes."""

    def verify_(self) -> None:
        _check_elements(self)
        n, c, h, w = require_rank(self.input, "input", 4)
        check_lengths("kernel", self.kernel, 2, minimum=1)
        check_lengths("strides", self.strides, 2, minimum=1)
        check_lengths("pads", self.pads, 4, minimum=0)
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = self.kernel, self.strides, self.pads
        _expect(self, (n, c, window_output(h, kh, sh, pt, pb, 1), window_output(w, kw, sw, pl, pr, 1)))


@irdl_op("snn.sum_pool2d")
class SumPool2dOp(_Pool):
    """Sum over each window of one timestep's NCHW tensor (padding adds zeros).

    %p = snn.sum_pool2d(%s) {kernel = [2, 2], strides = [2, 2]} : (tensor<1x8x8x8xf32>) -> tensor<1x8x4x4xf32>
    """

    input = operand(NUMERIC_TENSOR)
    output = result(NUMERIC_TENSOR)
    kernel = attr(INTS)
    strides = attr(INTS)
    pads = attr(INTS, default=(0, 0, 0, 0))


@irdl_op("snn.avg_pool2d")
class AvgPool2dOp(_Pool):
    """The window sum divided by the window's size, kernel[0] * kernel[1] (padded cells included).

    %p = snn.avg_pool2d(%s) {kernel = [2, 2], strides = [2, 2]} : (tensor<1x8x8x8xf32>) -> tensor<1x8x4x4xf32>
    """

    input = operand(NUMERIC_TENSOR)
    output = result(NUMERIC_TENSOR)
    kernel = attr(INTS)
    strides = attr(INTS)
    pads = attr(INTS, default=(0, 0, 0, 0))

    def verify_(self) -> None:
        super().verify_()
        if not self.input.type.element.is_float:
            raise VerifyError("averages need float tensors; an integer network pools by sum")


@irdl_op("snn.flatten")
class FlattenOp(DeclaredOp):
    """Every dimension but the batch's, in one: N x C x H x W -> N x (C*H*W).

    %f = snn.flatten(%s) : (tensor<1x8x2x2xf32>) -> tensor<1x32xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)

    def verify_(self) -> None:
        shape = require_rank(self.input, "input", at_least=2)
        size = 1
        for d in shape[1:]:
            size *= d
        _expect(self, (shape[0], size))


class _Neuron(DeclaredOp):
    """Shared rules of the neurons; each op declares its operands and attributes."""

    def verify_(self) -> None:
        _check_elements(self)
        if self.input.type.shape != self.output.type.shape:
            raise VerifyError(f"result shape {fmt(self.output.type.shape)} differs from the input's "
                              f"{fmt(self.input.type.shape)}")
        integer = self.input.type.element.is_integer
        if integer and (self.vmem_bits is None or self.threshold != int(self.threshold)):
            raise VerifyError("an integer neuron needs 'vmem_bits' and an integral threshold")
        if not integer and self.vmem_bits is not None:
            raise VerifyError("'vmem_bits' applies to integer neurons only")
        if not self.threshold > 0:
            raise VerifyError(f"threshold must be positive, got {self.threshold}")

    @property
    def leak(self) -> float:
        return 1.0


@irdl_op("snn.if", pure=False)
class IfOp(_Neuron):
    """Integrate-and-fire: v += gain * x; fire where v crosses the threshold; reset those that fired.

    %s = snn.if(%c) {threshold = 1.0, reset = "zero", compare = "ge"} : (tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
    """

    input = operand(NUMERIC_TENSOR)
    output = result(NUMERIC_TENSOR)
    threshold = attr(NUMBER)
    reset = attr(one_of("subtract", "zero"), default="subtract")
    compare = attr(one_of("gt", "ge"), default="gt")
    vmem_bits = attr(int_in(1, 32), default=None)
    overflow = attr(one_of("saturate", "wrap"), default="saturate")
    gain = attr(FLOAT, default=1.0)


@irdl_op("snn.lif", pure=False)
class LifOp(_Neuron):
    """Leaky integrate-and-fire: v = beta * v + gain * x, then as snn.if (float networks only).

    %s = snn.lif(%c) {beta = 0.9, threshold = 1.0} : (tensor<1x10xf32>) -> tensor<1x10xf32>
    """

    input = operand(NUMERIC_TENSOR)
    output = result(NUMERIC_TENSOR)
    threshold = attr(NUMBER)
    reset = attr(one_of("subtract", "zero"), default="subtract")
    compare = attr(one_of("gt", "ge"), default="gt")
    vmem_bits = attr(int_in(1, 32), default=None)
    overflow = attr(one_of("saturate", "wrap"), default="saturate")
    beta = attr(FLOAT)
    gain = attr(FLOAT, default=1.0)

    def verify_(self) -> None:
        super().verify_()
        if not 0.0 <= self.beta <= 1.0:
            raise VerifyError(f"beta must be in [0, 1], got {self.beta}")

    @property
    def leak(self) -> float:
        return self.beta


@irdl_op("snn.integrate", pure=False)
class IntegrateOp(DeclaredOp):
    """A readout: membranes accumulate the input and never fire; the result is the membrane after this timestep.

    %v = snn.integrate(%y) {vmem_bits = 16} : (tensor<1x10xi32>) -> tensor<1x10xi32>
    """

    input = operand(NUMERIC_TENSOR)
    output = result(NUMERIC_TENSOR)
    vmem_bits = attr(int_in(1, 32), default=None)
    overflow = attr(one_of("saturate", "wrap"), default="saturate")

    def verify_(self) -> None:
        _check_elements(self)
        if self.input.type.shape != self.output.type.shape:
            raise VerifyError(f"result shape {fmt(self.output.type.shape)} differs from the input's "
                              f"{fmt(self.input.type.shape)}")
        if self.input.type.element.is_integer != (self.vmem_bits is not None):
            raise VerifyError("'vmem_bits' is required on integer readouts and only there")


OPS = (Conv2dOp, AffineOp, SumPool2dOp, AvgPool2dOp, FlattenOp, IfOp, LifOp, IntegrateOp)

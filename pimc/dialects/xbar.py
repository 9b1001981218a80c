"""The `xbar` dialect: integer matrix-vector products on crossbars, and the data movement around them.

A conv becomes an im2col of its input, one or more crossbar MVMs over a K x N weight matrix
(K = input channels per group x kernel, N = output channels), a bias, and a col2im:

    %p = xbar.im2col(%xq) {kernel = [3, 3], pads = [1, 1, 1, 1], pad_value = 0} : (tensor<1x1x8x8xui8>) -> tensor<64x9xui8>
    %m = xbar.mvm(%p) {weights = "conv1.matrix", rows = [0, 9], cols = [0, 16], weight_bits = 8} : (tensor<64x9xui8>) -> tensor<64x16xi32>
    %b = xbar.add_bias(%m, %bias) : (tensor<64x16xi32>, tensor<16xi32>) -> tensor<64x16xi32>
    %y = xbar.col2im(%b) : (tensor<64x16xi32>) -> tensor<1x16x8x8xi32>

An epitome conv (EPIM, docs/epitome.md) puts only its epitome's matrix on crossbars: its input columns are
pre-summed onto the epitome's rows first, and its product's columns routed to the output channels after:

    %s = xbar.wrap_sum(%p) {map = [0, 1, 0, 1]} : (tensor<64x4xui8>) -> tensor<64x2xui9>
    %r = xbar.route(%m) {map = [0, 1, 0, 1]} : (tensor<64x2xi32>) -> tensor<64x4xi32>

The semantics here are ideal integer arithmetic; how a crossbar's cells, DACs and ADCs realize
an MVM (and where that is inexact) is the target's program and simulator's business.
"""

from __future__ import annotations

import math
from collections import Counter

from pimc.dialects.nn_base import window_output
from pimc.ir.irdl import (
    BOOL, FLOAT, INT, INT_TENSOR, INTS, WEIGHT_REF, AttrKind, DeclaredOp, VerifyError, attr, irdl_op, operand, result,
    variadic_operand,
)
from pimc.ir.types import ScalarType, TensorType

I32 = ScalarType("i32")
INT_LISTS = AttrKind("list of integer lists", lambda v: isinstance(v, tuple) and all(INTS.check(x) for x in v),
                     lambda v: tuple(map(tuple, v)) if isinstance(v, list) else v)


def even_slices(bits: int, width: int) -> tuple[int, ...]:
    """`bits` in slices of `width`, most significant first, the first narrower if it must be: (8, 3) -> (2, 3, 3).
    An MVM without `weight_slices` holds its weights in even slices of the target's cell bits."""
    count = math.ceil(bits / width)
    return (bits - width * (count - 1),) + (width,) * (count - 1)


def _range(op: DeclaredOp, name: str) -> tuple[int, int]:
    bounds = getattr(op, name)
    if len(bounds) != 2 or not 0 <= bounds[0] < bounds[1]:
        raise VerifyError(f"{name} must be [start, stop) with 0 <= start < stop, got {list(bounds)}")
    return bounds


def _expect(op: DeclaredOp, shape: tuple[int, ...], element: ScalarType) -> None:
    expected = TensorType(shape, element)
    if op.results[0].type != expected:
        raise VerifyError(f"result type {op.results[0].type} does not match {expected} implied by its operands")


@irdl_op("xbar.im2col")
class Im2ColOp(DeclaredOp):
    """One row per output pixel (n, oh, ow), one column per (channel, kh, kw); padding reads `pad_value`.

    %p = xbar.im2col(%xq) {kernel = [3, 3], pads = [1, 1, 1, 1]} : (tensor<1x1x8x8xui8>) -> tensor<64x9xui8>
    """

    input = operand(INT_TENSOR)
    output = result(INT_TENSOR)
    kernel = attr(INTS)
    strides = attr(INTS, default=(1, 1))
    pads = attr(INTS, default=(0, 0, 0, 0))
    dilations = attr(INTS, default=(1, 1))
    pad_value = attr(INT, default=0)

    def output_size(self) -> tuple[int, int]:
        (_, _, h, w), (kh, kw) = self.input.type.shape, self.kernel
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = self.strides, self.dilations, self.pads
        return window_output(h, kh, sh, pt, pb, dh), window_output(w, kw, sw, pl, pr, dw)

    def verify_(self) -> None:
        if self.input.type.rank != 4:
            raise VerifyError(f"input must be NCHW, got {self.input.type}")
        n, c, _, _ = self.input.type.shape
        oh, ow = self.output_size()
        _expect(self, (n * oh * ow, c * self.kernel[0] * self.kernel[1]), self.input.type.element)


@irdl_op("xbar.mvm")
class MvmOp(DeclaredOp):
    """Rows [r0, r1) and columns [c0, c1) of the K x N weight matrix `weights`, times input columns offset + [r0, r1).

    %m = xbar.mvm(%p) {weights = "fc.matrix", rows = [0, 64], cols = [0, 10], weight_bits = 8} : (tensor<1x128xui8>) -> tensor<1x10xi32>
    """

    input = operand(INT_TENSOR)
    output = result(INT_TENSOR)
    weights = attr(WEIGHT_REF)
    rows = attr(INTS)
    cols = attr(INTS)
    weight_bits = attr(INT)
    input_offset = attr(INT, default=0)
    input_zero_point = attr(INT, default=None, doc="the input codes' zero point (the real value is proportional "
                            "to code - zero point), set by lower-to-xbar; the product is of the codes")
    bit_slices = attr(INT, default=1, doc="cell columns one weight occupies, set by slice-weights")
    weight_slices = attr(INTS, default=None, doc="bits per weight slice, most significant first, set by "
                         "adaptive-slicing or center-offset; else even slices of the target's cell bits")
    slicing_error = attr(FLOAT, default=None, doc="the layer's ||y - x.w|| / ||x.w|| on calibration inputs with "
                         "weight_slices, y as the ADCs compute it, set by adaptive-slicing")
    centers = attr(WEIGHT_REF, default=None, doc="weight ref of the per-column integer centers the cells' signed offsets "
                   "are taken from, set by center-offset; the product is unchanged")
    chip = attr(INT, default=None, doc="set by place-tiles when the model spans several chips")
    tile = attr(INT, default=None, doc="set by place-tiles")
    ima = attr(INT, default=None, doc="in-situ MAC array within the tile, set by place-tiles")
    xbar = attr(INT, default=None, doc="crossbar within the IMA, set by place-tiles")
    replicas = attr(INT_LISTS, default=None,
                    doc="[chip,] tile, ima, xbar of this crossbar in the layer's copies 2..d, set by place-tiles{duplicate}")
    block_groups = attr(INT, default=None, doc="the matrix window is block-diagonal, one block per group of a grouped "
                        "conv, this many of them, set by pack-groups")
    input_slices = attr(INTS, default=None, doc="input bit widths per DAC step, most significant first, set by slice-inputs")
    signed_planes = attr(BOOL, default=None, doc="the crossbar takes code - input_zero_point as a positive and a "
                         "negative plane, set by slice-inputs{signed-planes}")
    speculate = attr(BOOL, default=None, doc="input slices are speculative: a column whose conversion hits an ADC "
                     "rail is recomputed from 1-bit slices, set by slice-inputs{speculate}")

    def verify_(self) -> None:
        if self.input.type.rank != 2:
            raise VerifyError(f"input must be a matrix, got {self.input.type}")
        r0, r1 = _range(self, "rows")
        c0, c1 = _range(self, "cols")
        if self.input_offset + r1 > self.input.type.shape[1]:
            raise VerifyError(f"rows {[r0, r1]} at offset {self.input_offset} run past the input's {self.input.type.shape[1]} columns")
        _expect(self, (self.input.type.shape[0], c1 - c0), I32)
        bits = self.input.type.element.width
        if self.input_slices is not None and (sum(self.input_slices) != bits or min(self.input_slices) < 1):
            raise VerifyError(f"input_slices {list(self.input_slices)} must be positive widths that sum to the input's {bits} bits")
        if self.weight_slices is not None and (sum(self.weight_slices) != self.weight_bits or min(self.weight_slices) < 1):
            raise VerifyError(f"weight_slices {list(self.weight_slices)} must be positive widths that sum to weight_bits = {self.weight_bits}")
        size, place = (3, "[tile, ima, xbar]") if self.chip is None else (4, "[chip, tile, ima, xbar]")
        if self.replicas is not None and any(len(copy) != size for copy in self.replicas):
            raise VerifyError(f"replicas must each be {place}, got {[list(copy) for copy in self.replicas]}")


@irdl_op("xbar.add")
class AddOp(DeclaredOp):
    """Sum of partial products from crossbars that hold different rows of one matrix.

    %s = xbar.add(%a, %b) : (tensor<64x16xi32>, tensor<64x16xi32>) -> tensor<64x16xi32>
    """

    inputs = variadic_operand(INT_TENSOR)
    output = result(INT_TENSOR)

    def verify_(self) -> None:
        if len(self.inputs) < 2 or any(v.type != self.output.type for v in self.inputs):
            raise VerifyError(f"expects two or more inputs of the result type {self.output.type}")


@irdl_op("xbar.concat")
class ConcatOp(DeclaredOp):
    """Columns from crossbars that hold different columns of one matrix, side by side.

    %c = xbar.concat(%a, %b) : (tensor<64x32xi32>, tensor<64x16xi32>) -> tensor<64x48xi32>
    """

    inputs = variadic_operand(INT_TENSOR)
    output = result(INT_TENSOR)

    def verify_(self) -> None:
        rows = {v.type.shape[0] for v in self.inputs}
        if len(self.inputs) < 2 or len(rows) != 1 or any(v.type.rank != 2 for v in self.inputs):
            raise VerifyError("expects two or more matrices with the same number of rows")
        _expect(self, (rows.pop(), sum(v.type.shape[1] for v in self.inputs)), I32)


@irdl_op("xbar.add_bias")
class AddBiasOp(DeclaredOp):
    """Add a per-column bias (which also carries the input zero point's correction).

    %b = xbar.add_bias(%m, %bias) : (tensor<64x16xi32>, tensor<16xi32>) -> tensor<64x16xi32>
    """

    input = operand(INT_TENSOR)
    bias = operand(INT_TENSOR)
    output = result(INT_TENSOR)

    def verify_(self) -> None:
        if self.input.type.rank != 2 or self.bias.type.shape != (self.input.type.shape[1],):
            raise VerifyError(f"bias {self.bias.type} must have one entry per column of {self.input.type}")
        _expect(self, self.input.type.shape, I32)


@irdl_op("xbar.col2im")
class Col2ImOp(DeclaredOp):
    """Rows (n, oh, ow) x channels back to NCHW; the result type gives the shape.

    %y = xbar.col2im(%b) : (tensor<64x16xi32>) -> tensor<1x16x8x8xi32>
    """

    input = operand(INT_TENSOR)
    output = result(INT_TENSOR)

    def verify_(self) -> None:
        if self.output.type.rank != 4 or self.input.type.rank != 2:
            raise VerifyError(f"expects a matrix and an NCHW result, got {self.input.type} and {self.output.type}")
        n, c, h, w = self.output.type.shape
        _expect(self, (n, c, h, w), self.input.type.element)
        if self.input.type.shape != (n * h * w, c):
            raise VerifyError(f"input {self.input.type} does not hold {n * h * w} pixels of {c} channels")


def wrap_element(element: ScalarType, wraps: int) -> ScalarType:
    """The unsigned type that holds a sum of `wraps` values of the unsigned `element`."""
    return ScalarType(f"ui{(element.bounds[1] * wraps).bit_length()}")


def _check_map(op: DeclaredOp, length: int, size: int, what: str) -> None:
    if len(op.map) != length or not all(0 <= m < size for m in op.map):
        raise VerifyError(f"map must have {length} entries, one per {what}, each in [0, {size}), got {list(op.map)}")


@irdl_op("xbar.wrap_sum")
class WrapSumOp(DeclaredOp):
    """Column m of the result is the sum of the input columns j with map[j] = m: input channels that wrap onto
    one epitome channel, pre-summed before the crossbar (EPIM's input channel wrapping).

    %s = xbar.wrap_sum(%p) {map = [0, 1, 0, 1]} : (tensor<64x4xui8>) -> tensor<64x2xui9>
    """

    input = operand(INT_TENSOR)
    output = result(INT_TENSOR)
    map = attr(INTS)

    def verify_(self) -> None:
        if self.input.type.rank != 2 or self.output.type.rank != 2 or not self.input.type.element.is_unsigned:
            raise VerifyError(f"expects unsigned matrices, got {self.input.type} and {self.output.type}")
        (rows, k), columns = self.input.type.shape, self.output.type.shape[1]
        _check_map(self, k, columns, "input column")
        wraps = max(Counter(self.map).values(), default=1)
        _expect(self, (rows, columns), wrap_element(self.input.type.element, wraps))


@irdl_op("xbar.route")
class RouteOp(DeclaredOp):
    """Column o of the result is input column map[o]: one crossbar column read serves every output channel that
    wraps onto it (EPIM's output channel wrapping; map is the output address table).

    %r = xbar.route(%m) {map = [0, 1, 0, 1]} : (tensor<64x2xi32>) -> tensor<64x4xi32>
    """

    input = operand(INT_TENSOR)
    output = result(INT_TENSOR)
    map = attr(INTS)

    def verify_(self) -> None:
        if self.input.type.rank != 2 or self.output.type.rank != 2:
            raise VerifyError(f"expects matrices, got {self.input.type} and {self.output.type}")
        rows, columns = self.output.type.shape
        _check_map(self, columns, self.input.type.shape[1], "result column")
        _expect(self, (self.input.type.shape[0], columns), self.input.type.element)


OPS = (Im2ColOp, MvmOp, AddOp, ConcatOp, AddBiasOp, Col2ImOp, WrapSumOp, RouteOp)

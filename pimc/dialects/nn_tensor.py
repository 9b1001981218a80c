"""`nn` ops that move data: concat, split, slice, reshape, flatten, transpose, squeeze, unsqueeze, pad,
resize, reduce_mean and gather.

    %r = nn.reshape(%x) {shape = [1, 64]} : (tensor<1x4x4x4xf32>) -> tensor<1x64xf32>

Shape-like operands that ONNX passes as tensors (Reshape's shape, Slice's
starts, Pad's pads, ...) are attributes here, resolved by the importer: no
`0` or `-1` in `shape`, explicit `axes`, slice bounds clamped to the input.
"""

from __future__ import annotations

import math

from pimc.dialects.nn_base import NnOp, check_lengths, fmt, normalize_axis, require_rank, tensor_of
from pimc.ir.irdl import (
    ANY_TENSOR, BOOL, FLOAT, FLOAT_TENSOR, FLOATS, INT, INT_TENSOR, INTS, VerifyError, attr, irdl_op, one_of,
    operand, result, variadic_operand, variadic_result,
)
from pimc.ir.types import TensorType


def _axes(axes: tuple[int, ...], rank: int, name: str = "axes") -> list[int]:
    """Distinct axes in [-rank, rank), as non-negative indices."""
    found = [normalize_axis(a, rank, f"'{name}' entry") for a in axes]
    if len(set(found)) != len(found):
        raise VerifyError(f"'{name}' {list(axes)} repeats an axis")
    return found


@irdl_op("nn.concat")
class ConcatOp(NnOp):
    """Join tensors along `axis`; every other dimension must agree.

    %y = nn.concat(%a, %b) {axis = 1} : (tensor<1x2x4x4xf32>, tensor<1x3x4x4xf32>) -> tensor<1x5x4x4xf32>
    """

    inputs = variadic_operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    axis = attr(INT)

    def infer_types(self) -> list[TensorType]:
        if not self.inputs:
            raise VerifyError("needs at least one operand")
        first = self.inputs[0].type
        axis = normalize_axis(self.axis, first.rank)
        for value in self.inputs[1:]:
            shape = value.type.shape
            if value.type.element != first.element or len(shape) != first.rank:
                raise VerifyError(f"operand {value.type} does not match {first}")
            if any(a != b for i, (a, b) in enumerate(zip(shape, first.shape)) if i != axis):
                raise VerifyError(f"operand shapes {fmt(first.shape)} and {fmt(shape)} differ outside axis {axis}")
        total = sum(v.type.shape[axis] for v in self.inputs)
        return [tensor_of((*first.shape[:axis], total, *first.shape[axis + 1 :]), first.element)]


@irdl_op("nn.split")
class SplitOp(NnOp):
    """Cut a tensor along `axis` into pieces of the sizes in `split`.

    %a, %b = nn.split(%x) {axis = 1, split = [2, 6]} : (tensor<1x8xf32>) -> (tensor<1x2xf32>, tensor<1x6xf32>)
    """

    input = operand(ANY_TENSOR)
    outputs = variadic_result(ANY_TENSOR)
    axis = attr(INT, default=0)
    split = attr(INTS)

    def infer_types(self) -> list[TensorType]:
        shape = self.input.type.shape
        axis = normalize_axis(self.axis, len(shape))
        if any(s < 0 for s in self.split) or sum(self.split) != shape[axis]:
            raise VerifyError(f"'split' {list(self.split)} does not add up to dimension {axis} of size {shape[axis]}")
        return [tensor_of((*shape[:axis], s, *shape[axis + 1 :]), self.input.type.element) for s in self.split]


@irdl_op("nn.slice")
class SliceOp(NnOp):
    """Take `starts[i]:ends[i]:steps[i]` along `axes[i]`; an end of -1 with a negative step runs past 0.

    %y = nn.slice(%x) {starts = [1], ends = [3], axes = [1], steps = [1]} : (tensor<1x4xf32>) -> tensor<1x2xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    starts = attr(INTS)
    ends = attr(INTS)
    axes = attr(INTS)
    steps = attr(INTS)

    def infer_types(self) -> list[TensorType]:
        shape = list(self.input.type.shape)
        count = len(self.axes)
        for name in ("starts", "ends", "steps"):
            check_lengths(name, getattr(self, name), count)
        for axis, start, end, step in zip(_axes(self.axes, len(shape)), self.starts, self.ends, self.steps):
            size = shape[axis]
            low = (0, -1) if step < 0 else (0, 0)
            if step == 0 or not (low[0] <= start <= size - (step < 0)) or not (low[1] <= end <= size - (step < 0)):
                raise VerifyError(f"slice {start}:{end}:{step} on axis {axis} is not normalized for size {size}")
            shape[axis] = max(0, math.ceil((end - start) / step))
        return [tensor_of(shape, self.input.type.element)]


class ShapeOnlyOp(NnOp):
    """An op that keeps the elements in order and changes only the shape: reshape, flatten, squeeze, unsqueeze."""


@irdl_op("nn.reshape")
class ReshapeOp(ShapeOnlyOp):
    """Same elements, new shape (fully resolved: no 0 or -1).

    %r = nn.reshape(%x) {shape = [1, 64]} : (tensor<1x4x4x4xf32>) -> tensor<1x64xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    shape = attr(INTS)

    def infer_types(self) -> list[TensorType]:
        if any(d < 0 for d in self.shape):
            raise VerifyError(f"'shape' {list(self.shape)} must be resolved to non-negative sizes")
        if math.prod(self.shape) != self.input.type.num_elements:
            raise VerifyError(f"cannot reshape {fmt(self.input.type.shape)} into {fmt(self.shape)}")
        return [tensor_of(self.shape, self.input.type.element)]


@irdl_op("nn.flatten")
class FlattenOp(ShapeOnlyOp):
    """Collapse the dimensions before and after `axis` into a matrix.

    %f = nn.flatten(%x) {axis = 1} : (tensor<1x4x4x4xf32>) -> tensor<1x64xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    axis = attr(INT, default=1)

    def infer_types(self) -> list[TensorType]:
        shape = self.input.type.shape
        if not -len(shape) <= self.axis <= len(shape):
            raise VerifyError(f"axis {self.axis} is out of range for rank {len(shape)}")
        axis = self.axis % (len(shape) + 1) if self.axis < 0 else self.axis
        return [tensor_of((math.prod(shape[:axis]), math.prod(shape[axis:])), self.input.type.element)]


@irdl_op("nn.transpose")
class TransposeOp(NnOp):
    """Permute dimensions: result dimension i is input dimension perm[i].

    %t = nn.transpose(%x) {perm = [0, 2, 3, 1]} : (tensor<1x4x8x8xf32>) -> tensor<1x8x8x4xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    perm = attr(INTS)

    def infer_types(self) -> list[TensorType]:
        shape = self.input.type.shape
        if sorted(self.perm) != list(range(len(shape))):
            raise VerifyError(f"'perm' {list(self.perm)} is not a permutation of {len(shape)} axes")
        return [tensor_of([shape[p] for p in self.perm], self.input.type.element)]


@irdl_op("nn.squeeze")
class SqueezeOp(ShapeOnlyOp):
    """Drop the size-1 dimensions listed in `axes`.

    %s = nn.squeeze(%x) {axes = [2, 3]} : (tensor<1x8x1x1xf32>) -> tensor<1x8xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    axes = attr(INTS)

    def infer_types(self) -> list[TensorType]:
        shape = self.input.type.shape
        axes = _axes(self.axes, len(shape))
        if any(shape[a] != 1 for a in axes):
            raise VerifyError(f"cannot squeeze axes {list(self.axes)} of shape {fmt(shape)}: not all have size 1")
        return [tensor_of([d for i, d in enumerate(shape) if i not in axes], self.input.type.element)]


@irdl_op("nn.unsqueeze")
class UnsqueezeOp(ShapeOnlyOp):
    """Insert size-1 dimensions at `axes` (indices into the result).

    %u = nn.unsqueeze(%x) {axes = [0]} : (tensor<8xf32>) -> tensor<1x8xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    axes = attr(INTS)

    def infer_types(self) -> list[TensorType]:
        rank = self.input.type.rank + len(self.axes)
        axes = _axes(self.axes, rank)
        dims = iter(self.input.type.shape)
        return [tensor_of([1 if i in axes else next(dims) for i in range(rank)], self.input.type.element)]


@irdl_op("nn.pad")
class PadOp(NnOp):
    """Pad (or, with negative amounts, crop); `pads` lists every begin, then every end, as ONNX does.

    %p = nn.pad(%x) {pads = [0, 0, 1, 1, 0, 0, 1, 1]} : (tensor<1x4x8x8xf32>) -> tensor<1x4x10x10xf32>
    """

    input = operand(ANY_TENSOR)
    output = result(ANY_TENSOR)
    pads = attr(INTS)
    mode = attr(one_of("constant", "reflect", "edge", "wrap"), default="constant")
    value = attr(FLOAT, default=0.0)

    def infer_types(self) -> list[TensorType]:
        shape = self.input.type.shape
        check_lengths("pads", self.pads, 2 * len(shape))
        out = [d + b + e for d, b, e in zip(shape, self.pads, self.pads[len(shape) :])]
        if min(out, default=0) < 0:
            raise VerifyError(f"pads {list(self.pads)} crop {fmt(shape)} below zero size")
        return [tensor_of(out, self.input.type.element)]


@irdl_op("nn.resize")
class ResizeOp(NnOp):
    """Nearest or (multi)linear resampling to `sizes`; `scales` map output to input coordinates.

    %r = nn.resize(%x) {scales = [1.0, 1.0, 2.0, 2.0], sizes = [1, 4, 8, 8]} : (tensor<1x4x4x4xf32>) -> tensor<1x4x8x8xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    scales = attr(FLOATS)
    sizes = attr(INTS)
    mode = attr(one_of("nearest", "linear"), default="nearest")
    coordinate_transformation_mode = attr(
        one_of("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"),
        default="half_pixel",
    )
    nearest_mode = attr(
        one_of("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"), default="round_prefer_floor"
    )

    def infer_types(self) -> list[TensorType]:
        shape = self.input.type.shape
        check_lengths("scales", self.scales, len(shape))
        check_lengths("sizes", self.sizes, len(shape), minimum=1)
        if any(s <= 0 for s in self.scales):
            raise VerifyError(f"'scales' {list(self.scales)} must be positive")
        return [tensor_of(self.sizes, self.input.type.element)]


@irdl_op("nn.reduce_mean")
class ReduceMeanOp(NnOp):
    """Mean over `axes`; `keepdims` keeps them as size 1.

    %m = nn.reduce_mean(%x) {axes = [2, 3]} : (tensor<1x8x4x4xf32>) -> tensor<1x8x1x1xf32>
    """

    input = operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    axes = attr(INTS)
    keepdims = attr(BOOL, default=True)

    def infer_types(self) -> list[TensorType]:
        shape = self.input.type.shape
        axes = _axes(self.axes, len(shape))
        dims = [1 if i in axes else d for i, d in enumerate(shape) if self.keepdims or i not in axes]
        return [tensor_of(dims, self.input.type.element)]


@irdl_op("nn.gather")
class GatherOp(NnOp):
    """Pick entries of `data` along `axis` at `indices` (negative ones count from the end).

    %g = nn.gather(%table, %ids) {axis = 0} : (tensor<100x16xf32>, tensor<1x5xi64>) -> tensor<1x5x16xf32>
    """

    data = operand(ANY_TENSOR)
    indices = operand(INT_TENSOR)
    output = result(ANY_TENSOR)
    axis = attr(INT, default=0)

    def infer_types(self) -> list[TensorType]:
        shape = require_rank(self.data, "data", at_least=1)
        axis = normalize_axis(self.axis, len(shape))
        dims = (*shape[:axis], *self.indices.type.shape, *shape[axis + 1 :])
        return [tensor_of(dims, self.data.type.element)]


OPS = (
    ConcatOp, SplitOp, SliceOp, ReshapeOp, FlattenOp, TransposeOp, SqueezeOp, UnsqueezeOp, PadOp, ResizeOp,
    ReduceMeanOp, GatherOp,
)

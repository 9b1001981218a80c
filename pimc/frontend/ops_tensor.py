"""Converters for ONNX ops that move data or only describe it: Identity, Dropout, Shape, Size, Concat, Split,
Slice, Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Pad, Resize, ReduceMean, Gather.

    Reshape(x, shape = [0, -1])  ->  nn.reshape(%x) {shape = [1, 64]}

Shape-like inputs must be constants by the time the node is reached (after
folding); otherwise the node stays generic.
"""

from __future__ import annotations

import math

import numpy as np

from pimc.dialects.nn_tensor import (
    ConcatOp, FlattenOp, GatherOp, PadOp, ReduceMeanOp, ReshapeOp, ResizeOp, SliceOp, SplitOp, SqueezeOp,
    TransposeOp, UnsqueezeOp,
)
from pimc.frontend.registry import ANY_NUMBER, converter


def _ints(tensor) -> tuple[int, ...] | None:
    """A constant integer input as a tuple; None if it is missing or not constant."""
    if tensor is None or tensor.const is None:
        return None
    return tuple(int(v) for v in np.asarray(tensor.const).reshape(-1))


def _axes(axes, rank: int) -> tuple[int, ...] | None:
    """Axes made non-negative; None if one is out of range."""
    if any(not -rank <= a < rank for a in axes):
        return None
    return tuple(a % rank for a in axes)


@converter("Identity")
def identity(imp, input):
    return [input]


@converter("Dropout", outputs=2)
def dropout(imp, data, ratio=None, training_mode=None, *, seed=0):
    """Inference-mode Dropout passes its input through; its mask is all true."""
    if training_mode is not None and (training_mode.const is None or bool(training_mode.const)):
        return None
    return [data, np.ones(data.type.shape, dtype=bool)]


@converter("Shape")
def shape(imp, data, *, start=0, end=None):
    return [np.array(data.type.shape[start:end], dtype=np.int64)]


@converter("Size")
def size(imp, data):
    return [np.array(data.type.num_elements, dtype=np.int64)]


@converter("Concat")
def concat(imp, *inputs, axis):
    if len({t.type.element for t in inputs}) != 1 or _axes((axis,), inputs[0].type.rank) is None:
        return None
    return imp.emit(ConcatOp, list(inputs), axis=axis % inputs[0].type.rank)


@converter("Split", outputs=ANY_NUMBER)
def split(imp, input, split=None, *, axis=0, num_outputs=None):
    rank = input.type.rank
    if _axes((axis,), rank) is None:
        return None
    axis %= rank
    dim = input.type.shape[axis]
    count = sum(1 for name in imp.node.output if name) if num_outputs is None else num_outputs
    sizes = _ints(split)
    if split is not None and sizes is None:
        return None
    if sizes is None:
        chunk = -(-dim // count)
        sizes = tuple(min(chunk, dim - i * chunk) for i in range(count))
    return imp.emit(SplitOp, [input], axis=axis, split=sizes)


@converter("Slice")
def slice_(imp, data, starts, ends, axes=None, steps=None):
    shape = data.type.shape
    begin, end = _ints(starts), _ints(ends)
    axes = _ints(axes) if axes is not None else tuple(range(len(begin or ())))
    steps = _ints(steps) if steps is not None else (1,) * len(axes or ())
    if None in (begin, end, axes, steps) or 0 in steps or _axes(axes, len(shape)) is None:
        return None
    axes = _axes(axes, len(shape))
    starts_out, ends_out = [], []
    for axis, b, e, step in zip(axes, begin, end, steps):
        size = shape[axis]
        b, e = b + size if b < 0 else b, e + size if e < 0 else e
        high = size - 1 if step < 0 else size
        starts_out.append(min(max(b, 0), high))
        ends_out.append(min(max(e, -1 if step < 0 else 0), high))
    return imp.emit(SliceOp, [data], starts=starts_out, ends=ends_out, axes=axes, steps=steps)


@converter("Reshape")
def reshape(imp, data, shape, *, allowzero=0):
    target = _ints(shape)
    if target is None:
        return None
    source = data.type.shape
    dims = [source[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    if dims.count(-1) == 1:
        known = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = data.type.num_elements // known if known else 0
    return imp.emit(ReshapeOp, [data], shape=dims)


@converter("Flatten")
def flatten(imp, input, *, axis=1):
    rank = input.type.rank
    return imp.emit(FlattenOp, [input], axis=axis + rank if axis < 0 else axis)


@converter("Transpose")
def transpose(imp, data, *, perm=()):
    return imp.emit(TransposeOp, [data], perm=perm or tuple(reversed(range(data.type.rank))))


@converter("Squeeze")
def squeeze(imp, data, axes=None):
    shape = data.type.shape
    found = _ints(axes) if axes is not None else tuple(i for i, d in enumerate(shape) if d == 1)
    if found is None or _axes(found, len(shape)) is None:
        return None
    return imp.emit(SqueezeOp, [data], axes=sorted(_axes(found, len(shape))))


@converter("Unsqueeze")
def unsqueeze(imp, data, axes):
    found = _ints(axes)
    rank = data.type.rank + len(found or ())
    if found is None or _axes(found, rank) is None:
        return None
    return imp.emit(UnsqueezeOp, [data], axes=sorted(_axes(found, rank)))


@converter("Pad")
def pad(imp, data, pads, constant_value=None, axes=None, *, mode="constant"):
    amounts, rank = _ints(pads), data.type.rank
    chosen = _ints(axes) if axes is not None else tuple(range(rank))
    if amounts is None or chosen is None or _axes(chosen, rank) is None or len(amounts) != 2 * len(chosen):
        return None
    if constant_value is not None and constant_value.const is None:
        return None
    full = [0] * (2 * rank)
    for i, axis in enumerate(_axes(chosen, rank)):
        full[axis], full[rank + axis] = amounts[i], amounts[len(chosen) + i]
    given = constant_value is not None and constant_value.const.size
    value = float(constant_value.const.reshape(-1)[0]) if given else 0.0
    return imp.emit(PadOp, [data], pads=full, mode=mode, value=value)


_COORDINATES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric")


@converter("Resize")
def resize(imp, X, roi=None, scales=None, sizes=None, *, antialias=0, axes=(),
           coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.75, exclude_outside=0,
           extrapolation_value=0.0, keep_aspect_ratio_policy="stretch", mode="nearest",
           nearest_mode="round_prefer_floor"):
    shape, rank = X.type.shape, X.type.rank
    chosen = _axes(axes or tuple(range(rank)), rank)
    given_scales = scales.const if scales is not None else None
    given_sizes = _ints(sizes)
    if (mode not in ("nearest", "linear") or antialias or chosen is None
            or keep_aspect_ratio_policy not in ("stretch", "not_larger", "not_smaller")
            or coordinate_transformation_mode not in _COORDINATES
            or (scales is not None and given_scales is None) or (sizes is not None and given_sizes is None)):
        return None
    factors, out = [1.0] * rank, list(shape)
    if given_sizes and keep_aspect_ratio_policy != "stretch":
        ratios = [size / shape[axis] for axis, size in zip(chosen, given_sizes)]
        scale = min(ratios) if keep_aspect_ratio_policy == "not_larger" else max(ratios)
        for axis in chosen:
            factors[axis], out[axis] = scale, int(scale * shape[axis] + 0.5)
    elif given_sizes:
        for axis, size in zip(chosen, given_sizes):
            factors[axis], out[axis] = size / shape[axis], size
    elif given_scales is not None and given_scales.size:
        for axis, factor in zip(chosen, given_scales.reshape(-1)):
            factors[axis], out[axis] = float(factor), int(math.floor(shape[axis] * float(factor)))
    else:
        return None
    if imp.node.output[0] in imp.prepared.legacy_resize:
        return _legacy_resize(imp, X, factors, out, mode)
    return imp.emit(ResizeOp, [X], scales=factors, sizes=out, mode=mode,
                    coordinate_transformation_mode=coordinate_transformation_mode, nearest_mode=nearest_mode)


def _legacy_resize(imp, X, factors: list[float], out: list[int], mode: str) -> list:
    """Upsample and Resize-10 as onnxruntime runs them: asymmetric coordinates, and nearest rounds down
    along enlarged axes but up along shrunk ones, so those get a resize of their own first."""
    if mode == "linear":
        return imp.emit(ResizeOp, [X], scales=factors, sizes=out, mode=mode,
                        coordinate_transformation_mode="asymmetric")
    shrunk = [f < 1 for f in factors]
    if any(shrunk):
        sizes = [o if s else d for o, s, d in zip(out, shrunk, X.type.shape)]
        scales = [f if s else 1.0 for f, s in zip(factors, shrunk)]
        X = imp.emit(ResizeOp, [X], scales=scales, sizes=sizes, coordinate_transformation_mode="asymmetric",
                     nearest_mode="ceil")[0]
        if all(f <= 1 for f in factors):
            return [X]
        factors = [1.0 if s else f for f, s in zip(factors, shrunk)]
    return imp.emit(ResizeOp, [X], scales=factors, sizes=out, coordinate_transformation_mode="asymmetric",
                    nearest_mode="floor")


@converter("ReduceMean")
def reduce_mean(imp, data, axes_input=None, *, axes=(), keepdims=1, noop_with_empty_axes=0):
    rank = data.type.rank
    found = _ints(axes_input) if axes_input is not None else tuple(axes)
    if found is None or _axes(found, rank) is None:
        return None
    if not found and noop_with_empty_axes:
        return [data]
    return imp.emit(ReduceMeanOp, [data], axes=sorted(_axes(found, rank)) if found else tuple(range(rank)),
                    keepdims=bool(keepdims))


@converter("Gather")
def gather(imp, data, indices, *, axis=0):
    if not indices.type.element.is_integer or _axes((axis,), data.type.rank) is None:
        return None
    return imp.emit(GatherOp, [data, indices], axis=axis % data.type.rank)

"""numpy semantics of the data-movement `nn` ops: concat, split, slice, reshapes, transpose, pad, resize,
reduce_mean, gather.

    %r = nn.resize(%x) {scales = [1.0, 1.0, 2.0, 2.0], sizes = [1, 4, 8, 8]}  ->  one axis at a time
"""

from __future__ import annotations

import numpy as np

from pimc.dialects import nn_tensor as t
from pimc.interp.registry import impl


@impl(t.ConcatOp)
def concat(interp, op, *inputs):
    return np.concatenate(inputs, axis=op.axis)


@impl(t.SplitOp)
def split(interp, op, x):
    return np.split(x, np.cumsum(op.split)[:-1], axis=op.axis)


@impl(t.SliceOp)
def slice_(interp, op, x):
    index = [slice(None)] * x.ndim
    for axis, start, end, step in zip(op.axes, op.starts, op.ends, op.steps):
        index[axis] = slice(start, None if end < 0 else end, step)
    return x[tuple(index)]


@impl(t.ShapeOnlyOp)
def reshape(interp, op, x):
    return x.reshape(op.output.type.shape)


@impl(t.TransposeOp)
def transpose(interp, op, x):
    return x.transpose(op.perm)


@impl(t.PadOp)
def pad(interp, op, x):
    rank = x.ndim
    begins, ends = op.pads[:rank], op.pads[rank:]
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begins, ends)))
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends)]
    x = x[crop]
    if op.mode == "constant":
        return np.pad(x, widths, constant_values=np.asarray(op.value).astype(x.dtype))
    return np.pad(x, widths, mode=op.mode)


def _source_coordinates(op, axis: int, size_in: int, size_out: int) -> np.ndarray:
    """Where each output index along `axis` samples the input, as ONNX Resize defines it."""
    scale = op.scales[axis]
    x = np.arange(size_out, dtype=np.float64)
    width = scale * size_in
    mode = op.coordinate_transformation_mode
    if mode == "asymmetric":
        return x / scale
    if mode == "align_corners":
        return np.zeros_like(x) if width == 1 else x * (size_in - 1) / (width - 1)
    if mode == "pytorch_half_pixel" and width == 1:
        return np.full_like(x, -0.5)
    centre = (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        return size_in / 2 * (1 - size_out / width) + centre
    return centre


def _nearest(coordinates: np.ndarray, mode: str) -> np.ndarray:
    floor = np.floor(coordinates)
    if mode == "floor":
        return floor
    if mode == "ceil":
        return np.ceil(coordinates)
    fraction = coordinates - floor
    if mode == "round_prefer_floor":
        return np.where(fraction <= 0.5, floor, floor + 1)
    return np.where(fraction < 0.5, floor, floor + 1)


@impl(t.ResizeOp)
def resize(interp, op, x):
    y = x.astype(np.float64)
    for axis, (size_in, size_out) in enumerate(zip(x.shape, op.sizes)):
        if size_in == size_out and op.scales[axis] == 1.0:
            continue
        coordinates = _source_coordinates(op, axis, size_in, size_out)
        if op.mode == "nearest":
            index = np.clip(_nearest(coordinates, op.nearest_mode), 0, size_in - 1).astype(np.int64)
            y = np.take(y, index, axis=axis)
            continue
        low = np.floor(coordinates)
        fraction = (coordinates - low).reshape([-1 if i == axis else 1 for i in range(x.ndim)])
        low = low.astype(np.int64)
        below = np.take(y, np.clip(low, 0, size_in - 1), axis=axis)
        above = np.take(y, np.clip(low + 1, 0, size_in - 1), axis=axis)
        y = below * (1 - fraction) + above * fraction
    return y


@impl(t.ReduceMeanOp)
def reduce_mean(interp, op, x):
    return x.astype(np.float64).mean(axis=tuple(op.axes), keepdims=op.keepdims)


@impl(t.GatherOp)
def gather(interp, op, data, indices):
    return np.take(data, indices.astype(np.int64), axis=op.axis)


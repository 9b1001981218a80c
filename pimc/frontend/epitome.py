"""Epitome layers in ONNX: a conv weight sampled from a smaller constant imports as `ep.conv2d` (docs/epitome.md).

    E -> Gather(rows, axis 0) -> Gather(cols, axis 1) -> Conv(x, .)  ->  %y = ep.conv2d(%x, %E) {patch = [8, 8], stride = [4, 4]}

Exporters write a PyTorch epitome layer's sampling as data movement on constants: Gather, Tile, Expand or
Concat, then Slice, Reshape and the like. The importer folds such nodes, and `trace` runs each one a second
time on flat indices into the tensor it samples, so the folded constant remembers where every element came
from. A conv whose weight came from a smaller 4-D constant with its kernel, by a channel sampling that
pimc's model spells (`ep.sample_indices`), becomes `ep.conv2d` on that constant; any other stays `nn.conv2d`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from pimc.dialects import ep
from pimc.dialects.nn_conv import Conv2dOp

SAMPLES = frozenset({"Gather", "Tile", "Expand", "Concat"})  # ops that can replicate a constant: a trace starts
MOVES = SAMPLES | {"Slice", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Identity"}  # ops a trace goes through


@dataclass(frozen=True)
class Origin:
    """Where a folded constant's elements came from: `index` holds each one's flat index into `source`."""

    source: object  # the importer's Tensor of the sampled constant
    index: np.ndarray


def trace(node: onnx.NodeProto, inputs: list, run: Callable[[dict[str, np.ndarray]], list[np.ndarray]]) -> Origin | None:
    """The origin of the output of a constant data-movement `node`; `run` evaluates it on given constants."""
    if node.domain not in ("", "ai.onnx") or node.op_type not in MOVES or len(node.output) != 1:
        return None
    moved = inputs if node.op_type == "Concat" else inputs[:1]
    if not moved or any(t is None or t.const.dtype.kind != "f" for t in moved):
        return None
    origins = [t.origin or (Origin(t, np.arange(t.const.size).reshape(t.const.shape)) if node.op_type in SAMPLES
                            else None) for t in moved]
    if any(o is None or o.source is not origins[0].source for o in origins):
        return None
    constants = {t.name: t.const for t in inputs if t is not None}
    constants.update((t.name, o.index) for t, o in zip(moved, origins))
    return Origin(origins[0].source, run(constants)[0])


def sampling(weight) -> tuple[object, tuple[int, int], tuple[int, int]] | None:
    """(the epitome's Tensor, patch, stride) when the conv weight `weight` was sampled from a smaller constant."""
    origin = getattr(weight, "origin", None)
    if origin is None or origin.source.const.ndim != 4 or origin.index.ndim != 4:
        return None
    (co, ci, kh, kw), index = origin.index.shape, origin.index
    co_e, ci_e, *kernel = origin.source.const.shape
    if tuple(kernel) != (kh, kw) or co_e > co or ci_e > ci or co_e * ci_e == co * ci:
        return None
    rows, cols = index[:, 0, 0, 0] // (ci_e * kh * kw), index[0, :, 0, 0] // (kh * kw) % ci_e
    grid = np.ix_(rows, cols, np.arange(kh), np.arange(kw))
    if not np.array_equal(index, np.ravel_multi_index(grid, origin.source.const.shape)):
        return None
    found = [_patch_and_stride(rows, co_e), _patch_and_stride(cols, ci_e)]
    if None in found:
        return None
    (patch_o, stride_o), (patch_i, stride_i) = found
    return origin.source, (patch_o, patch_i), (stride_o, stride_i)


def _patch_and_stride(indices: np.ndarray, size: int) -> tuple[int, int] | None:
    """The patch and stride whose `ep.sample_indices` are `indices`: the patch ends where they first leave
    j mod size, and the next patch starts at the stride. NES's plain repeat is (size, size)."""
    leaves = np.flatnonzero(indices != np.arange(len(indices)) % size)
    if not len(leaves):
        return size, size
    patch = int(leaves[0])
    if not 0 < patch <= size:
        return None
    stride = int(indices[patch])
    return (patch, stride) if np.array_equal(ep.sample_indices(len(indices), patch, stride, size), indices) else None


def epitome_conv(imp, conv: Conv2dOp, found: tuple[object, tuple[int, int], tuple[int, int]]) -> list:
    """Replace the just-emitted `conv` by `ep.conv2d` on the epitome; its full weight goes unused."""
    epitome, patch, stride = found
    operands = [conv.input, imp.value(epitome)] + ([conv.bias] if conv.bias is not None else [])
    op = ep.Conv2dOp.build(operands, [conv.output.type], conv.location, **conv.attributes, patch=patch, stride=stride)
    results = imp.append(op)
    conv.erase()
    return results

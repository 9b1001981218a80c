"""NIR (the Neuromorphic Intermediate Representation, HDF5) -> the `snn` dialect, one call per timestep.

    nir.Conv2d -> snn.conv2d, Affine/Linear -> snn.affine, SumPool2d/AvgPool2d -> snn.sum_pool2d/avg_pool2d,
    Flatten -> snn.flatten, IF -> snn.if, LIF -> snn.lif (snn.if when it does not leak)

The file is read with the `nir` package's HDF5 reader into plain dictionaries, so files of any NIR version
(with or without `v_reset`) read the same. The graph must be a chain from one Input to one Output; any other
node type, a nested graph, a fork or a recurrent edge is a one-line error naming it.

NIR leaves three things open in discrete time; they are options (`SnnOptions`):
- `reset`: "subtract" (Sinabs and Speck; default) or "zero";
- `compare`: "gt" (v > threshold, NIR's rule; default) or "ge";
- `dt`: the timestep in seconds for LIF nodes, beta = 1 - dt / tau and input gain r * dt / tau (default 1e-4,
  the step snnTorch and Sinabs' importers assume; snnTorch writes r = tau / dt, so its gain is 1, also for
  tau = r = inf, which is how it writes a non-leaky neuron). IF nodes integrate r * I per timestep.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pimc.diagnostics import Diagnostic, DiagnosticError, error_at
from pimc.dialects import snn
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp, ReturnOp
from pimc.dialects.nn_base import window_output
from pimc.dialects.nn_conv import WeightOp
from pimc.ir.irdl import VerifyError
from pimc.ir.location import NameLoc
from pimc.ir.types import ScalarType, TensorType

F32 = ScalarType("f32")
SUPPORTED = ("Input", "Output", "Conv2d", "Affine", "Linear", "SumPool2d", "AvgPool2d", "Flatten", "IF", "LIF")


@dataclass(frozen=True)
class SnnOptions:
    """How NIR's continuous-time neurons become discrete-time ones (see the module docstring)."""

    reset: Literal["subtract", "zero"] = "subtract"
    compare: Literal["gt", "ge"] = "gt"
    dt: float = 1e-4


def _error(message: str) -> DiagnosticError:
    return DiagnosticError(Diagnostic(message))


def read_graph(path: str) -> dict:
    """The top-level NIR graph of `path` as nested dictionaries (nir's `hdf2dict`)."""
    import h5py
    from nir.serialization import hdf2dict

    try:
        with h5py.File(path, "r") as file:
            if "node" not in file:
                raise _error("not a NIR file: it has no 'node' group")
            return hdf2dict(file["node"])
    except OSError as failure:
        reason = str(failure).partition("(")[2].rstrip(")") or str(failure)
        raise _error(f"not a NIR file: it is not HDF5 ({reason})") from None


def import_nir(path: str, options: SnnOptions = SnnOptions(), batch: int = 1) -> ModuleOp:
    """Import the NIR file at `path` into a module at stage "snn" whose @main takes `batch` samples per call."""
    name = re.sub(r"[^A-Za-z0-9_.$-]", "_", os.path.splitext(os.path.basename(path))[0]) or "model"
    graph = read_graph(path)
    if _text(graph.get("type")) != "NIRGraph":
        raise _error(f"the top-level node is a {_text(graph.get('type'))}, not a NIRGraph")
    return NirImporter(graph, options, name, batch).run()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def chain(graph: dict) -> list[str]:
    """The node names from the Input to the Output; an unsupported node, a fork or a cycle is an error."""
    nodes = graph["nodes"]
    for name, node in nodes.items():
        kind = _text(node["type"])
        if kind not in SUPPORTED:
            raise error_at(NameLoc(name),
                           f"NIR node type '{kind}' is not supported (supported: {', '.join(SUPPORTED)})")
    edges = [(_text(a), _text(b)) for a, b in np.asarray(graph.get("edges", [])).reshape(-1, 2)]
    following: dict[str, list[str]] = {}
    for a, b in edges:
        following.setdefault(a, []).append(b)
    inputs = [n for n, node in nodes.items() if _text(node["type"]) == "Input"]
    if len(inputs) != 1:
        raise _error(f"the graph has {len(inputs)} Input nodes; pimc takes exactly one")
    back = _back_edge(inputs[0], following)
    if back is not None:
        raise error_at(NameLoc(back[0]), f"recurrent edge '{back[0]}' -> '{back[1]}': feedback connections are not "
                                         "supported")
    order, seen = [inputs[0]], {inputs[0]}
    while _text(nodes[order[-1]]["type"]) != "Output":
        nexts = following.get(order[-1], [])
        if len(nexts) != 1:
            raise error_at(NameLoc(order[-1]), f"node has {len(nexts)} successors; pimc takes a chain of nodes from "
                                               "Input to Output")
        order.append(nexts[0])
        seen.add(nexts[0])
    stray = sorted(set(nodes) - seen)
    if stray:
        raise error_at(NameLoc(stray[0]), "node is not on the chain from Input to Output")
    return order


def hint(name: str) -> str:
    """A value name for node `name`: MLIR names that start with a digit must be all digits."""
    return name if not name[:1].isdigit() else f"n{name}"


def _back_edge(start: str, following: dict[str, list[str]]) -> tuple[str, str] | None:
    """An edge that closes a cycle reachable from `start` (depth first, in edge order), or None."""
    state, stack = {start: 1}, [(start, iter(following.get(start, [])))]
    while stack:
        node, successors = stack[-1]
        nxt = next(successors, None)
        if nxt is None:
            state[node] = 2
            stack.pop()
        elif state.get(nxt) == 1:
            return node, nxt
        elif nxt not in state:
            state[nxt] = 1
            stack.append((nxt, iter(following.get(nxt, []))))
    return None


def _pair(value, what: str, where: str) -> tuple[int, int]:
    flat = np.asarray(value).reshape(-1)
    if flat.size == 1:
        return int(flat[0]), int(flat[0])
    if flat.size == 2:
        return int(flat[0]), int(flat[1])
    raise error_at(NameLoc(where), f"{what} must have one or two entries, got {list(flat)}")


def _uniform(node: dict, key: str, where: str, default: float | None = None) -> float:
    """One value for a whole layer: NIR stores neuron parameters per neuron."""
    if key not in node:
        if default is None:
            raise error_at(NameLoc(where), f"has no '{key}'")
        return default
    values = np.asarray(node[key], dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.all(values == values[0]):
        raise error_at(NameLoc(where), f"'{key}' differs between neurons ({values.min():g} to {values.max():g}); "
                                       "pimc takes one value per layer")
    return float(values[0])


class NirImporter:
    """Builds the module node by node along the chain; `shape` is the current value's per-timestep shape."""

    def __init__(self, graph: dict, options: SnnOptions, name: str, batch: int = 1) -> None:
        self.graph, self.options, self.batch = graph, options, batch
        self.module = ModuleOp.empty(name, {"stage": "snn"})

    def run(self) -> ModuleOp:
        order = chain(self.graph)
        nodes = self.graph["nodes"]
        shape = (self.batch, *(int(d) for d in np.asarray(nodes[order[0]]["shape"]).reshape(-1)))
        func = FuncOp.create("main", [TensorType(shape, F32)], [])
        self.module.body.append(func)
        self.block = func.body
        value = func.arguments[0]
        value.name_hint = hint(order[0])
        for name in order[1:-1]:
            value = self.convert(name, nodes[name], value)
        func.attributes["result_types"] = (value.type,)
        self.block.append(ReturnOp([value]))
        return self.module

    def weight(self, name: str, key: str, array) -> object:
        array = np.asarray(array, dtype=np.float32)
        ref = self.module.weights.add(f"{hint(name)}.{key}", array)
        op = WeightOp.build([], [TensorType(array.shape, F32)], NameLoc(name), ref=ref)
        op.results[0].name_hint = ref
        self.block.append(op)
        return op.results[0]

    def emit(self, op_class, name: str, operands: list, shape: tuple[int, ...], **attributes):
        defaults = op_class.definition.attributes
        kept = {k: v for k, v in attributes.items() if defaults[k].kind.coerce(v) != defaults[k].default}
        op = op_class.build(operands, [TensorType(tuple(shape), F32)], NameLoc(name), **kept)
        try:
            op.verify_()
        except VerifyError as failure:
            raise error_at(NameLoc(name), f"does not fit '{op_class.name}': {failure}") from None
        op.results[0].name_hint = hint(name)
        self.block.append(op)
        return op.results[0]

    def convert(self, name: str, node: dict, x):
        kind = _text(node["type"])
        shape = x.type.shape
        if kind in ("Conv2d",):
            return self.conv2d(name, node, x)
        if kind in ("Affine", "Linear"):
            if len(shape) != 2:
                raise error_at(NameLoc(name), f"{kind} needs a flat input, but gets shape {list(shape[1:])}; "
                                              "a Flatten must come first")
            weight = np.asarray(node["weight"])
            operands = [x, self.weight(name, "weight", weight)]
            if kind == "Affine" and np.any(np.asarray(node["bias"]) != 0):
                operands.append(self.weight(name, "bias", node["bias"]))
            return self.emit(snn.AffineOp, name, operands, (shape[0], weight.shape[0]))
        if kind in ("SumPool2d", "AvgPool2d"):
            return self.pool(name, node, x, snn.SumPool2dOp if kind == "SumPool2d" else snn.AvgPool2dOp)
        if kind == "Flatten":
            dims = (int(node.get("start_dim", 0)), int(node.get("end_dim", -1)))
            if dims[0] != 0 or dims[1] not in (-1, len(shape) - 2):
                raise error_at(NameLoc(name), f"Flatten over dims {dims[0]}..{dims[1]} of {list(shape[1:])} is not "
                                              "supported; pimc flattens a whole sample (start_dim=0, end_dim=-1)")
            return self.emit(snn.FlattenOp, name, [x], (shape[0], int(np.prod(shape[1:]))))
        return self.neuron(name, kind, node, x)

    def conv2d(self, name: str, node: dict, x):
        weight = np.asarray(node["weight"])
        if weight.ndim != 4 or x.type.rank != 4:
            raise error_at(NameLoc(name), f"Conv2d needs a 4-D weight and a C x H x W input, got weight "
                                          f"{list(weight.shape)} and input {list(x.type.shape[1:])}")
        n, _, h, w = x.type.shape
        kernel = weight.shape[2:]
        strides, dilations = _pair(node["stride"], "stride", name), _pair(node["dilation"], "dilation", name)
        padding = node["padding"]
        if isinstance(padding, (str, bytes)):
            same = _text(padding) == "same"
            pads = [(dilations[i] * (kernel[i] - 1)) // 2 if same else 0 for i in range(2)]
            ends = [dilations[i] * (kernel[i] - 1) - pads[i] if same else 0 for i in range(2)]
        else:
            pads = list(_pair(padding, "padding", name))
            ends = pads
        operands = [x, self.weight(name, "weight", weight)]
        if "bias" in node and np.any(np.asarray(node["bias"]) != 0):
            operands.append(self.weight(name, "bias", node["bias"]))
        out = (n, weight.shape[0], window_output(h, kernel[0], strides[0], pads[0], ends[0], dilations[0]),
               window_output(w, kernel[1], strides[1], pads[1], ends[1], dilations[1]))
        return self.emit(snn.Conv2dOp, name, operands, out, strides=strides, pads=(*pads, *ends),
                         dilations=dilations, group=int(np.asarray(node.get("groups", 1))))

    def pool(self, name: str, node: dict, x, op_class):
        if x.type.rank != 4:
            raise error_at(NameLoc(name), f"pooling needs a C x H x W input, got {list(x.type.shape[1:])}")
        n, c, h, w = x.type.shape
        kernel = _pair(node["kernel_size"], "kernel_size", name)
        strides = _pair(node["stride"], "stride", name)
        pads = _pair(node.get("padding", 0), "padding", name)
        out = (n, c, window_output(h, kernel[0], strides[0], pads[0], pads[0], 1),
               window_output(w, kernel[1], strides[1], pads[1], pads[1], 1))
        return self.emit(op_class, name, [x], out, kernel=kernel, strides=strides, pads=(*pads, *pads))

    def neuron(self, name: str, kind: str, node: dict, x):
        options = self.options
        threshold = _uniform(node, "v_threshold", name)
        if _uniform(node, "v_reset", name, 0.0) != 0.0:
            raise error_at(NameLoc(name), "'v_reset' must be 0: pimc resets to zero or by subtraction")
        common = dict(threshold=threshold, reset=options.reset, compare=options.compare)
        r = _uniform(node, "r", name, 1.0)
        if kind == "IF":
            return self.emit(snn.IfOp, name, [x], x.type.shape, gain=r, **common)
        if _uniform(node, "v_leak", name, 0.0) != 0.0:
            raise error_at(NameLoc(name), "LIF with 'v_leak' other than 0 is not supported")
        tau = _uniform(node, "tau", name)
        beta = 1.0 - options.dt / tau
        gain = 1.0 if np.isinf(tau) and np.isinf(r) else r * options.dt / tau
        gain = 1.0 if abs(gain - 1.0) < 1e-6 else gain  # r = tau / dt, up to float32 rounding (snnTorch)
        if beta == 1.0:
            return self.emit(snn.IfOp, name, [x], x.type.shape, gain=gain, **common)
        return self.emit(snn.LifOp, name, [x], x.type.shape, beta=beta, gain=gain, **common)

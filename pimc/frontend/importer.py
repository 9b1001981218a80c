"""ONNX -> the `nn` dialect. Nodes are visited in order; each one is folded, converted, or kept generic.

    %c = nn.conv2d(%x, %w) {pads = [1, 1, 1, 1]} : (...) -> tensor<1x4x4x4xf32> loc("/features/features.0/Conv")

A node whose inputs are all constants is evaluated (onnx's reference
implementation) and never appears in the IR. Otherwise the converter for its
op type (see `converters`) builds `nn` ops, or declines, and then the node
becomes a generic `onnx.<OpType>` op that runs on the host. Every op gets
the node's name as its location, every result the ONNX tensor name as its
name hint. Afterwards `canonicalize` folds BatchNormalization and other
per-channel Mul/Add chains into the conv or gemm before them.
"""

from __future__ import annotations

import os
import re
from collections import Counter

import numpy as np
import onnx

from pimc.diagnostics import DiagnosticError, error_at
from pimc.dialects import q
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp, ReturnOp
from pimc.dialects.nn_base import NnOp
from pimc.dialects.nn_conv import WeightOp
from pimc.dialects.onnx import RESERVED, OnnxOp, from_onnx_attribute
from pimc.dialects.q_canonicalize import unsigned_activations
from pimc.frontend import converters, mlg
from pimc.frontend.epitome import Origin, trace
from pimc.frontend.load import first_line, load_onnx
from pimc.frontend.nodes import NONDETERMINISTIC, evaluate, infer_types
from pimc.frontend.prepare import Prepared, check_size, prepare
from pimc.frontend.types import UnsupportedType, array_type, element_type, shape_of
from pimc.ir.core import Operation, Value
from pimc.ir.irdl import VerifyError
from pimc.ir.location import NameLoc, UnknownLoc
from pimc.ir.types import TensorType
from pimc.weights import WeightStore, used_refs


class Tensor:
    """An ONNX tensor during import: a constant array, an IR value, or both once the constant is used. A constant
    that data movement sampled from another keeps its `origin` (`frontend/epitome.py`)."""

    __slots__ = ("name", "const", "value", "origin")

    def __init__(self, name: str, const: np.ndarray | None = None, value: Value | None = None,
                 origin: Origin | None = None) -> None:
        self.name, self.const, self.value, self.origin = name, const, value, origin

    @property
    def type(self) -> TensorType:
        return self.value.type if self.value is not None else array_type(self.const)


def import_onnx(path: str, input_shapes: dict[str, tuple[int, ...]] | None = None) -> ModuleOp:
    """Import the ONNX file at `path`; the module is named after the file."""
    return import_model(load_onnx(path), input_shapes or {}, module_name(path))


def module_name(path: str) -> str:
    """`models/resnet-50.onnx` -> `resnet-50`."""
    return re.sub(r"[^A-Za-z0-9_.$-]", "_", os.path.splitext(os.path.basename(path))[0]) or "model"


def import_model(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]], name: str = "model") -> ModuleOp:
    """Check, normalize and import `model`; DiagnosticError on anything pimc cannot take."""
    from pimc.ir.verifier import verify
    from pimc.dialects.canonicalize import canonicalize

    prepared = prepare(model, input_shapes)
    module = Importer(prepared, name).run()
    module.notes = prepared.notes
    verify(module)
    canonicalize(module)
    for func in module.funcs():
        unsigned_activations(list(func.body.ops))
    if any(isinstance(op, (q.Conv2dOp, q.GemmOp)) for op in module.walk()):
        module.attributes["stage"] = "quant"  # the model arrived quantized
    module.weights = WeightStore({ref: module.weights[ref] for ref in sorted(used_refs(module))})
    return module


def host_ops(module: ModuleOp) -> Counter:
    """How many ops of each generic `onnx.*` kind the module has: they run on the host."""
    return Counter(op.op_name for op in module.walk() if isinstance(op, OnnxOp))


class Importer:
    """Builds one module from a prepared graph; converters call `emit`, `value` and `weight`."""

    def __init__(self, prepared: Prepared, name: str) -> None:
        self.prepared = prepared
        self.opsets = prepared.opsets
        self.module = ModuleOp.empty(name, {"stage": "nn"})
        self.func = FuncOp.create("main", [t for _, t in prepared.inputs], [])
        self.module.body.append(self.func)
        self.block = self.func.body
        self.tensors = {name: Tensor(name, const) for name, const in prepared.constants.items()}
        for (input_name, _), arg in zip(prepared.inputs, self.func.arguments):
            arg.name_hint = input_name
            self.tensors[input_name] = Tensor(input_name, value=arg)
        self.location = UnknownLoc()
        self.node = onnx.NodeProto()

    def run(self) -> ModuleOp:
        self._import_nodes(self.prepared.graph.node)
        self.location = UnknownLoc()
        results = [self.value(self._tensor(output.name)) for output in self.prepared.graph.output]
        self.func.attributes["result_types"] = tuple(v.type for v in results)
        self.block.append(ReturnOp(results))
        return self.module

    # ------------------------------------------------------------------ the converter API

    def emit(self, op_class: type[NnOp], operands: list, **attributes) -> list[Value]:
        """Append an `nn` op at the current node's location; operands are Tensors or Values."""
        values = [self.value(o) if isinstance(o, Tensor) else o for o in operands if o is not None]
        try:
            op = op_class.create(values, self.location, **attributes)
        except VerifyError as failure:
            raise error_at(self.location, f"{self.node.op_type} does not fit '{op_class.name}': {failure}") from None
        self.block.append(op)
        return list(op.results)

    def append(self, op: Operation) -> list[Value]:
        """Append an op built by hand (e.g. `nn.cast`) at the current node's location."""
        op.location = self.location
        self.block.append(op)
        return list(op.results)

    def value(self, tensor: Tensor) -> Value:
        """The IR value of `tensor`; a constant becomes an `nn.weight` at its first use (`mlg.generate` if MLG
        generation computed it: `frontend/mlg.py`)."""
        if tensor.value is None:
            tensor.value = mlg.generated(self, tensor)
        if tensor.value is None:
            ref = self.module.weights.add(tensor.name, tensor.const)
            op = WeightOp.build([], [tensor.type], ref=ref)
            op.result.name_hint = tensor.name
            self.block.append(op)
            tensor.value = op.result
        return tensor.value

    def weight(self, array: np.ndarray, hint: str) -> Tensor:
        """A new constant computed by a converter (a folded scale, a reshaped kernel, ...)."""
        return Tensor(hint, np.ascontiguousarray(array))

    # ------------------------------------------------------------------ one node

    def _import_nodes(self, nodes) -> None:
        for index, node in enumerate(nodes):
            self.node, self.location = node, NameLoc(node.name or f"{node.op_type}_{index}")
            try:
                self._import_node(node)
            except UnsupportedType as failure:
                raise error_at(self.location, f"{node.op_type}: a tensor has {failure}") from None

    def _tensor(self, name: str) -> Tensor:
        if name not in self.tensors:
            raise error_at(self.location, f"tensor '{name}' is used before any node produces it")
        return self.tensors[name]

    def _import_node(self, node: onnx.NodeProto) -> None:
        inputs = [self._tensor(name) if name else None for name in node.input]
        default_domain = node.domain in ("", "ai.onnx")
        constant = all(t is None or t.const is not None for t in inputs)
        if default_domain and node.op_type == "If" and constant:
            self._take_branch(node, bool(inputs[0].const.reshape(-1)[0]))
            return
        if default_domain and constant and node.op_type not in NONDETERMINISTIC:
            results = self._convert(node, inputs) if node.op_type in converters.KEPT_CONSTANT else None
            if results is None:
                self._fold(node, inputs)
                return
        else:
            results = self._convert(node, inputs) or self._generic(node, inputs)
        for name, result in zip([n for n in node.output if n], results):
            self._bind(name, result)

    def _bind(self, name: str, result: Value | Tensor | np.ndarray) -> None:
        if isinstance(result, Tensor):
            self.tensors[name] = result
        elif isinstance(result, np.ndarray):
            self.tensors[name] = Tensor(name, result)
        else:
            if result.name_hint is None:
                result.name_hint = name
            self._check_shape(name, result.type)
            self.tensors[name] = Tensor(name, value=result)

    def _check_shape(self, name: str, type_) -> None:
        """A computed tensor too large to allocate is an error at its node (empty ones are fine: ONNX defines them)."""
        if not isinstance(type_, TensorType):
            return
        try:
            check_size(f"{self.node.op_type}: output '{name}'", type_)
        except DiagnosticError as failure:
            raise error_at(self.location, failure.diagnostic.message) from None

    def _fold(self, node: onnx.NodeProto, inputs: list[Tensor | None]) -> None:
        constants = {t.name: t.const for t in inputs if t is not None}
        try:
            arrays = evaluate(node, constants, self.opsets)
        except Exception as failure:  # the reference implementation raises anything
            raise error_at(self.location, f"cannot evaluate constant {node.op_type}: {first_line(failure)}") from None
        origin = trace(node, inputs, lambda sampled: evaluate(node, sampled, self.opsets))
        for name, array in zip(node.output, arrays):
            if name:
                self.tensors[name] = Tensor(name, array, origin=origin)

    def _take_branch(self, node: onnx.NodeProto, condition: bool) -> None:
        """An If with a constant condition is the branch it takes: its nodes are imported in its place."""
        from onnx import numpy_helper

        chosen = "then_branch" if condition else "else_branch"
        branch = next(a.g for a in node.attribute if a.name == chosen)
        for init in branch.initializer:
            self.tensors[init.name] = Tensor(init.name, numpy_helper.to_array(init))
        self._import_nodes(branch.node)
        for name, output in zip(node.output, branch.output):
            if name:
                self.tensors[name] = self._tensor(output.name)

    def _convert(self, node: onnx.NodeProto, inputs: list[Tensor | None]) -> list | None:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        spec = converters.CONVERTERS.get(key)
        if spec is None or sum(1 for n in node.output if n) > spec.outputs:
            return None
        try:
            attributes = {a.name: from_onnx_attribute(a) for a in node.attribute}
        except ValueError:
            return None
        if not spec.accepts(attributes):
            return None
        results = spec.function(self, *inputs, **attributes)
        if results is not None and len(results) < sum(1 for n in node.output if n):
            return None
        return results

    def _generic(self, node: onnx.NodeProto, inputs: list[Tensor | None]) -> list[Value]:
        where = self.location
        try:
            attributes = {a.name: from_onnx_attribute(a) for a in node.attribute}
        except ValueError as failure:
            raise error_at(where, f"cannot import {node.op_type}: its {failure}") from None
        clash = [k for k in attributes if k in RESERVED]
        if clash:
            raise error_at(where, f"cannot import {node.op_type}: attribute '{clash[0]}' is reserved by pimc")
        types = self._generic_types(node, inputs)
        domain = "" if node.domain == "ai.onnx" else node.domain
        attributes["opset"] = self.opsets.get(domain, 1)
        if domain:
            attributes["domain"] = domain
        slots = [i for i, t in enumerate(inputs) if t is not None]
        if slots != list(range(len(slots))):
            attributes["operand_slots"] = tuple(slots)
        outs = [i for i, n in enumerate(node.output) if n]
        if outs != list(range(len(outs))):
            attributes["result_slots"] = tuple(outs)
        operands = [self.value(t) for t in inputs if t is not None]
        op = OnnxOp(operands, types, attributes, location=where, op_name=f"onnx.{node.op_type}")
        self.block.append(op)
        return list(op.results)

    def _generic_types(self, node: onnx.NodeProto, inputs: list[Tensor | None]) -> list[TensorType]:
        present = [t for t in inputs if t is not None]
        types = {t.name: t.type for t in present}
        constants = {t.name: t.const for t in present if t.const is not None}
        try:
            inferred = infer_types(node, types, constants, self.opsets)
        except Exception as failure:  # shape inference raises InferenceError, RuntimeError, ...
            raise error_at(self.location, f"{node.op_type}: {first_line(failure)}") from None
        result = []
        for name, proto in zip([n for n in node.output if n], inferred):
            kind = proto.WhichOneof("value") if proto is not None else None
            if kind not in (None, "tensor_type"):
                raise error_at(self.location, f"{node.op_type}: output '{name}' is a {kind.removesuffix('_type')}, "
                                              "and pimc imports tensors only")
            dims = shape_of(proto) if kind == "tensor_type" else None
            if dims is None or not all(isinstance(d, int) for d in dims):
                raise error_at(self.location, f"{node.op_type}: cannot infer a static shape for output '{name}'")
            result.append(TensorType(tuple(dims), element_type(proto.tensor_type.elem_type)))
        return result

"""Normalize a loaded ONNX model before import: inline its local functions, check it, fix input shapes,
upgrade its opset.

    prepared = prepare(model, {"x": (1, 3, 224, 224)})   # graph at opset >= 17, static inputs

The checks and the version converter run on a *skeleton*: the graph with its
large initializers replaced by typed graph inputs, so neither serializes the
weights. Small initializers stay, because shape inference and the converter
may read their values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnx.inliner

from pimc.frontend.load import error, first_line
from pimc.frontend.types import UnsupportedType, element_type, shape_of
from pimc.ir.types import TensorType

TARGET_OPSET = 17  # older models are upgraded to this opset; newer ones are kept as they are
SMALL = 4096  # initializers with at most this many elements stay in the skeleton


@dataclass
class Prepared:
    """A graph ready for import: topologically ordered nodes, every constant, static input types."""

    graph: onnx.GraphProto
    opsets: dict[str, int]
    constants: dict[str, np.ndarray]
    inputs: list[tuple[str, TensorType]]
    legacy_resize: frozenset[str] = frozenset()  # outputs of Resize nodes that were Upsample or Resize-10


def prepare(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> Prepared:
    """Check `model`, resolve its input shapes and upgrade it; DiagnosticError names what is wrong."""
    from onnx import numpy_helper

    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    skeleton = _skeleton(model, constants)
    if skeleton.functions:
        skeleton = onnx.inliner.inline_local_functions(skeleton)
    try:
        onnx.checker.check_model(skeleton, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as failure:
        raise error(f"invalid ONNX graph: {first_line(failure)}") from None
    inputs = _input_types([i for i in graph.input if i.name not in constants], input_shapes)
    opsets = {o.domain or "": o.version for o in skeleton.opset_import}
    legacy = frozenset()
    if opsets.get("", TARGET_OPSET) < TARGET_OPSET:
        if opsets[""] < 11:
            legacy = frozenset(n.output[0] for n in skeleton.graph.node if n.op_type in ("Upsample", "Resize"))
        skeleton = _upgrade(skeleton, opsets[""])
        opsets[""] = TARGET_OPSET
        added = [init for init in skeleton.graph.initializer if init.name not in constants]
        constants.update((init.name, numpy_helper.to_array(init)) for init in added)
    return Prepared(skeleton.graph, opsets, constants, inputs, legacy)


def _skeleton(model: onnx.ModelProto, constants: dict[str, np.ndarray]) -> onnx.ModelProto:
    """`model` without its large initializers, which become typed graph inputs."""
    from onnx import helper

    graph = model.graph
    skeleton = onnx.ModelProto(ir_version=model.ir_version, producer_name=model.producer_name)
    skeleton.opset_import.extend(model.opset_import)
    skeleton.functions.extend(model.functions)
    out = skeleton.graph
    out.name = graph.name
    out.node.extend(graph.node)
    out.input.extend(graph.input)
    out.output.extend(graph.output)
    out.value_info.extend(graph.value_info)
    listed = {i.name for i in graph.input}
    for init in graph.initializer:
        if constants[init.name].size <= SMALL:
            out.initializer.append(init)
        elif init.name not in listed:
            out.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return skeleton


def _input_types(inputs, input_shapes: dict[str, tuple[int, ...]]) -> list[tuple[str, TensorType]]:
    names = [i.name for i in inputs]
    unknown = [n for n in input_shapes if n not in names]
    if unknown:
        raise error(f"--input-shape names '{unknown[0]}', but the graph inputs are: {', '.join(names) or '(none)'}")
    return [(i.name, _input_type(i, input_shapes.get(i.name))) for i in inputs]


def _input_type(info, given: tuple[int, ...] | None) -> TensorType:
    name = info.name
    kind = info.type.WhichOneof("value")
    if kind != "tensor_type":
        what = {None: "a value without a type", "optional_type": "an optional"}.get(
            kind, f"a {str(kind).removesuffix('_type')}")
        raise error(f"input '{name}' is {what}; pimc imports tensors only")
    try:
        element = element_type(info.type.tensor_type.elem_type)
    except UnsupportedType as failure:
        raise error(f"input '{name}' has {failure}") from None
    dims = shape_of(info.type)
    if given is None:
        if dims is None:
            raise error(f"input '{name}' has no shape; give it with --input-shape {name}=D0,D1,...")
        symbolic = ["?" if d is None else d for d in dims if not isinstance(d, int)]
        if symbolic:
            plural = "s" if len(symbolic) > 1 else ""
            template = _csv(_shown(dims)[1:-1].split(", "))
            raise error(f"input '{name}' has symbolic dimension{plural} {', '.join(symbolic)} in shape {_shown(dims)}; "
                        f"give {'their' if plural else 'its'} size with --input-shape {name}={template}")
        return TensorType(tuple(dims), element)
    if dims is not None and len(dims) != len(given):
        raise error(f"--input-shape {name}={_csv(given)} has {len(given)} dimensions, "
                    f"but input '{name}' has shape {_shown(dims)}")
    for axis, (dim, size) in enumerate(zip(dims or given, given)):
        if isinstance(dim, int) and dim != size:
            raise error(f"--input-shape {name}={_csv(given)} sets dimension {axis} to {size}, "
                        f"but input '{name}' has {dim} there")
    return TensorType(tuple(given), element)


def _shown(dims: list) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _csv(values) -> str:
    return ",".join(map(str, values))


def _upgrade(skeleton: onnx.ModelProto, version: int) -> onnx.ModelProto:
    from onnx import version_converter

    try:
        return version_converter.convert_version(skeleton, TARGET_OPSET)
    except Exception as failure:  # the converter raises bare RuntimeErrors and more
        raise error(f"cannot upgrade the model from opset {version} to {TARGET_OPSET}: {first_line(failure)}") from None

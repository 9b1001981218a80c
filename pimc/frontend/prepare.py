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
    notes: tuple[str, ...] = ()  # what the import chose for the user, e.g. a free batch dimension set to 1


def prepare(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> Prepared:
    """Check `model`, resolve its input shapes and upgrade it; DiagnosticError names what is wrong."""
    from onnx import numpy_helper

    graph = model.graph
    constants = {init.name: _initializer(init) for init in graph.initializer}
    notes: list[str] = []
    skeleton = _skeleton(model, constants, notes)
    try:
        if skeleton.functions:
            skeleton = onnx.inliner.inline_local_functions(skeleton)
        onnx.checker.check_model(skeleton, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as failure:
        raise error(f"invalid ONNX graph: {first_line(failure)}") from None
    except UnicodeDecodeError as failure:  # protobuf keeps a string onnx's C++ cannot decode
        raise error(f"invalid ONNX graph: a name or string is not UTF-8 (byte {failure.start} of "
                    f"{first_line(repr(failure.object), 60)})") from None
    _check_finite_weights(graph, constants)
    inputs = _input_types([i for i in graph.input if i.name not in constants], input_shapes, notes)
    opsets = {o.domain or "": o.version for o in skeleton.opset_import}
    legacy = frozenset()
    if opsets.get("", TARGET_OPSET) < TARGET_OPSET:
        if opsets[""] < 11:
            legacy = frozenset(n.output[0] for n in skeleton.graph.node if n.op_type in ("Upsample", "Resize"))
        skeleton = _upgrade(skeleton, opsets[""])
        opsets[""] = TARGET_OPSET
        added = [init for init in skeleton.graph.initializer if init.name not in constants]
        constants.update((init.name, numpy_helper.to_array(init)) for init in added)
    return Prepared(skeleton.graph, opsets, constants, inputs, legacy, tuple(notes))


WEIGHTED = {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "QLinearConv", "QLinearMatMul"}


def _check_finite_weights(graph: onnx.GraphProto, constants: dict[str, np.ndarray]) -> None:
    """A NaN or Inf among a layer's weights is an error naming the initializer and its node (a -inf mask
    feeding an Add, as attention writes it, is a value, not a weight, and is left alone)."""
    for index, node in enumerate(graph.node):
        if node.op_type not in WEIGHTED:
            continue
        for name in node.input[1:]:
            array = constants.get(name)
            if array is None or array.dtype.kind != "f" or np.isfinite(array).all():
                continue
            nan = int(np.isnan(array).sum())
            what = "NaN" if nan else "Inf"
            count = nan or int(np.isinf(array).sum())
            raise error(f"initializer '{name}' of node \"{node.name or f'{node.op_type}_{index}'}\" holds {what} "
                        f"({count} of {array.size} values); pimc needs finite weights")


def _initializer(init: onnx.TensorProto) -> np.ndarray:
    """The array of an initializer; one whose stored bytes do not match its dims is an error naming it."""
    from onnx import numpy_helper

    if any(d < 0 for d in init.dims):
        raise error(f"initializer '{init.name}' has a negative dimension in {list(init.dims)}")
    if init.HasField("raw_data") and init.data_location != onnx.TensorProto.EXTERNAL:
        try:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = 0
        count = int(np.prod(init.dims, dtype=np.int64)) if init.dims else 1
        if itemsize and init.data_type != onnx.TensorProto.STRING and len(init.raw_data) != count * itemsize:
            raise error(f"initializer '{init.name}' holds {len(init.raw_data)} bytes of raw_data, but its dims "
                        f"{list(init.dims)} of {onnx.TensorProto.DataType.Name(init.data_type)} need {count * itemsize}")
    try:
        return numpy_helper.to_array(init)
    except Exception as failure:  # numpy and onnx raise ValueError, TypeError, ...
        raise error(f"cannot read initializer '{init.name}': {first_line(failure)}") from None


def _skeleton(model: onnx.ModelProto, constants: dict[str, np.ndarray], notes: list[str]) -> onnx.ModelProto:
    """`model` without its large initializers, which become typed graph inputs. An IR-3 model must list every
    initializer as a graph input; onnxruntime runs it when it does not, so pimc lists them, with a note."""
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
        small = constants[init.name].size <= SMALL
        if small:
            out.initializer.append(init)
        if init.name not in listed and (not small or model.ir_version < 4):
            out.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    unlisted = sum(init.name not in listed for init in graph.initializer) if model.ir_version < 4 else 0
    if unlisted:
        notes.append(f"the model is ONNX IR version {model.ir_version}, which lists every initializer as a graph "
                     f"input, but {unlisted} are not listed; onnxruntime accepts that, and so does pimc")
    return skeleton


def _input_types(inputs, input_shapes: dict[str, tuple[int, ...]], notes: list[str]) -> list[tuple[str, TensorType]]:
    names = [i.name for i in inputs]
    unknown = [n for n in input_shapes if n not in names]
    if unknown:
        raise error(f"--input-shape names '{unknown[0]}', but the graph inputs are: {', '.join(names) or '(none)'}")
    types = [(i.name, _input_type(i, input_shapes.get(i.name), notes)) for i in inputs]
    for name, type_ in types:
        check_size(f"input '{name}'", type_)
    return types


def _input_type(info, given: tuple[int, ...] | None, notes: list[str]) -> TensorType:
    """The static type of graph input `info`: its own dims, `given` ones, or a free batch dimension set to 1."""
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
    if given is not None:
        return TensorType(_given(name, dims, given), element)
    if dims is None:
        raise error(f"input '{name}' has no shape; give it with --input-shape, e.g. --input-shape {name}=1,3,224,224")
    if len(dims) >= 2 and _free(dims[0]) and not any(_free(d) for d in dims[1:]):
        notes.append(f"input '{name}' has a free batch dimension ({_dim(dims[0])} in {_shown(dims)}); using 1 "
                     f"(--input-shape {name}={_csv([8, *dims[1:]])} sets another)")
        dims = [1, *dims[1:]]
    free = [_dim(d) for d in dims if _free(d)]
    if free:
        plural = "s" if len(free) > 1 else ""
        example = [16 if _free(d) else d for d in dims]
        if _free(dims[0]):
            example[0] = 1
        raise error(f"input '{name}' has symbolic dimension{plural} {', '.join(free)} in shape {_shown(dims)}; "
                    f"give {'their sizes' if plural else 'its size'} with --input-shape, "
                    f"e.g. --input-shape {name}={_csv(example)}")
    if 0 in dims:
        raise error(f"input '{name}' has a zero-sized dimension (axis {dims.index(0)} of {_shown(dims)}); "
                    f"pimc needs every size to be at least 1")
    return TensorType(tuple(dims), element)


def _given(name: str, dims: list | None, given: tuple[int, ...]) -> tuple[int, ...]:
    """`--input-shape` for input `name`: it may set any symbolic or -1 dimension, and must keep static ones."""
    if dims is not None and len(dims) != len(given):
        raise error(f"--input-shape {name}={_csv(given)} has {len(given)} dimensions, "
                    f"but input '{name}' has shape {_shown(dims)}")
    for axis, (dim, size) in enumerate(zip(dims or given, given)):
        if not _free(dim) and dim != size:
            raise error(f"--input-shape {name}={_csv(given)} sets dimension {axis} to {size}, "
                        f"but input '{name}' has {dim} there")
    return tuple(given)


def _free(dim) -> bool:
    """A dimension the model leaves open: symbolic, unknown, or stored as -1 (as Paddle writes dynamic ones)."""
    return not isinstance(dim, int) or dim < 0


def _dim(dim) -> str:
    return "?" if dim is None else str(dim)


MAX_TENSOR_BYTES = 4 << 30  # one tensor larger than this is refused before anything allocates it


def check_size(what: str, type_: TensorType) -> None:
    """Refuse a tensor larger than MAX_TENSOR_BYTES, saying how much it would need."""
    count = 1
    for size in type_.shape:
        count *= size
    needed = count * type_.element.numpy_dtype().itemsize
    if needed > MAX_TENSOR_BYTES:
        raise error(f"{what} of shape {_shown(list(type_.shape))} ({type_.element}) would need {_bytes(needed)}; "
                    f"pimc refuses tensors over {_bytes(MAX_TENSOR_BYTES)} (give a smaller --input-shape)")


def _bytes(count: int) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


def _shown(dims: list) -> str:
    return "[" + ", ".join(_dim(d) for d in dims) + "]"


def _csv(values) -> str:
    return ",".join(map(str, values))


def _upgrade(skeleton: onnx.ModelProto, version: int) -> onnx.ModelProto:
    from onnx import version_converter

    try:
        return version_converter.convert_version(skeleton, TARGET_OPSET)
    except Exception as failure:  # the converter raises bare RuntimeErrors and more
        raise error(f"cannot upgrade the model from opset {version} to {TARGET_OPSET}: {first_line(failure)}") from None

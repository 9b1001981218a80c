"""One ONNX node on its own: evaluate it on constants, infer its output types, keep it as `onnx.<OpType>`.

    evaluate(shape_node, {"x": array}, {"": 17})  ->  [array([1, 3, 8, 8])]

Both build a one-node model and hand it to onnx: the reference evaluator
computes, shape inference types. Constant inputs go in as initializers, so
shapes that depend on their values (Reshape, Expand, ...) come out static.
An op whose schema has no shape inference of its own, only a body that
depends on its input types (GroupNormalization), is typed through that body.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pimc.frontend.types import value_info
from pimc.ir.types import TensorType

EXPANDED = "pimc.expanded"  # the domain of an op's own body called as a local function

NONDETERMINISTIC = frozenset(
    {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli"}
)

# ops whose older versions onnx's reference evaluator lacks, with the first version it implements
REFERENCE_SINCE = {"QuantizeLinear": 19, "DequantizeLinear": 19}


def one_node_model(node: onnx.NodeProto, inputs: list, initializers: list, opsets: dict[str, int]) -> onnx.ModelProto:
    """A model holding only `node`, with the given graph inputs (ValueInfoProto) and initializers."""
    outputs = [helper.make_empty_tensor_value_info(name) for name in node.output if name]
    graph = helper.make_graph([node], "node", inputs, outputs, initializers)
    imports = [helper.make_opsetid(domain, version) for domain, version in opsets.items()]
    return helper.make_model(graph, opset_imports=imports, ir_version=onnx.IR_VERSION)


def evaluate(node: onnx.NodeProto, constants: dict[str, np.ndarray], opsets: dict[str, int]) -> list[np.ndarray]:
    """Run `node` on constant inputs with onnx's reference implementation."""
    from onnx.reference import ReferenceEvaluator

    feeds = {name: constants[name] for name in node.input if name}
    inputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
              for name, a in feeds.items()]
    if node.op_type in REFERENCE_SINCE and not node.domain:  # the same op for pimc's types, implemented only since then
        opsets = {**opsets, "": max(opsets.get("", 1), REFERENCE_SINCE[node.op_type])}
    model = one_node_model(node, inputs, [], opsets)
    return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, feeds)]


def infer_types(node: onnx.NodeProto, types: dict[str, TensorType], constants: dict[str, np.ndarray],
                opsets: dict[str, int]) -> list[onnx.TypeProto | None]:
    """The TypeProto onnx shape inference gives each present output of `node` (None where it gives none)."""
    present = dict.fromkeys(name for name in node.input if name)
    inputs = [value_info(name, types[name]) for name in present if name not in constants]
    initializers = [numpy_helper.from_array(constants[name], name) for name in present if name in constants]
    model = one_node_model(node, inputs, initializers, opsets)
    found = _inferred(model)
    if not all(found[name].tensor_type.HasField("shape") for name in node.output if name):
        body = _context_dependent_body(node, types, opsets)
        if body is not None:
            found = _inferred(_calling(model, body))
    return [found.get(name) for name in node.output if name]


def _inferred(model: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    """Every value's TypeProto after shape inference; the outputs are always there, maybe empty."""
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    return {info.name: info.type for info in (*inferred.graph.output, *inferred.graph.value_info)}


def _context_dependent_body(node: onnx.NodeProto, types: dict[str, TensorType],
                            opsets: dict[str, int]) -> onnx.FunctionProto | None:
    """The body ONNX builds for `node` from its input types, when its op has one."""
    from onnx import defs

    try:
        schema = defs.get_schema(node.op_type, opsets.get(node.domain, 1), node.domain)
    except defs.SchemaError:
        return None
    if not schema.has_context_dependent_function:
        return None
    inputs = [value_info(name, types[name]).type if name else onnx.TypeProto() for name in node.input]
    body = onnx.FunctionProto()
    body.ParseFromString(schema.get_context_dependent_function(
        node.SerializeToString(), [t.SerializeToString() for t in inputs]))
    return body


def _calling(model: onnx.ModelProto, body: onnx.FunctionProto) -> onnx.ModelProto:
    """`model` with its node calling `body` as a model-local function, which shape inference reads."""
    body.domain = EXPANDED
    model.functions.append(body)
    model.graph.node[0].domain = EXPANDED
    model.opset_import.append(helper.make_opsetid(EXPANDED, 1))
    return model

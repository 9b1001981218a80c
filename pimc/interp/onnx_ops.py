"""Generic `onnx.<OpType>` ops run through onnx's reference implementation, one evaluator per op.

    %y = onnx.Hardmax(%x) {axis = 1, opset = 17}  ->  ReferenceEvaluator(<one-node model>).run(...)
"""

from __future__ import annotations

from pimc.dialects.onnx import OnnxOp
from pimc.interp.registry import impl


@impl(OnnxOp)
def run_onnx(interp, op: OnnxOp, *inputs):
    evaluator = interp.cache.get(op)
    if evaluator is None:
        from onnx.reference import ReferenceEvaluator

        evaluator = interp.cache[op] = ReferenceEvaluator(one_node_model(op))
    names = [f"in{i}" for i in range(len(inputs))]
    return evaluator.run(None, dict(zip(names, inputs)))


def one_node_model(op: OnnxOp):
    """A ModelProto of `op` alone: inputs `in0, in1, ...`, outputs `out0, out1, ...`."""
    import onnx  # here, not at the top: importing onnx costs half a second that a program without onnx ops never needs
    from onnx import helper

    from pimc.frontend.types import value_info

    inputs = [value_info(f"in{i}", v.type) for i, v in enumerate(op.operands)]
    outputs = [value_info(f"out{i}", v.type) for i, v in enumerate(op.results)]
    node = op.to_node([i.name for i in inputs], [o.name for o in outputs])
    graph = helper.make_graph([node], op.op_type, inputs, outputs)
    opset = helper.make_opsetid(op.domain, op.opset)
    return helper.make_model(graph, opset_imports=[opset], ir_version=onnx.IR_VERSION)

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

        evaluator = interp.cache[op] = ReferenceEvaluator(op.to_model())
    names = [f"in{i}" for i in range(len(inputs))]
    return evaluator.run(None, dict(zip(names, inputs)))

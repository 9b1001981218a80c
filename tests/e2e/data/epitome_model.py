"""A model with PyTorch-style epitome layers, and a check of pimc's IR of it against onnxruntime.

    python tests/e2e/data/epitome_model.py OUT.onnx               # write the model
    python tests/e2e/data/epitome_model.py compare MODEL.onnx IR.pimc   # onnxruntime on MODEL vs pimc on IR

An epitome layer keeps only its epitome E as a parameter and computes its conv weight in the graph:
`/conv1` samples E1 (4x3x3x3) with Gathers, patch (2, 3), stride (1, 3), into 8x6x3x3; `/conv2` repeats
E2 (4x4x1x1) NES-style with Concat, Tile and Slice into 6x8x1x1 (patch = epitome, stride = patch).
pimc's importer recognises both samplings and imports each conv as `ep.conv2d` on its epitome.
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pimc.dialects.ep import sample_indices


def model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [f"{name}_output_0"], name=name, **attrs))
        return f"{name}_output_0"

    e1 = const("conv1.epitome", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    rows = node("Gather", [e1, const("conv1.rows", sample_indices(8, 2, 1, 4))], "/conv1/Gather", axis=0)
    w1 = node("Gather", [rows, const("conv1.cols", sample_indices(6, 3, 3, 3))], "/conv1/Gather_1", axis=1)
    y1 = node("Conv", ["x", w1, const("conv1.bias", rng.standard_normal(8).astype(np.float32))], "/conv1/Conv",
              pads=[1, 1, 1, 1])
    r1 = node("Relu", [y1], "/relu/Relu")
    e2 = const("conv2.epitome", rng.standard_normal((4, 4, 1, 1)).astype(np.float32))
    wide = node("Concat", [e2, e2], "/conv2/Concat", axis=1)
    tall = node("Tile", [wide, const("conv2.repeats", np.array([2, 1, 1, 1]))], "/conv2/Tile")
    w2 = node("Slice", [tall, const("conv2.start", np.array([0])), const("conv2.end", np.array([6])),
                        const("conv2.axes", np.array([0]))], "/conv2/Slice")
    node("Conv", [r1, w2], "/conv2/Conv")
    graph = helper.make_graph(nodes, "epitome", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 8, 8])],
                              [helper.make_tensor_value_info("/conv2/Conv_output_0", TensorProto.FLOAT, [1, 6, 8, 8])],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                             producer_name="pimc-tests")


def compare_folded(onnx_path: str, ir_path: str) -> bool:
    """Print how pimc's interpreter on the IR compares with onnxruntime on the model, as `pimc verify` does."""
    import onnxruntime

    from pimc.interp.compare import compare
    from pimc.interp.interpreter import Interpreter
    from pimc.text.parser import parse_module, read_text
    from pimc.weights import store_beside

    module = parse_module(read_text(ir_path), ir_path)
    module.weights = store_beside(ir_path, module.attributes.get("weights"))
    x = np.random.default_rng(0).standard_normal((1, 6, 8, 8)).astype(np.float32)
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    reference = session.run(None, {"x": x})[0]
    (computed,) = Interpreter(module, record=False).run([x])
    c = compare("y", reference, computed, rtol=1e-4, atol=1e-5)
    ops = sorted(op.op_name for op in module.walk() if op.op_name.endswith("conv2d"))
    print(f"convs: {', '.join(ops)}")
    print(f"max abs err {c.max_abs_error:.1e}  max rel err {c.max_rel_error:.1e}  cosine {c.cosine:.7f}")
    print("ok" if c.ok else "MISMATCH")
    return c.ok


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "compare":
        return 0 if compare_folded(argv[1], argv[2]) else 1
    if len(argv) != 1:
        print("usage: epitome_model.py OUT.onnx | compare MODEL.onnx IR.pimc", file=sys.stderr)
        return 2
    onnx.save(model(), argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

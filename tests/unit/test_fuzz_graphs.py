"""Fuzzing (a): random small valid graphs, built with onnx.helper, through pimc against onnxruntime at the nn stage,
and through the `isaac` target, whose simulated program must equal the integer reference bit for bit.

    python tests/unit/test_fuzz_graphs.py 300      # a longer run than CI's few examples
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

LAYERS = ["conv", "relu", "maxpool", "avgpool", "add", "mul", "concat", "sigmoid"]


@st.composite
def graphs(draw) -> onnx.ModelProto:
    """x [1, C, H, W] -> a chain of random layers -> flatten or reshape -> gemm; seeded weights."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(2, 8)), draw(st.integers(2, 8))
    nodes, inits, x = [], [], "x"
    shape = [1, c, h, w]

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(array.astype(np.float32) if array.dtype.kind == "f" else array, name))
        return name

    def conv(source: str, index: int, cin: int) -> tuple[str, list[int]]:
        out = draw(st.integers(1, 8))
        k = draw(st.integers(1, min(3, shape[2], shape[3])))
        stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, k // 2))
        weight = const(f"w{index}", rng.standard_normal((out, cin, k, k)) * 0.5)
        bias = const(f"b{index}", rng.standard_normal(out) * 0.1)
        name = f"conv{index}"
        nodes.append(helper.make_node("Conv", [source, weight, bias], [name], name=name, kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[pad] * 4))
        size = [(shape[d] + 2 * pad - k) // stride + 1 for d in (2, 3)]
        return name, [1, out, *size]

    for index, layer in enumerate(draw(st.lists(st.sampled_from(LAYERS), min_size=1, max_size=5))):
        name = f"{layer}{index}"
        if layer == "conv":
            x, shape = conv(x, index, shape[1])
        elif layer in ("relu", "sigmoid"):
            nodes.append(helper.make_node(layer.capitalize(), [x], [name], name=name))
            x = name
        elif layer in ("maxpool", "avgpool") and min(shape[2:]) >= 2:
            op = "MaxPool" if layer == "maxpool" else "AveragePool"
            nodes.append(helper.make_node(op, [x], [name], name=name, kernel_shape=[2, 2], strides=[2, 2]))
            x, shape = name, [*shape[:2], shape[2] // 2, shape[3] // 2]
        elif layer in ("add", "mul"):
            operand = const(f"k{index}", rng.standard_normal((shape[1], 1, 1)) * 0.5 + (layer == "mul"))
            nodes.append(helper.make_node(layer.capitalize(), [x, operand], [name], name=name))
            x = name
        elif layer == "concat":
            branch, branch_shape = conv(x, index, shape[1])
            if branch_shape[2:] == shape[2:]:
                nodes.append(helper.make_node("Concat", [x, branch], [name], name=name, axis=1))
                x, shape = name, [1, shape[1] + branch_shape[1], *shape[2:]]
    features = int(np.prod(shape))
    if draw(st.booleans()):
        nodes.append(helper.make_node("Flatten", [x], ["flat"], name="flatten", axis=1))
    else:
        nodes.append(helper.make_node("Reshape", [x, const("shape", np.array([1, -1], np.int64))], ["flat"], name="reshape"))
    classes = draw(st.integers(1, 10))
    nodes.append(helper.make_node("Gemm", ["flat", const("fc.w", rng.standard_normal((classes, features)) * 0.3),
                                          const("fc.b", rng.standard_normal(classes) * 0.1)], ["y"], name="fc", transB=1))
    graph = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def check_graph(model: onnx.ModelProto) -> None:
    from pimc.commands.verify import verify_model
    from pimc.compiler import compile_model
    from pimc.inputs import sample_input
    from pimc.targets import load_config
    from pimc.targets.simulator import Simulator

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "fuzz.onnx")
        onnx.save(model, path)
        report = verify_model(path, {}, all_ops=True)
        assert report.ok, report.as_json()
        compiled = compile_model(path, load_config("isaac"), {}, samples=2)
    inputs = sample_input("", compiled.module.funcs()[0])
    sim = Simulator(compiled.program)
    sim.run(inputs)
    saturated = sum(s.saturated for s in sim.stats.values())
    assert saturated or not compiled.mismatches(sim.buffers, inputs), "simulator differs from the integer reference"


test_random_graphs = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])(
    given(graphs())(check_graph))


if __name__ == "__main__":
    settings(max_examples=int(sys.argv[1]), deadline=None, suppress_health_check=list(HealthCheck))(
        given(graphs())(check_graph))()
    print(f"{sys.argv[1]} random graphs: pimc matches onnxruntime, and the isaac program its integer reference")

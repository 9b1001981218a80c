"""Property: a random grouped or depthwise conv compiled with its groups packed onto shared crossbars gives exactly
what it gives unpacked, and both equal the integer reference, on isaac and on differential and epim crossbars.

    python tests/unit/test_pack_groups.py 200      # a longer run than CI's few examples
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


@st.composite
def grouped_convs(draw) -> tuple[onnx.ModelProto, str]:
    """x [1, G*Cg, H, W] -> Conv(group=G) -> Relu, seeded weights; and the crossbar target to compile it for."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    groups, per_in, per_out = draw(st.integers(2, 12)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    k, stride = draw(st.sampled_from([1, 3])), draw(st.integers(1, 2))
    size = draw(st.integers(k, 7))
    weight = numpy_helper.from_array((rng.standard_normal((groups * per_out, per_in, k, k)) * 0.5).astype(np.float32), "w")
    bias = numpy_helper.from_array((rng.standard_normal(groups * per_out) * 0.1).astype(np.float32), "b")
    out = (size + 2 * (k // 2) - k) // stride + 1
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", group=groups, kernel_shape=[k, k],
                              strides=[stride, stride], pads=[k // 2] * 4),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "grouped", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, groups * per_in, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, groups * per_out, out, out])],
                              [weight, bias])
    target = draw(st.sampled_from(["isaac", "isaac{signed-encoding=differential xbar-rows=64}", "epim{xbar-cols=64}"]))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), target


def check_packing(case: tuple[onnx.ModelProto, str]) -> None:
    from pimc.compiler import compile_model
    from pimc.inputs import sample_input
    from pimc.targets import load_config
    from pimc.targets.simulator import Simulator

    model, target = case
    outputs, crossbars = [], []
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "grouped.onnx")
        onnx.save(model, path)
        for packed in ("true", "false"):
            spec = target.replace("}", f" pack-groups={packed}}}") if "{" in target else f"{target}{{pack-groups={packed}}}"
            compiled = compile_model(path, load_config(spec), {}, samples=2)
            inputs = sample_input("", compiled.module.funcs()[0])
            sim = Simulator(compiled.program)
            outputs.append(sim.run(inputs))
            crossbars.append(compiled.program.crossbars)
            assert not sum(s.saturated for s in sim.stats.values()), "a saturating case proves nothing here"
            assert not compiled.mismatches(sim.buffers, inputs), f"{spec}: simulator differs from the integer reference"
    assert all(np.array_equal(a, b) for a, b in zip(*outputs)), "packed and unpacked programs differ"
    packed, unpacked = crossbars
    config, conv = load_config(target), next(a for a in model.graph.node[0].attribute if a.name == "group")
    groups, (out, per_in, k, _) = conv.i, model.graph.initializer[0].dims
    cells = len(unpacked[0].cell_widths) * unpacked[0].planes  # cell columns per weight
    fit = min(config.xbar_rows // (per_in * k * k), config.xbar_cols // (out // groups * cells), groups)
    assert len(unpacked) == groups, "unpacked: one crossbar per group"
    assert len(packed) == -(-groups // fit), f"packed: {fit} of {groups} groups per crossbar, {[(x.rows, x.weights, x.blocks) for x in packed]}"
    assert max(x.blocks or 1 for x in packed) == fit


test_packed_equals_unpacked = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])(
    given(grouped_convs())(check_packing))


if __name__ == "__main__":
    settings(max_examples=int(sys.argv[1]), deadline=None, suppress_health_check=list(HealthCheck))(
        given(grouped_convs())(check_packing))()
    print(f"{sys.argv[1]} random grouped convs: packed programs equal unpacked ones and the integer reference")

"""A simulator that keeps only a run's outputs computes each xbar.add of never-clipping MVMs as one product: the same
outputs, bit for bit and type for type, and the same counts per crossbar as the simulator that keeps every partial
sum, on random convolutions split over crossbars, tiles and targets, and on the digits CNN spread over many tiles."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
SPREAD = "isaac{xbar-rows=32 xbars-per-ima=2 imas-per-tile=1}"  # many crossbars per layer, a few per tile


def same_runs(program, inputs: dict) -> tuple[int, int]:
    """Run both simulators on `inputs`, check they agree; (adds fused, sends and receives they made needless)."""
    from pimc.targets.simulator import Simulator

    kept, fused = Simulator(program), Simulator(program, outputs_only=True)
    for a, b in zip(kept.run(inputs), fused.run(inputs)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert {k: vars(v) for k, v in kept.stats.items()} == {k: vars(v) for k, v in fused.stats.items()}
    replaced = [i.op for group in fused.groups.values() for i in group.instructions]
    return replaced.count("vop"), replaced.count("send") + replaced.count("recv")


@st.composite
def conv_chains(draw) -> tuple[onnx.ModelProto, str]:
    """x [1, C, S, S] -> Conv -> Relu -> Conv -> Relu, seeded weights, and the target to compile it for."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    channels, middle, out = draw(st.integers(1, 24)), draw(st.integers(1, 24)), draw(st.integers(1, 40))
    size, k = draw(st.integers(3, 7)), draw(st.sampled_from([1, 3]))
    weights = [numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)
               for name, shape in (("w1", (middle, channels, k, k)), ("w2", (out, middle, k, k)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", kernel_shape=[k, k], pads=[k // 2] * 4),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", kernel_shape=[k, k], pads=[k // 2] * 4),
             helper.make_node("Relu", ["c2"], ["y"], name="relu2")]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out, size, size])], weights)
    target = draw(st.sampled_from([SPREAD, "isaac{xbar-rows=64}", "isaac{signed-encoding=differential xbar-rows=64}",
                                   "epim{xbar-rows=64}", "raella"]))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), target


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_chains())
def test_fused_sums_change_nothing(case):
    from pimc.compiler import compile_model
    from pimc.inputs import sample_input
    from pimc.targets import load_config

    model, target = case
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "chain.onnx")
        onnx.save(model, path)
        compiled = compile_model(path, load_config(target), {}, samples=2)
    same_runs(compiled.program, sample_input("", compiled.module.funcs()[0]))


def test_the_digits_cnn_over_many_tiles_sums_every_split_layer_in_one_product():
    from pimc.compiler import compile_model
    from pimc.targets import load_config

    compiled = compile_model(str(ROOT / "samples" / "digits_cnn.onnx"), load_config(SPREAD), {},
                             str(ROOT / "samples" / "digits_calib.npz"))
    x = np.load(ROOT / "samples" / "digits_test.npz")["x"]
    name = compiled.program.inputs[0][0]
    adds = sum(i.op == "vop" and i.args["kind"] == "xbar.add" for i in compiled.program.instructions)
    for sample in range(3):
        fused, moved = same_runs(compiled.program, {name: x[sample : sample + 1]})
        assert fused == adds and moved > 0, (fused, adds, moved)

"""The ISAAC back end end to end: programs that the simulator runs bit-exactly, accuracy on held-out data,
crossbar counts on the zoo, and agreement with onnxruntime."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from pimc.compiler import compile_model
from pimc.interp.compare import compare
from pimc.interp.interpreter import Interpreter
from pimc.targets import load_config
from pimc.targets.cost import estimate
from pimc.targets.program import read_program
from pimc.targets.simulator import Simulator

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
sys.path.insert(0, str(SAMPLES))
import zoo  # noqa: E402


def pimc(*args: str, status: int = 0) -> dict:
    done = subprocess.run([sys.executable, "-m", "pimc", *args, "--json"], capture_output=True, text=True)
    assert done.returncode == status, done.stderr
    return json.loads(done.stdout)


def simulated_and_reference(compiled, inputs: dict) -> tuple[Simulator, dict]:
    sim = Simulator(compiled.program)
    sim.run(inputs)
    reference: dict = {}
    func = compiled.module.funcs()[0]
    Interpreter(compiled.module, record=False, observer=lambda v, a: reference.__setitem__(v, a)).run(
        [inputs[a.name_hint] for a in func.arguments])
    return sim, reference


def assert_bit_exact(compiled, sim: Simulator, reference: dict) -> None:
    compared = 0
    for value, name in compiled.buffers.items():
        if name in sim.buffers:
            np.testing.assert_array_equal(sim.buffers[name], reference[value], err_msg=name)
            compared += 1
    assert compared > 0


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mlp"])
def test_digits_top1_within_half_a_point_of_onnxruntime(name):
    result = pimc("eval", str(SAMPLES / f"{name}.onnx"), "--target", "isaac", "--data", str(SAMPLES / "digits_test.npz"),
                  "--calib", str(SAMPLES / "digits_calib.npz"))
    assert result["samples"] == 360 and result["saturated_converts"] == 0
    assert abs(result["simulated_top1"] - result["reference_top1"]) <= 0.005


def test_verify_target_is_exact_against_the_integer_reference():
    report = pimc("verify", str(SAMPLES / "digits_cnn.onnx"), "--target", "isaac", "--inputs", str(SAMPLES / "digits_test.npz"),
                  "--all-ops")
    assert report["ok"] and report["integer_reference"]["exact"]
    assert report["fp32"][0]["cosine"] > 0.999 and len(report["layers"]) == 5


@pytest.mark.parametrize("target", ["isaac{adc-bits=6}", "isaac{dac-bits=2 adc-bits=7 column-flip=false}"])
def test_saturating_adcs_are_simulated_and_reported(target):
    """Saturation is the hardware's error, not the simulator's: verify passes while the cosine holds."""
    data = str(SAMPLES / "digits_test.npz")
    report = pimc("verify", str(SAMPLES / "digits_cnn.onnx"), "--target", target, "--inputs", data, "--min-cosine", "0.5")
    reference = report["integer_reference"]
    assert reference["saturated_converts"] > 0 and not reference["exact"] and reference["differing"] > 0
    assert report["ok"] and report["fp32"][0]["cosine"] < 0.9999
    strict = pimc("verify", str(SAMPLES / "digits_cnn.onnx"), "--target", target, "--inputs", data, "--min-cosine", "0.99",
                  status=1)
    assert not strict["ok"]


@pytest.mark.parametrize("target", ["isaac{signed-encoding=differential}", "isaac{column-flip=false xbar-rows=32}",
                                    "isaac{dac-bits=4 adc-bits=10 cell-bits=1}"])
def test_datapath_variants_are_bit_exact(target):
    data = np.load(SAMPLES / "digits_test.npz")
    compiled = compile_model(str(SAMPLES / "digits_cnn.onnx"), load_config(target), {"x": (4, 1, 8, 8)},
                             str(SAMPLES / "digits_test.npz"))
    sim, reference = simulated_and_reference(compiled, {"x": data["x"][:4]})
    assert all(s.saturated == 0 for s in sim.stats.values())
    assert_bit_exact(compiled, sim, reference)


def test_mvms_on_several_tiles_that_read_one_sent_buffer_take_one_product_and_stay_exact():
    data = np.load(SAMPLES / "digits_test.npz")
    config = load_config("isaac{xbar-rows=32 xbar-cols=32 xbars-per-ima=1 imas-per-tile=2}")  # layers span tiles
    compiled = compile_model(str(SAMPLES / "digits_cnn.onnx"), config, {"x": (4, 1, 8, 8)}, str(SAMPLES / "digits_test.npz"))
    sim, reference = simulated_and_reference(compiled, {"x": data["x"][:4]})
    assert any(len({i.tile for i in group.instructions}) > 1 for group in sim.groups.values())
    assert_bit_exact(compiled, sim, reference)


def test_duplicated_layers_split_their_vectors_and_stay_exact(tmp_path):
    config = load_config("isaac{duplicate=true xbars-per-ima=1 imas-per-tile=2 tiles=4}")
    compiled = compile_model(str(SAMPLES / "digits_cnn.onnx"), config, {"x": (1, 1, 8, 8)}, str(SAMPLES / "digits_test.npz"))
    copies = [i for i in compiled.program.instructions if i.op == "send" and "rows" in i.args]
    assert copies, "a copy on another tile sends its rows back"
    compiled.program.write(str(tmp_path / "program"))
    program = read_program(str(tmp_path / "program"))
    sim = Simulator(program)
    x = np.load(SAMPLES / "digits_test.npz")["x"][:1]
    sim.run({"x": x})
    reference: dict = {}
    Interpreter(compiled.module, record=False, observer=lambda v, a: reference.__setitem__(v, a)).run([x])
    for value, name in compiled.buffers.items():
        np.testing.assert_array_equal(sim.buffers[name], reference[value], err_msg=name)
    assert estimate(program)["totals"]["crossbars"] > compiled.module.attributes["crossbars"]


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2"])
def test_zoo_compiles_to_the_formula_and_simulates_exactly(name, tmp_path):
    path = tmp_path / f"{name}.onnx"
    onnx.save(zoo.build(name), path)
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "calib.npz", input=rng.standard_normal((1, 3, 224, 224)).astype(np.float32))
    compiled = compile_model(str(path), load_config("isaac"), {}, str(tmp_path / "calib.npz"))
    expected = 0
    for node in onnx.load(str(path)).graph.node:
        if node.op_type in ("Conv", "Gemm"):
            shape = next(i.dims for i in onnx.load(str(path)).graph.initializer if i.name == node.input[1])
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            rows, columns = (math.prod(shape[1:]), shape[0] // groups) if node.op_type == "Conv" else (shape[1], shape[0])
            shared = min(128 // rows, 128 // (columns * 4), groups)  # groups per crossbar, packed (pack-groups)
            expected += math.ceil(groups / shared) if shared > 1 else \
                groups * math.ceil(rows / 128) * math.ceil(columns * 4 / 128)
    assert len(compiled.program.crossbars) == compiled.module.attributes["crossbars"] == expected
    image = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    sim, reference = simulated_and_reference(compiled, {"input": image})
    assert_bit_exact(compiled, sim, reference)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fp32 = session.run(None, {"input": image})[0]
    simulated = sim.buffers[compiled.program.outputs[0][1]]
    assert compare("output", fp32, simulated, 0, 0).cosine >= 0.99


REAL = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("name, shape, crossbar_layers", [
    ("transformer_dynamo", (1, 6, 16), 4),  # batched matmuls by constant matrices, LayerNorm and Gelu on the host
    ("lstm_opset17", (1, 5, 8), 1),  # an LSTM (three results) on the host
    ("unet_opset11", (1, 3, 16, 16), 6),  # its two transposed convs run on the digital unit
    ("float16_opset17", (1, 3, 8, 8), 2),
    ("groupnorm_dynamo_opset23", (2, 4, 16), 3),
])
def test_real_exports_compile_and_simulate_exactly(name, shape, crossbar_layers):
    compiled = compile_model(str(REAL / f"{name}.onnx"), load_config("isaac"), {"x": shape})
    assert len(estimate(compiled.program)["layers"]) == crossbar_layers
    x = np.random.default_rng(0).standard_normal(shape).astype(compiled.module.funcs()[0].arguments[0].type.element.numpy_dtype())
    sim, reference = simulated_and_reference(compiled, {"x": x})
    assert_bit_exact(compiled, sim, reference)
    import onnxruntime

    fp32 = onnxruntime.InferenceSession(str(REAL / f"{name}.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert compare("y", fp32, sim.buffers[compiled.program.outputs[0][1]], 0, 0).cosine >= 0.99

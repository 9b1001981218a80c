"""RAELLA end to end: accuracy without retraining, exactness when nothing clips, a program that survives the disk,
and ResNet-18's crossbars and conversions from its layer shapes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from pimc.compiler import compile_model
from pimc.dialects import xbar
from pimc.interp.interpreter import Interpreter
from pimc.targets import load_config
from pimc.targets.cost import estimate
from pimc.targets.program import read_program
from pimc.targets.simulator import Simulator

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DIGITS = str(SAMPLES / "digits_test.npz")
sys.path.insert(0, str(SAMPLES))
import zoo  # noqa: E402


def pimc(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "pimc", *args, "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_digits_cnn_within_a_point_of_onnxruntime_without_retraining():
    result = pimc("eval", str(SAMPLES / "digits_cnn.onnx"), "--target", "raella", "--data", DIGITS,
                  "--calib", str(SAMPLES / "digits_calib.npz"))
    assert result["samples"] == 360
    assert abs(result["simulated_top1"] - result["reference_top1"]) <= 0.01


def test_read_back_program_is_bit_exact_when_no_conversion_clips(tmp_path):
    """Four digits through 4b-2b-2b slices at budget 0: speculation flags columns, recovery is exact."""
    compiled = compile_model(str(SAMPLES / "digits_cnn.onnx"), load_config("raella{error-budget=0}"),
                             {"x": (4, 1, 8, 8)}, DIGITS)
    compiled.program.write(str(tmp_path / "program"))
    sim = Simulator(read_program(str(tmp_path / "program")))
    x = np.load(DIGITS)["x"][:4]
    sim.run({"x": x})
    reference: dict = {}
    Interpreter(compiled.module, record=False, observer=reference.__setitem__).run([x])
    assert sum(s.flagged for s in sim.stats.values()) > 0
    assert sum(s.saturated for s in sim.stats.values()) == 0
    for value, name in compiled.buffers.items():
        np.testing.assert_array_equal(sim.buffers[name], reference[value], err_msg=name)


def test_resnet18_crossbars_and_conversions_follow_the_layer_shapes(tmp_path):
    """C+O with 2-bit slices and no speculation: ceil(K/512) x ceil(4N/512) crossbars a layer, and every
    input bit converts every 2T2R column, so converts = sum of V x 8 x 4N over row chunks."""
    path = str(tmp_path / "resnet18.onnx")
    import onnx

    onnx.save(zoo.build("resnet18", seed=0, batch=1), path)
    config = load_config("raella{adaptive-slicing=false cell-bits=2 speculation=false}")
    compiled = compile_model(path, config, {}, "", samples=1)
    totals = estimate(compiled.program)["totals"]
    crossbars = converts = 0
    for op in compiled.module.walk():
        if isinstance(op, xbar.MvmOp):
            vectors, (r0, r1), (c0, c1) = op.input.type.shape[0], op.rows, op.cols
            assert r1 - r0 <= 512 and (c1 - c0) * 4 <= 512
            crossbars += 1
            converts += vectors * 8 * (c1 - c0) * 4
    layers = [op for op in compiled.module.walk() if isinstance(op, xbar.MvmOp)]
    expected = sum(math.ceil(k / 512) * math.ceil(4 * n / 512) for k, n in {
        op.weights: compiled.module.weights[op.weights].shape for op in layers}.values())
    assert totals["crossbars"] == crossbars == expected
    assert totals["adc_converts"] == converts
    assert "recovery" not in totals


def test_signed_inputs_run_as_two_planes_and_stay_exact():
    """A classifier fed seeded normal images: its first conv's inputs have a zero point, so they run as a positive
    and a negative plane, twice the activations of the offset codes, and the result is x . W again."""
    path = str(Path(__file__).parent / "data" / "classifier_opset13.onnx")
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    runs = {}
    for planes in ("true", "false"):
        compiled = compile_model(path, load_config(f"raella{{signed-planes={planes} error-budget=0}}"), {"x": (2, 3, 8, 8)})
        sim = Simulator(compiled.program)
        sim.run({"x": x})
        reference: dict = {}
        Interpreter(compiled.module, record=False, observer=reference.__setitem__).run([x])
        first = next(i for i in compiled.program.instructions if i.op == "mvm")
        runs[planes] = (first.args.get("zero_point"), sim.stats[first.args["xbar"]])
        if planes == "true":  # nothing clips at budget 0 on this image
            assert sum(s.saturated for s in sim.stats.values()) == 0
            for value, name in compiled.buffers.items():
                np.testing.assert_array_equal(sim.buffers[name], reference[value], err_msg=name)
    (zero_point, planes), (none, codes) = runs["true"], runs["false"]
    assert zero_point and none is None
    assert planes.activations == 2 * codes.activations and planes.saturated == 0

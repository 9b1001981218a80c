"""EPIM end to end: the epitome-trained digits CNN on `epim`, within a point of onnxruntime and bit-exact against the
integer reference of its materialised weights, with only the epitomes on crossbars."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pimc.compiler import compile_model
from pimc.dialects import ep
from pimc.frontend.importer import import_onnx
from pimc.interp.interpreter import Interpreter
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.passes import PASSES
from pimc.targets import load_config
from pimc.targets.cost import estimate
from pimc.targets.simulator import Simulator

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MODEL = str(SAMPLES / "digits_epitome.onnx")
DIGITS = str(SAMPLES / "digits_test.npz")


@pytest.fixture(scope="module")
def digits():
    with np.load(DIGITS) as data:
        return data["x"], data["y"]


def test_digits_epitome_within_a_point_of_onnxruntime():
    done = subprocess.run([sys.executable, "-m", "pimc", "eval", MODEL, "--target", "epim", "--data", DIGITS,
                           "--calib", str(Path(DIGITS).with_name("digits_calib.npz")), "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["samples"] == 360 and result["saturated_converts"] == 0
    assert abs(result["simulated_top1"] - result["reference_top1"]) <= 0.01


@pytest.mark.parametrize("spec", ["epim", "epim{weight-bits=3}"])
def test_simulator_is_bit_exact_against_the_materialised_weights(spec, digits):
    """The program holds E alone; on all 360 digits its logits are those of q.conv2d on materialize(E_q)."""
    shapes, x = {"x": digits[0].shape}, digits[0]
    compiled = compile_model(MODEL, load_config(spec), shapes, DIGITS)
    (simulated,) = Simulator(compiled.program).run({"x": x})
    materialised = import_onnx(MODEL, shapes)
    quantize = compiled.pipelines[0][1]
    run_pipeline(materialised, parse_pipeline(quantize, PASSES))
    assert sum(isinstance(op, ep.MaterializeOp) for op in materialised.walk()) == 2
    (reference,) = Interpreter(materialised, record=False).run([x])
    np.testing.assert_array_equal(simulated, reference)
    stored = {x.layer: (x.rows, x.weights) for x in compiled.program.crossbars}
    assert stored["/features/features.3/Conv"] == (8 * 9, 16)  # E's 8 input channels x 3x3 taps, its 16 rows


@pytest.fixture(scope="module")
def one_digit():
    return compile_model(MODEL, load_config("epim"), {"x": (1, 1, 8, 8)}, DIGITS).program


def test_cost_model_counts_the_pre_sums_and_the_table_lookups(one_digit):
    """Conv 2 (16 -> 32 channels, epitome 16x8, 4x4 output pixels): 16 x (144 - 72) pre-sum adds and 16 x 32
    routed outputs; conv 1 (1 -> 16 channels, epitome 8x1) routes 64 x 16."""
    totals = estimate(one_digit)["totals"]
    assert totals["epitome_adds"] == 16 * 72
    assert totals["table_lookups"] == 16 * 32 + 64 * 16
    assert totals["energy_breakdown_pj"]["address_tables"] == pytest.approx(totals["table_lookups"] * 0.05)
    assert totals["crossbars"] == 3


def test_cost_model_puts_the_pre_sums_and_the_table_lookups_on_their_layers(one_digit):
    """Each epitome conv gets pixels x (Ci - Ci_E) x kh x kw pre-sum adds (each wrapped patch column adds into
    one E row) and pixels x Co lookups; the layers sum to the totals, in counts and in energy."""
    convs = {"/features/features.0/Conv": (8 * 8, 1, 1, 16), "/features/features.3/Conv": (4 * 4, 16, 8, 32)}
    report = estimate(one_digit)
    layers, totals = {layer["name"]: layer for layer in report["layers"]}, report["totals"]
    stored = {x.layer: x.rows for x in one_digit.crossbars}
    for name, (pixels, ci, ci_e, co) in convs.items():
        assert stored[name] == ci_e * 3 * 3  # E's rows: Ci_E x the 3x3 taps
        assert layers[name]["epitome_adds"] == pixels * (ci - ci_e) * 3 * 3
        assert layers[name]["table_lookups"] == pixels * co
    assert layers["/fc/Gemm"]["epitome_adds"] == layers["/fc/Gemm"]["table_lookups"] == 0
    for count, component in (("epitome_adds", "epitome_adds"), ("table_lookups", "address_tables")):
        assert sum(layer[count] for layer in layers.values()) == totals[count]
        per_layer = sum(layer["energy_breakdown_pj"].get(component, 0.0) for layer in layers.values())
        assert per_layer == pytest.approx(totals["energy_breakdown_pj"][component])
    assert "epitome_adds" not in layers["/features/features.0/Conv"]["energy_breakdown_pj"]  # Ci = Ci_E: no wrap_sum


def test_the_design_counts_what_the_cost_model_counts():
    """design-epitomes' crossbars, ADC conversions and crossbar cycles are those of the compiled program."""
    spec = "epim{weight-bits=3 design-budget=0.5 xbar-rows=32 xbar-cols=32}"
    compiled = compile_model(str(SAMPLES / "digits_cnn.onnx"), load_config(spec), {"x": (1, 1, 8, 8)}, DIGITS)
    *layers, total = compiled.module.attributes["epitome_design"]
    assert any(" -> epitome " in line for line in layers)
    convs = [layer for layer in estimate(compiled.program)["layers"] if layer["op"] == "conv"]
    crossbars, conversions, cycles = (int(n.replace(",", "")) for n in re.search(
        r"crossbars \d+ -> (\d+) .* ADC conversions [\d,]+ -> ([\d,]+), crossbar cycles [\d,]+ -> ([\d,]+)", total).groups())
    assert crossbars == sum(layer["crossbars"] for layer in convs)
    assert conversions == sum(layer["adc_converts"] for layer in convs)
    assert cycles == sum(layer["crossbar_activations"] // layer["crossbars"] for layer in convs)

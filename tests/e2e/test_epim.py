"""EPIM end to end: the epitome-trained digits CNN on `epim`, within a point of onnxruntime and bit-exact against the
integer reference of its materialised weights, with only the epitomes on crossbars."""

from __future__ import annotations

import json
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
    done = subprocess.run([sys.executable, "-m", "pimc", "eval", MODEL, "--target", "epim", "--data", DIGITS, "--json"],
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


def test_cost_model_counts_the_pre_sums_and_the_table_lookups():
    """Conv 2 (16 -> 32 channels, epitome 16x8, 4x4 output pixels): 16 x (144 - 72) pre-sum adds and 16 x 32
    routed outputs; conv 1 (1 -> 16 channels, epitome 8x1) routes 64 x 16."""
    compiled = compile_model(MODEL, load_config("epim"), {"x": (1, 1, 8, 8)}, DIGITS)
    totals = estimate(compiled.program)["totals"]
    assert totals["epitome_adds"] == 16 * 72
    assert totals["table_lookups"] == 16 * 32 + 64 * 16
    assert totals["energy_breakdown_pj"]["address_tables"] == pytest.approx(totals["table_lookups"] * 0.05)
    assert totals["crossbars"] == 3

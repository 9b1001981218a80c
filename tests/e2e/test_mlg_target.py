"""`--target mlg` on the MLG digits sample: each mapping mode's program on the 360 held-out digits, against
onnxruntime, bit-exact against the integer reference, and the layers lower-mlg made."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MODES = ["materialize", "two-stage", "three-stage"]
EXPORTS = ["digits_mlg.onnx", "digits_mlg_dynamo.onnx"]


def pimc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["pimc", *args], capture_output=True, text=True, check=True)


@pytest.mark.parametrize("name", EXPORTS)
@pytest.mark.parametrize("mode", MODES)
def test_simulated_top1_is_within_a_point_of_onnxruntime(mode, name):
    done = pimc("eval", str(SAMPLES / name), "--target", f"mlg{{mode={mode}}}", "--calib",
                str(SAMPLES / "digits_calib.npz"), "--data", str(SAMPLES / "digits_test.npz"), "--json")
    result = json.loads(done.stdout)
    assert result["samples"] == 360 and result["saturated_converts"] == 0
    assert abs(result["simulated_top1"] - result["reference_top1"]) <= 0.01, result
    assert result["agreement"] >= 0.98


@pytest.mark.parametrize("mode", MODES)
def test_program_is_bit_exact_and_matches_onnxruntime_on_held_out_digits(mode, tmp_path):
    with np.load(SAMPLES / "digits_test.npz") as data:
        np.savez(tmp_path / "x.npz", x=data["x"][:8])
    done = pimc("verify", str(SAMPLES / EXPORTS[0]), "--target", f"mlg{{mode={mode}}}", "--calib",
                str(SAMPLES / "digits_calib.npz"), "--inputs", str(tmp_path / "x.npz"), "--input-shape", "x=8,1,8,8")
    assert "simulator vs integer reference: bit-exact on all" in done.stdout
    assert done.stdout.rstrip().endswith("ok")


@pytest.mark.parametrize(("mode", "expected"), [
    ("materialize", ["materialize", "materialize"]),
    ("two-stage", ["two-stage", "two-stage"]),
    ("three-stage", ["two-stage", "three-stage"]),  # conv1 (Ci = 1) has no intra level: no three-stage form
])
def test_compile_reports_each_layers_mode_and_the_memory_ratio(mode, expected, tmp_path):
    done = pimc("compile", str(SAMPLES / EXPORTS[0]), "--target", f"mlg{{mode={mode}}}", "-o", str(tmp_path / "o"),
                "--estimate-only")
    text = (tmp_path / "o" / "ir" / "1-generate.pimc").read_text()
    layers = text.split("mlg_layers = [", 1)[1].split("]", 1)[0]
    assert [entry.split(" mode=")[1].split()[0] for entry in layers.split('", "')] == expected
    assert "mlg.generate" not in text
    # conv1 16x1x3x3: 6*9*3 + 16*6*3 bits of 16*9*32; conv2 32x16x3x3: 12*2*9*3 + 12*16*2*6 + 32*12*3 of 32*16*9*32
    assert "memory-ratio=0.09766" in layers and "memory-ratio=0.02783" in layers
    assert "pimc compile: note: MLG memory ratio 0.0926 " in done.stderr

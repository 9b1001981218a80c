"""`--target mlg` on the MLG digits sample: each mapping mode's program on the 360 held-out digits against
onnxruntime, bit-exact against the integer reference and its QDQ export; the report's MLG layers, weight loads and
reloads; requantized intermediates; auto's choice per objective."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MODES = ["materialize", "two-stage", "three-stage"]
EXPORTS = ["digits_mlg.onnx", "digits_mlg_dynamo.onnx"]
CALIB = ["--calib", str(SAMPLES / "digits_calib.npz")]


def pimc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["pimc", *args], capture_output=True, text=True, check=True)


def report(tmp_path, target: str, model: str = EXPORTS[0]) -> dict:
    out = tmp_path / target.replace("{", "_").replace("}", "").replace(" ", "_")
    pimc("compile", str(SAMPLES / model), "--target", target, *CALIB, "-o", str(out), "--estimate-only")
    return json.loads((out / "report.json").read_text())


@pytest.mark.parametrize("name", EXPORTS)
@pytest.mark.parametrize("mode", MODES)
def test_simulated_top1_is_within_a_point_of_onnxruntime(mode, name):
    done = pimc("eval", str(SAMPLES / name), "--target", f"mlg{{mode={mode}}}", *CALIB,
                "--data", str(SAMPLES / "digits_test.npz"), "--json")
    result = json.loads(done.stdout)
    assert result["samples"] == 360 and result["saturated_converts"] == 0
    assert abs(result["simulated_top1"] - result["reference_top1"]) <= 0.01, result
    assert result["agreement"] >= 0.98


@pytest.mark.parametrize("mode", MODES)
def test_program_is_bit_exact_and_its_qdq_export_is_the_model_as_executed(mode, tmp_path):
    with np.load(SAMPLES / "digits_test.npz") as data:
        np.savez(tmp_path / "x.npz", x=data["x"][:16])
    done = pimc("verify", str(SAMPLES / EXPORTS[0]), "--target", f"mlg{{mode={mode}}}", *CALIB, "--inputs",
                str(tmp_path / "x.npz"), "--input-shape", "x=16,1,8,8", "--export-qdq", str(tmp_path / "m.onnx"))
    assert "simulator vs integer reference: bit-exact on all" in done.stdout
    qdq = next(line for line in done.stdout.splitlines() if line.lstrip().startswith("QDQ model"))
    assert qdq.split()[3:5] == ["0", "0"], qdq  # max abs and relative error against the simulator
    assert done.stdout.rstrip().endswith("ok")


def test_exact_modes_compute_the_same_logits(tmp_path):
    """Exact intermediates: two-stage and three-stage give materialize's results to the bit."""
    logits = {}
    for mode in MODES:
        pimc("compile", str(SAMPLES / EXPORTS[0]), "--target", f"mlg{{mode={mode}}}", *CALIB, "-o",
             str(tmp_path / mode), "--estimate-only")
        pimc("run", str(tmp_path / mode), "--input", str(SAMPLES / "digits_calib.npz"), "-o", str(tmp_path / f"{mode}.npy"))
        logits[mode] = np.load(tmp_path / f"{mode}.npy")
    assert logits["materialize"].shape == (64, 10)
    assert all(np.array_equal(logits["materialize"], logits[mode]) for mode in MODES[1:])


@pytest.mark.parametrize(("mode", "expected"), [
    ("materialize", ["materialize", "materialize"]),
    ("two-stage", ["two-stage", "two-stage"]),
    ("three-stage", ["two-stage", "three-stage"]),  # conv1 (Ci = 1) has no intra level: no three-stage form
])
def test_report_gives_each_generated_layer_its_settings_costs_and_the_memory_ratio(mode, expected, tmp_path):
    result = report(tmp_path, f"mlg{{mode={mode}}}")
    layers = result["mlg"]["layers"]
    assert [layer["mode"] for layer in layers] == expected
    assert [(layer["levels"], layer["b_i"], layer["b_c"], layer["bits"]) for layer in layers] == \
        [("cross", 0, 6, [3, 3]), ("intra-cross", 2, 12, [3, 6, 3])]
    # conv1 16x1x3x3: 6*9*3 + 16*6*3 bits of 16*9*32; conv2 32x16x3x3: 12*2*9*3 + 12*16*2*6 + 32*12*3 of 32*16*9*32
    assert [layer["memory_ratio"] for layer in layers] == [0.097656, 0.027832]
    assert result["mlg"]["memory_ratio"] == 0.092589
    rows = {row["name"]: row for row in result["layers"]}
    for layer in layers:
        assert len(layer["stages"]) == {"materialize": 1, "two-stage": 2, "three-stage": 3}[layer["mode"]]
        for key in ("crossbars", "adc_converts", "cycles", "energy_pj"):
            assert layer[key] == pytest.approx(sum(rows[stage][key] for stage in layer["stages"])) and layer[key] > 0
    assert result["weight_load"]["stored_in"] == "eDRAM" and not result["weight_load"]["every_inference"]


def test_requantized_intermediates_are_lossy_and_report_their_error(tmp_path):
    exact, lossy = (report(tmp_path, f"mlg{{mode=two-stage inter-bits={bits}}}") for bits in (0, 8))
    assert [layer["intermediate_bits"] for layer in exact["mlg"]["layers"]] == [[14], [23]]
    assert [layer["intermediate_bits"] for layer in lossy["mlg"]["layers"]] == [[8], [8]]
    assert "intermediate_error" not in exact["mlg"]["layers"][0]
    errors = [layer["intermediate_error"] for layer in lossy["mlg"]["layers"]]
    assert all(0 < error < 0.05 for error in errors), errors
    assert lossy["totals"]["adc_converts"] < exact["totals"]["adc_converts"]  # 8 input slices instead of 14 and 23


@pytest.mark.parametrize("objective", ["crossbars", "conversions", "cycles"])
def test_auto_takes_per_layer_the_mode_least_in_the_objective(objective, tmp_path):
    """auto's estimate of each mode agrees with the cost model's counts of the compiled stages."""
    measured = {"crossbars": "crossbars", "conversions": "adc_converts", "cycles": "cycles"}[objective]
    by_mode = {mode: report(tmp_path, f"mlg{{mode={mode}}}")["mlg"]["layers"] for mode in MODES}
    chosen = report(tmp_path, f"mlg{{objective={objective}}}")["mlg"]["layers"]
    for index, layer in enumerate(chosen):
        costs = {entry[index]["mode"]: entry[index][measured] for entry in by_mode.values()}
        assert costs[layer["mode"]] == min(costs.values()), (layer["layer"], costs)


def test_a_model_larger_than_the_chip_reloads_its_weights_every_inference(tmp_path):
    """Two IMAs of two crossbars on the chip; the model's five layers start an IMA each: three chip-loads, and the
    loads join the energy and the latency of every inference."""
    small = "xbars-per-ima=2 imas-per-tile=2 tiles=1"
    resident = report(tmp_path, f"mlg{{mode=two-stage {small} chips=3}}")
    reloaded = report(tmp_path, f"mlg{{mode=two-stage {small} reload=true}}")
    load = reloaded["weight_load"]
    assert load["chip_loads"] == 3 and load["every_inference"] and not resident["weight_load"]["every_inference"]
    assert load["energy_pj"] == pytest.approx(resident["weight_load"]["energy_pj"])
    totals, base = reloaded["totals"], resident["totals"]
    assert totals["energy_pj"] == pytest.approx(base["energy_pj"] + load["energy_pj"])
    assert totals["latency_ns"] == pytest.approx(base["latency_ns"] + load["latency_ns"])
    assert set(load["energy_breakdown_pj"]) <= set(totals["energy_breakdown_pj"]) and totals["tiles"] == 1
    # the generated layers store their factors: 450 and 4104 bits; the classifier its 128 x 10 weights at 8 bits
    assert load["stored_bits"] == 450 + 4104 + 1280 * 8

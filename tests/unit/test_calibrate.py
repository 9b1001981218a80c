"""Calibration: onnxruntime's in-graph ranges against the interpreter's, on the digits samples."""

from pathlib import Path

import numpy as np
import pytest

from pimc import calibrate
from pimc.frontend.importer import import_onnx
from pimc.passes.quantize import _absorbed_relu, _quantizable

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def wanted_and_inputs(name: str, samples: int):
    module = import_onnx(str(SAMPLES / f"{name}.onnx"), {"x": (1, 1, 8, 8)})
    (func,) = module.funcs()
    layers = [op for op in func.body.ops if _quantizable(op)]
    wanted = {op.operands[0] for op in layers} | {(_absorbed_relu(op) or op).results[0] for op in layers}
    inputs = calibrate.calibration_inputs(func, str(SAMPLES / "digits_test.npz"), samples, 0, "quantize")
    return module, func, wanted | set(func.arguments), inputs


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mlp", "digits_epitome"])
def test_onnxruntime_ranges_are_the_interpreters(name, monkeypatch):
    module, func, wanted, inputs = wanted_and_inputs(name, 8)
    with monkeypatch.context() as patch:
        patch.setattr(calibrate, "_onnxruntime_runner", lambda *args: None)  # as for a module it cannot export
        expected = calibrate.observed_ranges(module, func, inputs, wanted)
    monkeypatch.setattr(calibrate, "_interpreter_runner", None)  # the onnxruntime path must take it
    ranges = calibrate.observed_ranges(module, func, inputs, wanted)
    assert ranges.keys() == expected.keys() == wanted
    for value, (low, high) in expected.items():
        np.testing.assert_allclose(ranges[value], [low, high], rtol=1e-5, atol=1e-5 * max(abs(low), abs(high)))


def test_ranges_are_deterministic_and_cover_every_sample():
    module, func, wanted, inputs = wanted_and_inputs("digits_cnn", 4)
    together = calibrate.observed_ranges(module, func, inputs, wanted)
    assert calibrate.observed_ranges(module, func, inputs, wanted) == together
    apart = [calibrate.observed_ranges(module, func, [sample], wanted) for sample in inputs]
    for value, (low, high) in together.items():
        assert low == min(r[value][0] for r in apart) and high == max(r[value][1] for r in apart)


def test_only_the_arguments_need_no_run(monkeypatch):
    module, func, _, inputs = wanted_and_inputs("digits_cnn", 2)
    monkeypatch.setattr(calibrate, "_onnxruntime_runner", None)
    ranges = calibrate.observed_ranges(module, func, inputs, set(func.arguments))
    x = np.concatenate([sample[0] for sample in inputs])
    assert ranges == {func.arguments[0]: [float(x.min()), float(x.max())]}


@pytest.mark.parametrize("name", ["digits_cnn", "digits_epitome"])
def test_trials_in_onnxruntime_are_the_interpreters(name, monkeypatch):
    """Trials replaces weights by ref in onnxruntime as the interpreter does, and observes the same values."""
    module, func, wanted, inputs = wanted_and_inputs(name, 3)
    refs = {op.operands[1].op.ref for op in func.body.ops if op.op_name in ("nn.conv2d", "nn.gemm")}
    rng = np.random.default_rng(0)
    replaced = {ref: rng.standard_normal(module.weights[ref].shape).astype(np.float32) for ref in refs}
    values = [op.operands[0] for op in func.body.ops if op.op_name.startswith(("nn.conv2d", "ep.conv2d"))]
    trials = calibrate.Trials(module, func, refs)
    monkeypatch.setattr(calibrate, "_session", lambda model, arrays: None)  # as for a module onnxruntime rejects
    interpreted = calibrate.Trials(module, func, refs)
    assert trials.session is not None and interpreted.session is None
    for x in inputs:
        for got, want in zip(trials.run(x, replaced), interpreted.run(x, replaced)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        (outputs, seen), (expected, observed) = trials.observe(x, values), interpreted.observe(x, values)
        for got, want in zip(outputs + seen, expected + observed):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(trials.run(inputs[0], replaced)[0], trials.run(inputs[0], {})[0])


def test_trials_replace_an_epitome_in_the_interpreter():
    """onnxruntime sees an ep.conv2d's materialised weight, not its epitome: replacing the epitome runs in pimc."""
    module, func, _, inputs = wanted_and_inputs("digits_epitome", 1)
    (ref, *_) = [op.operands[1].op.ref for op in func.body.ops if op.op_name == "ep.conv2d"]
    trials = calibrate.Trials(module, func, {ref})
    assert trials.session is None
    zero = {ref: np.zeros_like(module.weights[ref])}
    assert not np.allclose(trials.run(inputs[0], zero)[0], trials.run(inputs[0], {})[0])

"""samples/digits_epitome.onnx, a digits CNN trained with epitome layers, imports losslessly as ep.conv2d."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from pimc.dialects import ep
from pimc.dialects.nn_conv import Conv2dOp
from pimc.frontend.importer import import_onnx
from pimc.interp.compare import compare
from pimc.interp.interpreter import Interpreter

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MODEL = SAMPLES / "digits_epitome.onnx"
REPORTED_TOP1 = 354 / 360  # what samples/train_epitome_digits.py printed, and samples/README.md says


@pytest.fixture(scope="module")
def digits():
    with np.load(SAMPLES / "digits_test.npz") as data:
        return data["x"], data["y"]


@pytest.fixture(scope="module")
def reference(digits):
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"x": digits[0]})[0]


@pytest.fixture(scope="module")
def module(digits):
    return import_onnx(str(MODEL), {"x": digits[0].shape})


def test_the_convs_import_as_epitome_convs_on_the_trained_epitomes(module):
    convs = [op for op in module.walk() if isinstance(op, ep.Conv2dOp)]
    assert not [op for op in module.walk() if isinstance(op, Conv2dOp)]
    assert [(op.epitome.type.shape, op.patch, op.stride) for op in convs] == [
        ((8, 1, 3, 3), (8, 1), (8, 1)), ((16, 8, 3, 3), (8, 8), (4, 4))]
    initializers = {i.name: numpy_helper.to_array(i) for i in onnx.load(MODEL).graph.initializer}
    for op in convs:
        np.testing.assert_array_equal(module.weights[op.epitome.op.ref], initializers[op.epitome.op.ref])
    assert sorted(module.weights.names()) == sorted(n for n in initializers if not n.endswith((".rows", ".cols")))


def test_pimc_matches_onnxruntime_on_the_held_out_digits(module, digits, reference):
    (logits,) = Interpreter(module, record=False).run([digits[0]])
    comparison = compare("logits", reference, logits, rtol=1e-4, atol=1e-5)
    assert comparison.ok and comparison.max_rel_error < 1e-6, comparison
    assert np.array_equal(np.argmax(logits, axis=1), np.argmax(reference, axis=1))


def test_onnxruntime_top1_is_what_the_training_script_reported(digits, reference):
    top1 = float(np.mean(np.argmax(reference, axis=1) == digits[1]))
    assert abs(top1 - REPORTED_TOP1) <= 0.005

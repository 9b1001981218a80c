"""Lowering to crossbars keeps the integer results exactly, and uses the crossbars the formula says."""

import math
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from pimc.dialects import xbar
from pimc.frontend.importer import import_onnx
from pimc.interp.interpreter import Interpreter
from pimc.ir.verifier import verify
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.passes import PASSES

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
sys.path.insert(0, str(SAMPLES))
import zoo  # noqa: E402


def quantized_and_lowered(module, calib: str, slicing: str):
    run_pipeline(module, parse_pipeline(f"quantize{{{calib}}}", PASSES))
    lowered = module.clone()
    lowered.weights = module.weights
    run_pipeline(lowered, parse_pipeline(f"lower-to-xbar,{slicing},canonicalize", PASSES))
    verify(lowered)
    return module, lowered


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mlp"])
def test_lowered_digits_are_bit_identical(name):
    data = np.load(SAMPLES / "digits_test.npz")
    module = import_onnx(str(SAMPLES / f"{name}.onnx"), {"x": (1, 1, 8, 8)})
    quantized, lowered = quantized_and_lowered(module, f'calib="{SAMPLES / "digits_test.npz"}" samples=32',
                                               "slice-weights{rows=32 cols=32}")
    before, after = Interpreter(quantized, record=False), Interpreter(lowered, record=False)
    for x in data["x"][:: 9][:, None]:
        assert (before.run([x])[0] == after.run([x])[0]).all()


@pytest.mark.parametrize("name", ["mobilenetv2", "resnet18"])
def test_zoo_crossbar_count_and_exactness(name, tmp_path):
    path = tmp_path / f"{name}.onnx"
    onnx.save(zoo.build(name), path)
    quantized, lowered = quantized_and_lowered(import_onnx(str(path)), "samples=1", "slice-weights")
    mvms = [op for op in lowered.walk() if isinstance(op, xbar.MvmOp)]
    expected = 0
    for op in quantized.walk():
        if op.op_name == "q.conv2d":
            out, per_group, kh, kw = op.weight.type.shape
            expected += op.group * math.ceil(per_group * kh * kw / 128) * math.ceil(out // op.group * 4 / 128)
        elif op.op_name == "q.gemm":
            n, k = op.weight.type.shape
            expected += math.ceil(k / 128) * math.ceil(n * 4 / 128)
    assert len(mvms) == expected
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    assert (Interpreter(quantized, record=False).run([x])[0] == Interpreter(lowered, record=False).run([x])[0]).all()

"""samples/digits_mlg*.onnx, a digits CNN trained with MLG layers and exported twice, imports as mlg.generate; so does
a linear layer on a generated weight (tests/e2e/data/mlg_linear_*.onnx), which maps onto crossbars in two stages."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from pimc.dialects import mlg
from pimc.dialects.nn_conv import Conv2dOp, WeightOp
from pimc.frontend.importer import import_onnx
from pimc.interp.compare import compare
from pimc.interp.interpreter import Interpreter

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
EXPORTS = ["digits_mlg.onnx", "digits_mlg_dynamo.onnx"]
REPORTED_TOP1 = 351 / 360  # what samples/train_mlg_digits.py printed for both, and samples/README.md says
LAYERS = [("features.0", "cross", (3, 3)), ("features.3", "intra-cross", (3, 6, 3))]


@pytest.fixture(scope="module")
def digits():
    with np.load(SAMPLES / "digits_test.npz") as data:
        return data["x"], data["y"]


def dorefa_codes(x: np.ndarray, bits: int) -> np.ndarray:
    """pyutils' dorefa_sym, as integers: round((tanh(x) / 2r + 1/2) n) * 2 - n, n = 2^bits - 1."""
    w = np.tanh(x.astype(np.float32))
    n = 2**bits - 1
    return np.round((w / (2 * np.abs(w).max()) + np.float32(0.5)) * np.float32(n)).astype(np.int64) * 2 - n


@pytest.mark.parametrize("name", EXPORTS)
def test_every_conv_weight_is_generated_from_the_trained_factors_codes(name):
    module = import_onnx(str(SAMPLES / name), {"x": (1, 1, 8, 8)})
    convs = [op for op in module.walk() if isinstance(op, Conv2dOp)]
    generators = [conv.weight.op for conv in convs]
    assert all(isinstance(op, mlg.GenerateOp) for op in generators)
    assert [(op.levels, op.bits) for op in generators] == [(levels, bits) for _, levels, bits in LAYERS]
    initializers = {i.name: numpy_helper.to_array(i) for i in onnx.load(SAMPLES / name).graph.initializer}
    for op, (layer, _, bits) in zip(generators, LAYERS):
        for factor, q in zip(op.factors, bits):
            assert isinstance(factor.op, WeightOp) and factor.op.ref.startswith(layer)
            codes = module.weights[factor.op.ref]
            np.testing.assert_array_equal(codes, dorefa_codes(initializers[factor.op.ref], q))
            assert np.all(codes % 2 == 1) and np.abs(codes).max() == 2**q - 1
    assert not any(isinstance(op, WeightOp) and op.output.type.shape == (32, 16, 3, 3) for op in module.walk())


@pytest.mark.parametrize("name", EXPORTS)
def test_pimc_matches_onnxruntime_on_the_held_out_digits(name, digits):
    session = ort.InferenceSession(str(SAMPLES / name), providers=["CPUExecutionProvider"])
    (reference,) = session.run(["logits"], {"x": digits[0]})
    module = import_onnx(str(SAMPLES / name), {"x": digits[0].shape})
    (logits,) = Interpreter(module, record=False).run([digits[0]])
    comparison = compare("logits", reference, logits, rtol=1e-4, atol=1e-4)
    assert comparison.ok and comparison.max_rel_error < 1e-5, comparison
    assert np.array_equal(np.argmax(logits, axis=1), np.argmax(reference, axis=1))
    assert abs(float(np.mean(np.argmax(reference, axis=1) == digits[1])) - REPORTED_TOP1) <= 0.005


def test_the_generated_weight_is_the_integer_product_times_the_scales():
    module = import_onnx(str(SAMPLES / EXPORTS[0]), {"x": (1, 1, 8, 8)})
    op = [o for o in module.walk() if isinstance(o, mlg.GenerateOp)][1]
    basis, coeff_in, coeff_out = (module.weights[f.op.ref].astype(np.int64) for f in op.factors)
    wc = np.einsum("pci,pik->pck", coeff_in, basis.reshape(12, 2, 9))
    integer = coeff_out @ wc.reshape(12, -1)
    np.testing.assert_array_equal(mlg.integer_weight(op.levels, [basis, coeff_in, coeff_out], 32), integer)
    assert np.abs(integer).max() <= 12 * 2 * 63 * 7 * 7  # B_c * B_i * n_u * n_b * n_v


@pytest.mark.parametrize("name", ["mlg_linear_torchscript.onnx", "mlg_linear_dynamo.onnx"])
def test_a_linear_layer_on_a_generated_weight_imports_and_maps_in_two_stages(name, tmp_path):
    """tests/e2e/data/export_mlg_linear.py: W = V @ W_c (64 -> 10, B_c = 6, 3-bit codes) feeding a Gemm."""
    path = Path(__file__).parent / "data" / name
    module = import_onnx(str(path), {})
    (gemm,) = [op for op in module.walk() if op.op_name == "nn.gemm"]
    generate = gemm.b.op
    assert isinstance(generate, mlg.GenerateOp) and (generate.levels, generate.bits) == ("cross", (3, 3))
    initializers = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    for factor in generate.factors:
        np.testing.assert_array_equal(module.weights[factor.op.ref], dorefa_codes(initializers[factor.op.ref], 3))
    x = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)
    (reference,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    (y,) = Interpreter(module, record=False).run([x])
    assert compare("y", reference, y, rtol=1e-5, atol=1e-5).ok
    np.savez(tmp_path / "x.npz", x=x)
    done = subprocess.run(["pimc", "verify", str(path), "--target", "mlg{mode=two-stage}", "--inputs",
                           str(tmp_path / "x.npz"), "--export-qdq", str(tmp_path / "q.onnx")],
                          capture_output=True, text=True, check=True)
    assert "simulator vs integer reference: bit-exact on all" in done.stdout
    assert next(line for line in done.stdout.splitlines() if "QDQ model" in line).split()[3:5] == ["0", "0"]

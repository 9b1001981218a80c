"""Models that arrive quantized: onnxruntime's own quantizer's QDQ and QOperator output for the digits samples
(tests/e2e/data/make_quantized_models.py), imported with their scales, against onnxruntime on the 360 held-out
digits, through the quantize pass and down to crossbars."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from pimc.dialects import nn_conv, q
from pimc.frontend.importer import import_onnx
from pimc.interp.interpreter import Interpreter
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.passes import PASSES
from pimc.text.printer import print_module

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted((Path(__file__).with_name("data") / "quantized").glob("*.onnx"))
DIGITS = np.load(ROOT / "samples" / "digits_test.npz")["x"]


def onnxruntime(path: Path, optimized: bool = True) -> np.ndarray:
    options = ort.SessionOptions()
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, {"x": DIGITS})[0]


def imported(path: Path):
    module = import_onnx(str(path), {"x": DIGITS.shape})
    return module, Interpreter(module, record=False).run([DIGITS])[0]


def output_step(module) -> float:
    """The scale of the q.dequantize the function returns: one step of its integers."""
    (func,) = module.funcs()
    *_, returned = func.body.ops
    last = returned.operands[0].op
    return last.scale if isinstance(last, q.DequantizeOp) else 0.0


def test_every_format_is_generated():
    names = {path.stem for path in MODELS}
    expected = {f"digits_{m}_{f}_{c}_{a}" for m in ("cnn", "mlp") for f in ("qdq", "qop") for c in ("pc", "pt") for a in ("u8", "s8")}
    assert expected <= names and len(names) == 20


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_import_keeps_the_models_integers_and_agrees_with_onnxruntime(path):
    module, computed = imported(path)
    assert module.attributes["stage"] == "quant"
    float_layers = [op for op in module.walk() if isinstance(op, (nn_conv.Conv2dOp, nn_conv.GemmOp, nn_conv.MatMulOp))]
    assert len(float_layers) == (1 if "conv_only" in path.stem else 0)
    assert all(op.input.type.element.is_unsigned for op in module.walk() if isinstance(op, (q.Conv2dOp, q.GemmOp)))
    # onnxruntime as it runs by default: its x86 uint8 x int8 kernels saturate pairs of products in int16
    # (docs/quantize.md), which costs it up to 4 of the 360 top-1 answers against exact integers.
    reference = onnxruntime(path)
    assert (computed.argmax(axis=1) == reference.argmax(axis=1)).mean() >= 0.985
    exact_kernels = "_qdq" in path.stem or "_s8" in path.stem
    if exact_kernels:
        # Unoptimized, onnxruntime computes a QDQ layer in float32 and rounds once, as pimc does from exact sums;
        # its int8 x int8 kernels are exact. Up to a last rounding, one step in a few of the 3,600 outputs.
        if "_qdq" in path.stem:
            reference = onnxruntime(path, optimized=False)
        diff = np.abs(computed.astype(np.float64) - reference)
        step = output_step(module)
        assert diff.max() <= step * 1.001 + 1e-5
        assert (diff > step / 2 + 1e-5).sum() <= 0.002 * diff.size


def test_quantize_leaves_imported_layers_alone():
    path = next(p for p in MODELS if p.stem == "digits_cnn_qdq_pc_s8")
    module, _ = imported(path)
    text = print_module(module)
    run_pipeline(module, parse_pipeline("quantize{samples=1}", PASSES))
    assert print_module(module) == text


def test_quantize_quantizes_only_the_float_layers():
    """Only the convs of this model are quantized: quantize keeps them, and quantizes the float gemm."""
    path = next(p for p in MODELS if p.stem == "digits_cnn_qdq_conv_only")
    module, _ = imported(path)
    convs = conv_lines(module)
    run_pipeline(module, parse_pipeline(f'quantize{{calib="{ROOT / "samples" / "digits_test.npz"}" samples=16}}', PASSES))
    assert conv_lines(module) == convs
    assert not any(isinstance(op, nn_conv.GemmOp) for op in module.walk())
    assert sum(isinstance(op, q.GemmOp) for op in module.walk()) == 1
    computed = Interpreter(module, record=False).run([DIGITS])[0]
    assert (computed.argmax(axis=1) == onnxruntime(path).argmax(axis=1)).mean() >= 0.98


def conv_lines(module) -> list[str]:
    return [line for line in print_module(module).splitlines() if "q.conv2d" in line]


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_imported_layers_lower_to_crossbars_exactly(path):
    module, computed = imported(path)
    run_pipeline(module, parse_pipeline("lower-to-xbar,slice-weights,place-tiles", PASSES))
    assert not any(isinstance(op, (q.Conv2dOp, q.GemmOp)) for op in module.walk())
    assert (Interpreter(module, record=False).run([DIGITS])[0] == computed).all()

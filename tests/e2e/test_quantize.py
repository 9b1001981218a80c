"""Post-training quantization: accuracy on the digits samples, and exactness of the integer ops."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.dialects import q
from pimc.frontend.importer import import_onnx
from pimc.interp.interpreter import Interpreter
from pimc.ir.verifier import verify
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.passes import PASSES
from pimc.text.parser import parse_module

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mlp"])
def test_8_bit_digits_keep_their_accuracy(name):
    data = np.load(SAMPLES / "digits_test.npz")
    x, y = data["x"], data["y"]
    session = ort.InferenceSession(str(SAMPLES / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    reference = session.run(None, {"x": x})[0].argmax(axis=1)
    module = import_onnx(str(SAMPLES / f"{name}.onnx"), {"x": (1, 1, 8, 8)})
    run_pipeline(module, parse_pipeline(f'quantize{{calib="{SAMPLES / "digits_test.npz"}" samples=32}}', PASSES))
    interpreter = Interpreter(module, record=False)
    quantized = np.array([interpreter.run([x[i : i + 1]])[0].argmax() for i in range(len(x))])
    assert abs((quantized == y).mean() - (reference == y).mean()) <= 0.005
    assert (quantized == reference).mean() >= 0.99


CONV = """
module {{
  func.func @main(%x: tensor<1x{c}x{h}x{h}x{xt}>, %w: tensor<{o}x{cg}x3x3xi8>) -> tensor<1x{o}x{oh}x{oh}xi32> {{
    %acc = q.conv2d(%x, %w) {{input_zero_point = {z}, strides = [{s}, {s}], pads = [1, 1, 1, 1], group = {g}}} : (tensor<1x{c}x{h}x{h}x{xt}>, tensor<{o}x{cg}x3x3xi8>) -> tensor<1x{o}x{oh}x{oh}xi32>
    func.return(%acc) : (tensor<1x{o}x{oh}x{oh}xi32>) -> ()
  }}
}}
"""


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2), st.integers(1, 3), st.integers(3, 7), st.integers(1, 2), st.integers(0, 255), st.integers(0, 2**32 - 1))
def test_integer_conv_is_exact(groups, per_group, size, stride, zero_point, seed):
    """q.conv2d equals the float64 nn.conv2d of (x - zero point), which is exact for these magnitudes."""
    rng = np.random.default_rng(seed)
    c, o = groups * per_group, groups * 2
    out = (size + 2 - 3) // stride + 1
    module = parse_module(CONV.format(c=c, h=size, xt="ui8", o=o, cg=per_group, oh=out, z=zero_point, s=stride, g=groups))
    verify(module)
    x = rng.integers(0, 256, size=(1, c, size, size))
    w = rng.integers(-127, 128, size=(o, per_group, 3, 3))
    (integer,) = Interpreter(module).run([x, w])
    conv = next(op for op in module.walk() if isinstance(op, q.Conv2dOp))
    padded = np.pad(x - zero_point, [(0, 0), (0, 0), (1, 1), (1, 1)]).astype(np.float64)
    expected = np.zeros_like(integer)
    for n in range(o):
        group = n // (o // groups)
        channels = slice(group * per_group, (group + 1) * per_group)
        for i in range(out):
            for j in range(out):
                window = padded[0, channels, i * stride : i * stride + 3, j * stride : j * stride + 3]
                expected[0, n, i, j] = int((window * w[n]).sum())
    assert conv.input_zero_point == zero_point
    assert (integer == expected).all()


def test_quantize_dequantize_error_is_at_most_half_a_step():
    module = parse_module("""
module {
  func.func @main(%x: tensor<64xf32>) -> tensor<64xf32> {
    %q = q.quantize(%x) {scale = 0.05, zero_point = 100} : (tensor<64xf32>) -> tensor<64xui8>
    %y = q.dequantize(%q) {scale = 0.05, zero_point = 100} : (tensor<64xui8>) -> tensor<64xf32>
    func.return(%y) : (tensor<64xf32>) -> ()
  }
}
""")
    x = np.linspace(-5.0, 7.75, 64).astype(np.float32)
    (y,) = Interpreter(module).run([x])
    assert np.abs(y - x).max() <= 0.025 + 1e-6


def test_a_dequantized_integer_weight_without_bias_quantizes(tmp_path):
    """A conv whose weight is DequantizeLinear of an int8 constant and which has no bias keeps the model's integers
    (its zero bias is named after the weight's SSA value, having no store entry of its own)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from pimc.cli import main

    rng = np.random.default_rng(3)
    weight = numpy_helper.from_array(rng.integers(-100, 100, (4, 2, 3, 3)).astype(np.int8), "w.int8")
    scale = numpy_helper.from_array(np.float32(0.01), "w.scale")
    nodes = [helper.make_node("DequantizeLinear", ["w.int8", "w.scale"], ["w"], name="wdq"),
             helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "dq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])], [weight, scale])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "dq.onnx")
    assert main(["verify", str(tmp_path / "dq.onnx"), "--target", "isaac", "--min-cosine", "0.99"]) == 0

"""Tiny ONNX models for tests, built with onnx.helper and seeded numpy; nothing is downloaded.

    python tests/models.py NAME OUT.onnx        # write one model
    python tests/models.py npz OUT.npz w=4x2x3x3 s=4x1x1   # seeded arrays for IR tests
    python tests/models.py --list

`MODELS[name]()` returns the ModelProto; each model takes float input `x`
(models with a symbolic batch say so in `SYMBOLIC`).
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


class Graph:
    """Nodes, seeded initializers and a model around them."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def param(self, name: str, *shape: int, scale: float = 0.5, positive: bool = False) -> str:
        value = self.rng.standard_normal(shape).astype(np.float32) * scale
        self.inits.append(numpy_helper.from_array(np.abs(value) + 0.5 if positive else value, name))
        return name

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, name: str | None = None, **attrs) -> str:
        output = output or f"{name or op.lower()}_out"
        self.nodes.append(helper.make_node(op, inputs, [output], name=name or op.lower(), **attrs))
        return output

    def model(self, x_shape, y: str, y_shape, opset: int = 17, ir_version: int = 8) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "test", [helper.make_tensor_value_info("x", F, x_shape)],
                                  [helper.make_tensor_value_info(y, F, y_shape)], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version,
                                 producer_name="pimc-tests")

    def bn(self, x: str, name: str, channels: int) -> str:
        params = [self.param(f"{name}.weight", channels, positive=True), self.param(f"{name}.bias", channels),
                  self.param(f"{name}.running_mean", channels), self.param(f"{name}.running_var", channels, positive=True)]
        return self.node("BatchNormalization", [x, *params], name=name, epsilon=1e-5)


def tiny_cnn() -> onnx.ModelProto:
    """conv 2->4 3x3, relu, flatten, fc 64->10: the design document's example."""
    g = Graph()
    c = g.node("Conv", ["x", g.param("conv1.weight", 4, 2, 3, 3), g.param("conv1.bias", 4)], "c1", "conv1", pads=[1, 1, 1, 1])
    r = g.node("Relu", [c], "r1", "relu1")
    f = g.node("Flatten", [r], "f1", "flatten", axis=1)
    g.node("Gemm", [f, g.param("fc.weight", 10, 64), g.param("fc.bias", 10)], "y", "fc", transB=1)
    return g.model([1, 2, 4, 4], "y", [1, 10])


def conv_bn_relu() -> onnx.ModelProto:
    """A bias-free conv, BatchNormalization and Relu, as PyTorch exports them."""
    g = Graph()
    c = g.node("Conv", ["x", g.param("conv.weight", 8, 3, 3, 3)], "conv_out", "/conv/Conv", pads=[1, 1, 1, 1], strides=[2, 2])
    b = g.bn(c, "/bn/BatchNormalization", 8)
    g.node("Relu", [b], "y", "/relu/Relu")
    return g.model([1, 3, 8, 8], "y", [1, 8, 4, 4])


def mul_add_chain() -> onnx.ModelProto:
    """Conv and Gemm followed by per-channel Mul/Add constants, which fold into them."""
    g = Graph()
    c = g.node("Conv", ["x", g.param("conv.weight", 4, 3, 3, 3), g.param("conv.bias", 4)], name="conv")
    m = g.node("Mul", [c, g.param("scale", 4, 1, 1, positive=True)], name="scale")
    a = g.node("Add", [g.param("shift", 1, 4, 1, 1), m], name="shift")
    f = g.node("Flatten", [a], name="flatten")
    y = g.node("Gemm", [f, g.param("fc.weight", 36, 5)], name="fc")
    y = g.node("Mul", [y, g.param("fc.scale", 5, positive=True)], name="fc_scale")
    g.node("Add", [y, g.param("fc.shift", 1, 5)], "y", "fc_shift")
    return g.model([1, 3, 5, 5], "y", [1, 5])


def depthwise() -> onnx.ModelProto:
    """MobileNet-style block: pointwise, depthwise with SAME_UPPER padding, HardSwish, global pooling."""
    g = Graph()
    p = g.node("Conv", ["x", g.param("pw.weight", 8, 4, 1, 1)], name="pointwise")
    d = g.node("Conv", [p, g.param("dw.weight", 8, 1, 3, 3), g.param("dw.bias", 8)], name="depthwise",
               group=8, strides=[2, 2], auto_pad="SAME_UPPER")
    h = g.node("HardSwish", [d], name="hswish")
    c = g.node("Conv", [h, g.param("dil.weight", 8, 8, 3, 3)], name="dilated", dilations=[2, 2], pads=[2, 2, 2, 2])
    s = g.node("Clip", [c, g.const("lo", np.float32(0)), g.const("hi", np.float32(6))], name="relu6")
    g.node("GlobalAveragePool", [s], "y", "gap")
    return g.model([1, 4, 9, 9], "y", [1, 8, 1, 1])


def elementwise() -> onnx.ModelProto:
    """Broadcasting arithmetic and the activations nn models."""
    g = Graph()
    a = g.node("Add", ["x", g.param("bias", 6)], name="add")
    b = g.node("Mul", [a, g.param("gain", 1, 6)], name="mul")
    c = g.node("Sub", [b, g.const("one", np.float32(1.0))], name="sub")
    d = g.node("Div", [c, g.param("den", 4, 1, positive=True)], name="div")
    e = g.node("Pow", [d, g.const("two", np.float32(2.0))], name="pow")
    f = g.node("Sqrt", [g.node("Add", [e, g.const("eps", np.float32(1e-3))], name="add_eps")], name="sqrt")
    acts = [g.node("Relu", [d], name="relu"), g.node("LeakyRelu", [d], name="leaky", alpha=0.1),
            g.node("PRelu", [d, g.param("slope", 6)], name="prelu"), g.node("Sigmoid", [d], name="sigmoid"),
            g.node("HardSigmoid", [d], name="hsig"), g.node("Tanh", [d], name="tanh"), g.node("Erf", [d], name="erf"),
            g.node("Neg", [f], name="neg"), g.node("HardSwish", [d], name="hswish")]
    g.nodes.append(helper.make_node("Sum", acts, ["y"], name="sum"))
    return g.model([4, 6], "y", [4, 6])


def tensor_ops() -> onnx.ModelProto:
    """Shape and data movement: Concat, Split, Slice, Transpose, Squeeze, Unsqueeze, Pad, Resize, ReduceMean,
    Cast, Gather, Softmax, Identity, Dropout."""
    g = Graph()
    i = g.node("Identity", ["x"], name="identity")
    d = g.node("Dropout", [i], name="dropout")
    a, b = "split_a", "split_b"
    g.nodes.append(helper.make_node("Split", [d, g.const("split_sizes", np.array([1, 3], np.int64))], [a, b], name="split", axis=1))
    c = g.node("Concat", [b, a], name="concat", axis=1)
    s = g.node("Slice", [c, g.const("starts", np.array([1, -1], np.int64)), g.const("ends", np.array([6, -100], np.int64)),
                         g.const("axes", np.array([2, 3], np.int64)), g.const("steps", np.array([2, -2], np.int64))], name="slice")
    p = g.node("Pad", [s, g.const("pads", np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64)), g.const("pad_value", np.float32(0.5))],
               name="pad", mode="constant")
    r = g.node("Resize", [p, "", g.const("scales", np.array([1, 1, 2, 1.5], np.float32))], name="resize", mode="linear")
    n = g.node("Resize", [p, "", "", g.const("sizes", np.array([1, 4, 8, 5], np.int64))], name="nearest", mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    t = g.node("Transpose", [r], name="transpose", perm=[0, 2, 3, 1])
    m = g.node("ReduceMean", [t], name="mean", axes=[1], keepdims=0)
    q = g.node("Unsqueeze", [g.node("Squeeze", [n, g.const("sq", np.array([0], np.int64))], name="squeeze"),
                             g.const("unsq", np.array([0], np.int64))], name="unsqueeze")
    idx = g.node("Cast", [g.node("Relu", [g.const("raw", np.array([[2, 0], [1, 3]], np.float32))], name="raw_relu")],
                 name="cast", to=TensorProto.INT64)
    gathered = g.node("Gather", [m, idx], name="gather", axis=1)
    flat = g.node("Flatten", [gathered], name="flatten", axis=1)
    soft = g.node("Softmax", [flat], name="softmax", axis=-1)
    g.node("Add", [g.node("ReduceMean", [q], name="mean_all", keepdims=0), g.node("ReduceMean", [soft], name="mean2", keepdims=0)],
           "y", "out")
    return g.model([1, 4, 6, 6], "y", [])


def windows() -> onnx.ModelProto:
    """ConvTranspose, 1-D Conv, pools with ceil mode and padding, LRN."""
    g = Graph()
    t = g.node("ConvTranspose", ["x", g.param("up.weight", 3, 2, 3, 3), g.param("up.bias", 2)], name="up",
               strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])
    m = g.node("MaxPool", [t], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    a = g.node("AveragePool", [m], name="avgpool", kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0)
    n = g.node("LRN", [a], name="lrn", size=3, alpha=1e-3, beta=0.75, bias=1.0)
    r = g.node("Reshape", [n, g.const("shape3", np.array([1, 2, -1], np.int64))], name="to1d")
    c = g.node("Conv", [r, g.param("c1d.weight", 3, 2, 3)], name="conv1d", pads=[1, 1], strides=[2])
    g.node("MaxPool", [c], "y", "pool1d", kernel_shape=[2], strides=[2])
    return g.model([1, 3, 5, 5], "y", [1, 3, 6])


def matmul() -> onnx.ModelProto:
    """A linear layer on a sequence (MatMul + Add) and attention scores (activation x activation)."""
    g = Graph()
    q = g.node("Add", [g.node("MatMul", ["x", g.param("wq", 8, 8)], name="q_proj"), g.param("bq", 8)], name="q_bias")
    k = g.node("MatMul", ["x", g.param("wk", 8, 8)], name="k_proj")
    kt = g.node("Transpose", [k], name="k_t", perm=[0, 2, 1])
    scores = g.node("Softmax", [g.node("MatMul", [q, kt], name="scores")], name="attn", axis=-1)
    g.node("MatMul", [scores, "x"], "y", "context")
    return g.model([2, 5, 8], "y", [2, 5, 8])


def shape_chain() -> onnx.ModelProto:
    """x.view(x.size(0), -1) as the TorchScript exporter writes it: Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    g = Graph()
    c = g.node("Conv", ["x", g.param("conv.weight", 4, 1, 3, 3)], "/conv/Conv_output_0", "/conv/Conv", pads=[1, 1, 1, 1])
    s = g.node("Shape", [c], "/Shape_output_0", "/Shape")
    n = g.node("Gather", [s, g.const("/Constant_output_0", np.array(0, np.int64))], "/Gather_output_0", "/Gather", axis=0)
    u = g.node("Unsqueeze", [n, g.const("/axes", np.array([0], np.int64))], "/Unsqueeze_output_0", "/Unsqueeze")
    cat = g.node("Concat", [u, g.const("/minus_one", np.array([-1], np.int64))], "/Concat_output_0", "/Concat", axis=0)
    g.node("Reshape", [c, cat], "y", "/Reshape")
    return g.model(["batch", 1, 4, 4], "y", ["batch", 64])


def host_op() -> onnx.ModelProto:
    """Ops nn does not model (Hardmax, CumSum) stay generic and run on the host."""
    g = Graph()
    f = g.node("Flatten", ["x"], name="flatten")
    h = g.node("Hardmax", [f], name="hardmax", axis=1)
    g.node("CumSum", [h, g.const("axis", np.array(1, np.int64))], "y", "cumsum")
    return g.model([2, 3, 2], "y", [2, 6])


def legacy() -> onnx.ModelProto:
    """A Caffe2-era model: opset 9, IR 3, every initializer also a graph input, weights made by ConstantOfShape,
    a symbolic batch, tensor names with '/' and ':', unnamed nodes, Dropout in inference mode."""
    g = Graph()
    filled = helper.make_tensor("value", F, [1], [0.01])
    g.nodes.append(helper.make_node("ConstantOfShape", [g.const("conv/w_shape:0", np.array([4, 3, 3, 3], np.int64))],
                                    ["conv/w:0"], value=filled))
    g.param("conv/b:0", 4)
    g.nodes.append(helper.make_node("Conv", ["x", "conv/w:0", "conv/b:0"], ["conv/out:0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    params = [g.param(f"bn/{n}:0", 4, positive=n in ("scale", "var")) for n in ("scale", "bias", "mean", "var")]
    g.nodes.append(helper.make_node("BatchNormalization", ["conv/out:0", *params], ["bn/out:0"], epsilon=1e-3))
    g.nodes.append(helper.make_node("Dropout", ["bn/out:0"], ["drop/out:0"], ratio=0.5))
    g.nodes.append(helper.make_node("Relu", ["drop/out:0"], ["relu/out:0"]))
    g.nodes.append(helper.make_node("MaxPool", ["relu/out:0"], ["pool/out:0"], kernel_shape=[2, 2], strides=[2, 2]))
    g.nodes.append(helper.make_node("Reshape", ["pool/out:0", g.const("flat/shape:0", np.array([0, -1], np.int64))], ["flat/out:0"]))
    g.nodes.append(helper.make_node("Gemm", ["flat/out:0", g.param("fc/w:0", 10, 16), g.param("fc/b:0", 10)], ["fc/out:0"], transB=1))
    g.nodes.append(helper.make_node("Softmax", ["fc/out:0"], ["prob:0"], axis=1))
    graph = helper.make_graph(g.nodes, "legacy", [helper.make_tensor_value_info("x", F, ["N", 3, 4, 4])],
                              [helper.make_tensor_value_info("prob:0", F, ["N", 10])], g.inits)
    graph.input.extend(helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=3, producer_name="caffe2")


def qdq() -> onnx.ModelProto:
    """A QDQ model as a QAT exporter writes it (opset 13): int8 activations, a fake-quantized conv weight
    (QuantizeLinear of a float constant, per channel), a uint8 gemm weight with zero point 120, an int32 bias."""
    g = Graph()

    def grid(name: str, scale: float, zero: int, dtype=np.int8) -> list[str]:
        return [g.const(f"{name}.scale", np.float32(scale)), g.const(f"{name}.zero_point", dtype(zero))]

    def qdq_pair(x: str, name: str, scale: float, zero: int, dtype=np.int8) -> str:
        q = g.node("QuantizeLinear", [x, *grid(name, scale, zero, dtype)], f"{name}_q", f"{name}_quantize")
        return g.node("DequantizeLinear", [q, f"{name}.scale", f"{name}.zero_point"], f"{name}_dq", f"{name}_dequantize")

    x = qdq_pair("x", "x", 0.02, 0)
    scales = g.const("conv.weight_scale", np.array([0.01, 0.02, 0.015, 0.01], np.float32))
    zeros = g.const("conv.weight_zero_point", np.zeros(4, np.int8))
    wq = g.node("QuantizeLinear", [g.param("conv.weight", 4, 2, 3, 3, scale=0.3), scales, zeros], "conv.weight_q", "wq", axis=0)
    w = g.node("DequantizeLinear", [wq, scales, zeros], "conv.weight_dq", "wdq", axis=0)
    c = g.node("Conv", [x, w, g.param("conv.bias", 4, scale=0.1)], "c", "conv", pads=[1, 1, 1, 1])
    r = qdq_pair(g.node("Relu", [c], "r", "relu"), "r", 0.05, -128)
    p = qdq_pair(g.node("MaxPool", [r], "p", "pool", kernel_shape=[2, 2], strides=[2, 2]), "p", 0.05, -128)
    f = qdq_pair(g.node("Flatten", [p], "f", "flatten"), "f", 0.05, -128)
    fc = g.const("fc.weight", g.rng.integers(0, 256, (3, 16)).astype(np.uint8))
    fw = g.node("DequantizeLinear", [fc, *grid("fc.weight", 0.004, 120, np.uint8)], "fc.weight_dq", "fc_wdq")
    fb = g.node("DequantizeLinear", [g.const("fc.bias", np.array([100, -50, 7], np.int32)), g.const("fc.bias_scale", np.float32(0.05) * np.float32(0.004))],
                "fc.bias_dq", "fc_bdq")
    y = qdq_pair(g.node("Gemm", [f, fw, fb], "logits", "fc", transB=1), "y", 0.1, 0, np.uint8)
    return g.model([1, 2, 4, 4], y, [1, 3], opset=13)


def qlinear() -> onnx.ModelProto:
    """The QOperator form: QuantizeLinear, QLinearConv, int8 MaxPool and Flatten, QLinearMatMul, DequantizeLinear,
    and a float Relu."""
    g = Graph()

    def grid(name: str, scale, zero, dtype=np.int8) -> list[str]:
        return [g.const(f"{name}.scale", np.asarray(scale, np.float32)), g.const(f"{name}.zero_point", np.asarray(zero, dtype))]

    x = g.node("QuantizeLinear", ["x", *grid("x", 0.02, 0)], "xq", "quantize")
    w = g.const("conv.weight", g.rng.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8))
    b = g.const("conv.bias", g.rng.integers(-500, 500, 4).astype(np.int32))
    c = g.node("QLinearConv", [x, "x.scale", "x.zero_point", w, *grid("conv.weight", [0.01, 0.02, 0.015, 0.01], [0] * 4),
                               *grid("c", 0.5, -10), b], "c", "conv", pads=[1, 1, 1, 1])
    p = g.node("MaxPool", [c], "p", "pool", kernel_shape=[2, 2], strides=[2, 2])
    f = g.node("Flatten", [p], "f", "flatten")
    m = g.const("fc.weight", g.rng.integers(-127, 128, (16, 3)).astype(np.int8))
    y = g.node("QLinearMatMul", [f, "c.scale", "c.zero_point", m, *grid("fc.weight", [0.01, 0.02, 0.03], [0, 0, 0]),
                                 *grid("yq", 0.25, 5)], "yq", "fc")
    real = g.node("DequantizeLinear", [y, "yq.scale", "yq.zero_point"], "real", "dequantize")
    return g.model([1, 2, 4, 4], g.node("Relu", [real], "y", "relu"), [1, 3])


def invalid_graph() -> onnx.ModelProto:
    """Not a valid graph: a node reads a tensor nothing defines."""
    g = Graph()
    g.node("Add", ["x", "undefined"], "y", "add")
    return g.model([2], "y", [2])


MODELS = {f.__name__: f for f in (tiny_cnn, conv_bn_relu, mul_add_chain, depthwise, elementwise, tensor_ops, windows,
                                  matmul, shape_chain, host_op, legacy, qdq, qlinear, invalid_graph)}
SYMBOLIC = {"shape_chain": {"x": (2, 1, 4, 4)}, "legacy": {"x": (2, 3, 4, 4)}}  # shapes to give --input-shape


def seeded_npz(path: str, specs: list[str]) -> None:
    """`w=4x2x3x3` -> a seeded N(0, 1) float32 array `w` of that shape, saved in `path`."""
    rng = np.random.default_rng(0)
    arrays = {}
    for spec in specs:
        name, _, shape = spec.partition("=")
        arrays[name] = rng.standard_normal([int(d) for d in shape.split("x") if d]).astype(np.float32)
    np.savez(path, **arrays)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--list"]:
        print("\n".join(MODELS))
        return 0
    if argv[:1] == ["npz"] and len(argv) >= 2:
        seeded_npz(argv[1], argv[2:])
        return 0
    if len(argv) != 2 or argv[0] not in MODELS:
        print(f"usage: models.py NAME OUT.onnx | npz OUT.npz NAME=SHAPE... | --list; names: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    onnx.save(MODELS[argv[0]](), argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

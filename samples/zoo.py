"""Standard ImageNet CNNs as ONNX graphs with seeded random weights.

    python samples/zoo.py NAME -o FILE [--seed N] [--batch N | --dynamic-batch] [--verify]

NAME is one of resnet18, resnet50, vgg16, mobilenetv2.  The graphs are built
with ``onnx.helper`` and numpy only (no torch, no downloads) and look like
what ``torch.onnx.export(dynamo=False, do_constant_folding=False)`` emits for
the torchvision models in eval mode: same topology, same node / tensor /
initializer names (``/layer1/layer1.0/conv1/Conv``, ``layer1.0.conv1.weight``,
``/layer1/layer1.0/conv1/Conv_output_0``), BatchNormalization kept as a node
after a bias-free Conv.  Deliberate differences from a real export:

* MobileNetV2's ReLU6 is ``Clip(x, min, max)`` with min/max read from two
  shared scalar initializers (``clip_min``, ``clip_max``); the exporter uses a
  pair of Constant nodes per Clip.
* VGG-16 omits the ``AdaptiveAvgPool2d((7, 7))``, which the exporter turns
  into a 1x1 AveragePool (an identity at 224x224).  Dropout is omitted, as the
  exporter does in eval mode.

Input ``input`` is batch x 3 x 224 x 224 float32, output ``output`` is
batch x 1000, opset 17, IR version 8.  Weights are Kaiming-normal (fan-in);
BatchNorm parameters are near identity, and the last BatchNorm of every
residual branch has gamma scaled by ``RESIDUAL_GAMMA`` so that activations
stay O(1) through the depth.  The output is byte-identical for identical
arguments.  ``build(name, seed, batch)`` returns the ModelProto.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
NUM_CLASSES = 1000
RESIDUAL_GAMMA = 0.3  # scale of the BN gamma closing each residual branch


def scope(module: str) -> str:
    """PyTorch exporter scope of a module path.

    ``layer1.0.downsample.0`` -> ``/layer1/layer1.0/downsample/downsample.0``;
    the root module ``""`` has the empty scope.
    """
    parts: list[str] = []
    for part in module.split(".") if module else []:
        parts.append(f"{parts[-1]}.{part}" if part.isdigit() and parts else part)
    return "".join("/" + part for part in parts)


class GraphBuilder:
    """Appends exporter-style nodes and seeded initializers to one graph."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: set[str] = set()  # node names, kept unique
        self.clip_bounds: list[str] = []

    # -- primitives ---------------------------------------------------------
    def param(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def normal(self, shape: tuple[int, ...], std: float, mean: float = 0.0) -> np.ndarray:
        return mean + std * self.rng.standard_normal(shape, dtype=np.float32)

    def op(self, op_type: str, module: str, inputs: list[str],
           output: str | None = None, **attrs) -> str:
        """Add node ``<scope>/<op_type>[_k]``; returns its (single) output."""
        base = f"{scope(module)}/{op_type}"
        name, k = base, 0
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        output = output or f"{name}_output_0"
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=name, **attrs))
        return output

    # -- layers -------------------------------------------------------------
    def conv(self, x: str, module: str, cin: int, cout: int, k: int,
             stride: int = 1, groups: int = 1, bias: bool = False) -> str:
        fan_in = cin // groups * k * k
        weight = self.normal((cout, cin // groups, k, k), np.sqrt(2.0 / fan_in))
        inputs = [x, self.param(f"{module}.weight", weight)]
        if bias:
            inputs.append(self.param(f"{module}.bias", self.normal((cout,), 0.01)))
        return self.op("Conv", module, inputs, dilations=[1, 1], group=groups,
                       kernel_shape=[k, k], pads=[k // 2] * 4, strides=[stride] * 2)

    def batchnorm(self, x: str, module: str, c: int, gamma: float = 1.0) -> str:
        inputs = [x]
        for suffix, value in [("weight", gamma * self.normal((c,), 0.05, mean=1.0)),
                              ("bias", self.normal((c,), 0.05)),
                              ("running_mean", self.normal((c,), 0.05)),
                              ("running_var", self.rng.uniform(0.8, 1.25, c))]:
            inputs.append(self.param(f"{module}.{suffix}", value))
        return self.op("BatchNormalization", module, inputs,
                       epsilon=1e-5, momentum=0.9, training_mode=0)

    def conv_bn(self, x: str, conv: str, bn: str, cin: int, cout: int, k: int,
                stride: int = 1, groups: int = 1, gamma: float = 1.0) -> str:
        """Bias-free Conv followed by BatchNormalization (modules ``conv``, ``bn``)."""
        return self.batchnorm(self.conv(x, conv, cin, cout, k, stride, groups), bn, cout, gamma)

    def relu(self, x: str, module: str) -> str:
        return self.op("Relu", module, [x])

    def relu6(self, x: str, module: str) -> str:
        if not self.clip_bounds:  # shared scalar initializers, created on first use
            self.clip_bounds = [self.param("clip_min", np.array(0.0)),
                                self.param("clip_max", np.array(6.0))]
        return self.op("Clip", module, [x, *self.clip_bounds])

    def maxpool(self, x: str, module: str, k: int, stride: int, pad: int) -> str:
        return self.op("MaxPool", module, [x], ceil_mode=0, dilations=[1, 1],
                       kernel_shape=[k, k], pads=[pad] * 4, strides=[stride] * 2)

    def gemm(self, x: str, module: str, cin: int, cout: int, output: str | None = None) -> str:
        weight = self.param(f"{module}.weight", self.normal((cout, cin), np.sqrt(2.0 / cin)))
        bias = self.param(f"{module}.bias", self.normal((cout,), 0.01))
        return self.op("Gemm", module, [x, weight, bias], output, alpha=1.0, beta=1.0, transB=1)

    def classifier(self, x: str, pool: str, fc: str, cin: int) -> str:
        """GlobalAveragePool -> Flatten -> Gemm producing the graph output."""
        x = self.op("Flatten", "", [self.op("GlobalAveragePool", pool, [x])], axis=1)
        return self.gemm(x, fc, cin, NUM_CLASSES, output="output")

    def model(self, name: str, batch: int | str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "main_graph",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 224, 224])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, NUM_CLASSES])],
            self.initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                 ir_version=IR_VERSION, producer_name="pimc-samples-zoo",
                                 doc_string=f"{name}, random weights")


# -- ResNet -------------------------------------------------------------------
def downsample_add_relu(b: GraphBuilder, x: str, y: str, m: str, cin: int, cout: int,
                        stride: int, relu: str) -> str:
    """Residual tail of a torchvision block: optional projection, Add, ReLU."""
    if stride != 1 or cin != cout:
        x = b.conv_bn(x, f"{m}.downsample.0", f"{m}.downsample.1", cin, cout, 1, stride)
    return b.relu(b.op("Add", m, [y, x]), f"{m}.{relu}")


def basic_block(b: GraphBuilder, x: str, m: str, cin: int, width: int, stride: int):
    y = b.relu(b.conv_bn(x, f"{m}.conv1", f"{m}.bn1", cin, width, 3, stride), f"{m}.relu")
    y = b.conv_bn(y, f"{m}.conv2", f"{m}.bn2", width, width, 3, gamma=RESIDUAL_GAMMA)
    return downsample_add_relu(b, x, y, m, cin, width, stride, "relu_1"), width


def bottleneck(b: GraphBuilder, x: str, m: str, cin: int, width: int, stride: int):
    cout = 4 * width
    y = b.relu(b.conv_bn(x, f"{m}.conv1", f"{m}.bn1", cin, width, 1), f"{m}.relu")
    y = b.relu(b.conv_bn(y, f"{m}.conv2", f"{m}.bn2", width, width, 3, stride), f"{m}.relu_1")
    y = b.conv_bn(y, f"{m}.conv3", f"{m}.bn3", width, cout, 1, gamma=RESIDUAL_GAMMA)
    return downsample_add_relu(b, x, y, m, cin, cout, stride, "relu_2"), cout


def resnet(b: GraphBuilder, block, depths: tuple[int, ...]) -> None:
    x = b.relu(b.conv_bn("input", "conv1", "bn1", 3, 64, 7, stride=2), "relu")
    x = b.maxpool(x, "maxpool", k=3, stride=2, pad=1)
    cin = 64
    for stage, (depth, width) in enumerate(zip(depths, (64, 128, 256, 512)), start=1):
        for i in range(depth):
            stride = 2 if stage > 1 and i == 0 else 1
            x, cin = block(b, x, f"layer{stage}.{i}", cin, width, stride)
    b.classifier(x, "avgpool", "fc", cin)


# -- VGG-16 -------------------------------------------------------------------
VGG16_FEATURES = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                  512, 512, 512, "M", 512, 512, 512, "M")


def vgg16(b: GraphBuilder) -> None:
    x, cin, idx = "input", 3, 0
    for v in VGG16_FEATURES:
        if v == "M":
            x, idx = b.maxpool(x, f"features.{idx}", k=2, stride=2, pad=0), idx + 1
        else:
            x = b.conv(x, f"features.{idx}", cin, v, 3, bias=True)
            x, cin, idx = b.relu(x, f"features.{idx + 1}"), v, idx + 2
    x = b.op("Flatten", "", [x], axis=1)
    x = b.relu(b.gemm(x, "classifier.0", 512 * 7 * 7, 4096), "classifier.1")
    x = b.relu(b.gemm(x, "classifier.3", 4096, 4096), "classifier.4")
    b.gemm(x, "classifier.6", 4096, NUM_CLASSES, output="output")


# -- MobileNetV2 ----------------------------------------------------------------
MOBILENETV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))  # t, c, n, s


def conv_bn_relu6(b: GraphBuilder, x: str, m: str, cin: int, cout: int, k: int,
                  stride: int = 1, groups: int = 1) -> str:
    """torchvision Conv2dNormActivation: submodules ``m.0`` (conv), ``m.1``, ``m.2``."""
    return b.relu6(b.conv_bn(x, f"{m}.0", f"{m}.1", cin, cout, k, stride, groups), f"{m}.2")


def inverted_residual(b: GraphBuilder, x: str, m: str, cin: int, cout: int,
                      stride: int, expand: int) -> str:
    hidden, i, y = cin * expand, 0, x
    if expand != 1:
        y, i = conv_bn_relu6(b, y, f"{m}.conv.0", cin, hidden, 1), 1
    y = conv_bn_relu6(b, y, f"{m}.conv.{i}", hidden, hidden, 3, stride, groups=hidden)
    residual = stride == 1 and cin == cout
    y = b.conv_bn(y, f"{m}.conv.{i + 1}", f"{m}.conv.{i + 2}", hidden, cout, 1,
                  gamma=RESIDUAL_GAMMA if residual else 1.0)
    return b.op("Add", m, [x, y]) if residual else y


def mobilenetv2(b: GraphBuilder) -> None:
    x = conv_bn_relu6(b, "input", "features.0", 3, 32, 3, stride=2)
    cin, idx = 32, 1
    for expand, cout, repeats, stride in MOBILENETV2_STAGES:
        for i in range(repeats):
            x = inverted_residual(b, x, f"features.{idx}", cin, cout,
                                  stride if i == 0 else 1, expand)
            cin, idx = cout, idx + 1
    x = conv_bn_relu6(b, x, f"features.{idx}", cin, 1280, 1)
    b.classifier(x, "", "classifier.1", 1280)


ARCHITECTURES = {
    "resnet18": lambda b: resnet(b, basic_block, (2, 2, 2, 2)),
    "resnet50": lambda b: resnet(b, bottleneck, (3, 4, 6, 3)),
    "vgg16": vgg16,
    "mobilenetv2": mobilenetv2,
}


# -- CIFAR variants (32 x 32 inputs, 10 classes), the shapes the MLG paper measures ---------------------
CIFAR_CLASSES = 10
DENSENET121_BLOCKS, DENSENET_GROWTH = (6, 12, 24, 16), 32
MOBILENETV2_CIFAR_STAGES = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                            (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))  # t, c, n, s (kuangliu's CIFAR net)


def cifar_classifier(b: GraphBuilder, x: str, cin: int) -> str:
    x = b.op("Flatten", "", [b.op("GlobalAveragePool", "avgpool", [x])], axis=1)
    weight = b.param("linear.weight", b.normal((CIFAR_CLASSES, cin), np.sqrt(2.0 / cin)))
    bias = b.param("linear.bias", b.normal((CIFAR_CLASSES,), 0.01))
    return b.op("Gemm", "linear", [x, weight, bias], "output", alpha=1.0, beta=1.0, transB=1)


def resnet18_cifar(b: GraphBuilder) -> None:
    """CIFAR ResNet-18 (kuangliu, MLG's resnet.py): 3x3 stem of 64 channels, stride 1, no max pool."""
    x = b.relu(b.conv_bn("input", "conv1", "bn1", 3, 64, 3), "relu")
    cin = 64
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for i in range(2):
            x, cin = basic_block(b, x, f"layer{stage}.{i}", cin, width, 2 if stage > 1 and i == 0 else 1)
    cifar_classifier(b, x, cin)


def bn_relu_conv(b: GraphBuilder, x: str, m: str, cin: int, cout: int, k: int) -> str:
    """A pre-activation DenseNet unit: BatchNormalization, ReLU, bias-free conv."""
    return b.conv(b.relu(b.batchnorm(x, f"{m}.bn", cin), f"{m}.relu"), f"{m}.conv", cin, cout, k)


def densenet121_cifar(b: GraphBuilder) -> None:
    """CIFAR DenseNet-121 (kuangliu): growth 32, blocks 6-12-24-16, bottlenecks 1x1 (4 x growth) then 3x3,
    transitions halve the channels and average-pool 2x2."""
    cin = 2 * DENSENET_GROWTH
    x = b.conv("input", "conv1", 3, cin, 3)
    for stage, layers in enumerate(DENSENET121_BLOCKS, start=1):
        for i in range(layers):
            m = f"dense{stage}.{i}"
            y = bn_relu_conv(b, x, f"{m}.1", cin, 4 * DENSENET_GROWTH, 1)
            y = bn_relu_conv(b, y, f"{m}.2", 4 * DENSENET_GROWTH, DENSENET_GROWTH, 3)
            x, cin = b.op("Concat", m, [y, x], axis=1), cin + DENSENET_GROWTH
        if stage < len(DENSENET121_BLOCKS):
            x = bn_relu_conv(b, x, f"trans{stage}", cin, cin // 2, 1)
            x, cin = b.op("AveragePool", f"trans{stage}", [x], kernel_shape=[2, 2], strides=[2, 2]), cin // 2
    cifar_classifier(b, b.relu(b.batchnorm(x, "bn", cin), "relu"), cin)


def mobilenetv2_cifar(b: GraphBuilder) -> None:
    """CIFAR MobileNetV2 (kuangliu): 3x3 stem of 32 channels at stride 1, stage 2 at stride 1, ReLU."""
    x = b.relu(b.conv_bn("input", "conv1", "bn1", 3, 32, 3), "relu")
    cin, idx = 32, 0
    for expand, cout, repeats, stride in MOBILENETV2_CIFAR_STAGES:
        for i in range(repeats):
            m, hidden, s = f"layers.{idx}", cin * expand, stride if i == 0 else 1
            y = b.relu(b.conv_bn(x, f"{m}.conv1", f"{m}.bn1", cin, hidden, 1), f"{m}.relu1")
            y = b.relu(b.conv_bn(y, f"{m}.conv2", f"{m}.bn2", hidden, hidden, 3, s, groups=hidden), f"{m}.relu2")
            y = b.conv_bn(y, f"{m}.conv3", f"{m}.bn3", hidden, cout, 1, gamma=RESIDUAL_GAMMA if s == 1 else 1.0)
            if s == 1:
                y = b.op("Add", m, [y, b.conv_bn(x, f"{m}.shortcut.0", f"{m}.shortcut.1", cin, cout, 1)
                                    if cin != cout else x])
            x, cin, idx = y, cout, idx + 1
    x = b.relu(b.conv_bn(x, "conv2", "bn2", cin, 1280, 1), "relu")
    cifar_classifier(b, x, 1280)


CIFAR_ARCHITECTURES = {
    "resnet18-cifar": resnet18_cifar,
    "densenet121-cifar": densenet121_cifar,
    "mobilenetv2-cifar": mobilenetv2_cifar,
}


def build_cifar(name: str, seed: int = 0, batch: int | str = 1) -> onnx.ModelProto:
    """CIFAR model ``name`` (input ``input`` batch x 3 x 32 x 32, output ``output`` batch x 10)."""
    builder = GraphBuilder(seed)
    CIFAR_ARCHITECTURES[name](builder)
    graph = helper.make_graph(
        builder.nodes, "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, CIFAR_CLASSES])], builder.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                             producer_name="pimc-samples-zoo", doc_string=f"{name}, random weights")


def build(name: str, seed: int = 0, batch: int | str = 1) -> onnx.ModelProto:
    """Model ``name`` with weights from ``seed``; ``batch`` may be symbolic (``"N"``)."""
    if name in CIFAR_ARCHITECTURES:
        return build_cifar(name, seed, batch)
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(ARCHITECTURES)}")
    builder = GraphBuilder(seed)
    ARCHITECTURES[name](builder)
    return builder.model(name, batch)


def verify(model: onnx.ModelProto, batch: int = 2, seed: int = 0) -> np.ndarray:
    """Full ONNX check, then run onnxruntime on N(0, 1) input; returns the logits."""
    import onnxruntime as ort

    onnx.checker.check_model(model, full_check=True)
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    batch = dim.dim_value or batch
    shape = [batch] + [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["output"], {"input": x})
    if not np.isfinite(logits).all():
        raise RuntimeError("non-finite logits")
    return logits


DVS_GESTURE_LAYERS = (  # (out channels, stride) of the 6 convs (3x3, pad 1), then the FC widths
    ((16, 2), (32, 2), (32, 2), (64, 1), (64, 2), (64, 2)), (256, 128, 11))


def dvs_gesture_scnn(path: str, seed: int = 0, events: str = "", samples: int = 2, steps: int = 8,
                     density: float = 0.02) -> None:
    """A DVS128-Gesture-sized spiking CNN as NIR: 2 x 128 x 128 events, 6 convs (3x3) and 3 FCs with IF neurons
    (threshold 1) after all but the last, which is a readout of the 11 classes. Seeded N(0, 1) weights times
    2.5 / sqrt(fan-in), which keeps every layer spiking on the events below; no biases. With `events`, also writes
    `samples` seeded random event streams of `steps` frames at `density` (x: N x T x 2 x 128 x 128 uint8) for
    calibration and costs. Needs the `nir` package."""
    import nir

    rng = np.random.default_rng(seed)
    nodes, edges, previous, channels, size = {"input": nir.Input(np.array([2, 128, 128]))}, [], "input", 2, 128
    convs, fcs = DVS_GESTURE_LAYERS

    def add(name: str, node) -> None:
        nonlocal previous
        nodes[name] = node
        edges.append((previous, name))
        previous = name

    def fire(name: str, shape: tuple[int, ...]) -> None:
        add(name, nir.IF(r=np.ones(shape), v_threshold=np.ones(shape)))

    for index, (out, stride) in enumerate(convs, start=1):
        weight = rng.standard_normal((out, channels, 3, 3)) * 2.5 / np.sqrt(channels * 9)
        size = (size + 2 - 3) // stride + 1
        add(f"conv{index}", nir.Conv2d(input_shape=None, weight=weight.astype(np.float32), stride=stride, padding=1,
                                       dilation=1, groups=1, bias=np.zeros(out, np.float32)))
        fire(f"if{index}", (out, size, size))
        channels = out
    add("flatten", nir.Flatten(input_type={"input": np.array([channels, size, size])}, start_dim=0))
    features = channels * size * size
    for index, out in enumerate(fcs, start=1):
        weight = rng.standard_normal((out, features)) * 2.5 / np.sqrt(features)
        add(f"fc{index}", nir.Linear(weight=weight.astype(np.float32)))
        if index < len(fcs):
            fire(f"if_fc{index}", (out,))
        features = out
    add("output", nir.Output(np.array([features])))
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    graph.infer_types()
    nir.write(path, graph)
    if events:
        frames = rng.random((samples, steps, 2, 128, 128)) < density
        np.savez_compressed(events, x=frames.astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a seeded random-weight ONNX CNN.")
    parser.add_argument("name", choices=sorted(ARCHITECTURES) + sorted(CIFAR_ARCHITECTURES))
    parser.add_argument("-o", "--output", required=True, help="path of the .onnx file")
    parser.add_argument("--seed", type=int, default=0)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--batch", type=int, default=1)
    group.add_argument("--dynamic-batch", action="store_true", help="symbolic batch dim N")
    parser.add_argument("--verify", action="store_true",
                        help="run onnx.checker (full) and onnxruntime, print statistics")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model = build(args.name, args.seed, "N" if args.dynamic_batch else args.batch)
    onnx.save(model, args.output)
    ops = Counter(node.op_type for node in model.graph.node)
    print(f"{args.name}: {len(model.graph.node)} nodes, "
          f"{sum(np.prod(t.dims) for t in model.graph.initializer):,} parameters, "
          f"built in {time.perf_counter() - start:.1f}s -> {args.output}")
    print("ops: " + ", ".join(f"{op} {n}" for op, n in sorted(ops.items())))
    if args.verify:
        logits = verify(model)
        print(f"onnxruntime on N(0,1) input: logits std {logits.std():.4g}, "
              f"mean {logits.mean():.4g}, max |x| {np.abs(logits).max():.4g}, "
              f"argmax {logits.argmax(axis=1).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Quantize the digits samples with onnxruntime's own quantizer, as a user would, into tests/e2e/data/quantized/.

    python tests/e2e/data/make_quantized_models.py

Each float model is pre-processed (`quant_pre_process`: shape inference and graph optimization, which
folds BatchNormalization into the conv), then `quantize_static` calibrates it (MinMax) on the first 16
held-out digits. Written, for the CNN and the MLP:

* `digits_{cnn,mlp}_{qdq,qop}_{pc,pt}_{u8,s8}.onnx`: QDQ or QOperator format, per-channel or per-tensor
  int8 weights, uint8 or int8 activations (16 models);
* `digits_mlp_matmul_{qdq,qop}.onnx`: the MLP with each Gemm written as MatMul + Add, as TensorFlow
  exporters write it, with only the MatMuls quantized (QOperator: QLinearMatMul);
* `digits_mlp_qdq_u8w.onnx`: uint8 weights, whose zero points are not 0;
* `digits_cnn_qdq_conv_only.onnx`: only the convs quantized; the Gemm stays float.

The output is deterministic for a given onnxruntime version.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).with_name("quantized")
CALIBRATION = 16


class Digits(CalibrationDataReader):
    """The first CALIBRATION held-out digits, one at a time."""

    def __init__(self) -> None:
        x = np.load(ROOT / "samples" / "digits_test.npz")["x"][:CALIBRATION]
        self.batches = iter([{"x": x[i : i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.batches, None)


def as_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each Gemm(x, W, b) {transB = 1} becomes MatMul(x, W^T) + b."""
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type != "Gemm":
            nodes.append(node)
            continue
        x, w, b = node.input
        transposed = numpy_helper.from_array(numpy_helper.to_array(weights[w]).T.copy(), f"{w}_t")
        graph.initializer.append(transposed)
        product = f"{node.output[0]}_matmul"
        nodes.append(helper.make_node("MatMul", [x, transposed.name], [product], name=node.name.replace("Gemm", "MatMul")))
        nodes.append(helper.make_node("Add", [product, b], list(node.output), name=node.name.replace("Gemm", "Add")))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def quantize(source: Path, name: str, **options) -> None:
    quantize_static(str(source), str(OUT / f"{name}.onnx"), Digits(), weight_type=options.pop("weight_type", QuantType.QInt8),
                    **options)
    print(f"wrote {OUT / name}.onnx")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        prepared = {}
        for model in ("digits_cnn", "digits_mlp"):
            prepared[model] = Path(folder) / f"{model}.onnx"
            # The digits models have no symbolic shapes beyond the batch, so onnx's shape inference suffices.
            quant_pre_process(str(ROOT / "samples" / f"{model}.onnx"), str(prepared[model]), skip_symbolic_shape=True)
        matmul = Path(folder) / "digits_mlp_matmul.onnx"
        onnx.save(as_matmul(onnx.load(prepared["digits_mlp"])), matmul)
        for model, source in prepared.items():
            for fmt, tag in ((QuantFormat.QDQ, "qdq"), (QuantFormat.QOperator, "qop")):
                for per_channel in (True, False):
                    for activation, act_tag in ((QuantType.QUInt8, "u8"), (QuantType.QInt8, "s8")):
                        quantize(source, f"{model}_{tag}_{'pc' if per_channel else 'pt'}_{act_tag}", quant_format=fmt,
                                 per_channel=per_channel, activation_type=activation)
        for fmt, tag in ((QuantFormat.QDQ, "qdq"), (QuantFormat.QOperator, "qop")):
            quantize(matmul, f"digits_mlp_matmul_{tag}", quant_format=fmt, per_channel=True,
                     activation_type=QuantType.QUInt8, op_types_to_quantize=["MatMul"])
        quantize(prepared["digits_mlp"], "digits_mlp_qdq_u8w", quant_format=QuantFormat.QDQ,
                 activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8)
        quantize(prepared["digits_cnn"], "digits_cnn_qdq_conv_only", quant_format=QuantFormat.QDQ, per_channel=True,
                 activation_type=QuantType.QUInt8, op_types_to_quantize=["Conv"])


if __name__ == "__main__":
    main()

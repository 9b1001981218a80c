"""Write every bad input of the error corpus into a folder: damaged ONNX models, IR texts, arrays, programs.

    python tests/errors/make_inputs.py DIR      # then tests/errors/error_cases.py says what each command must print

Models are built with onnx.helper and seeded numpy; a compiled program comes from `pimc compile` on the
shipped digits MLP. Nothing is downloaded; the same bytes every time.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "samples")
F = TensorProto.FLOAT


def gemm_model(x_shape=(1, 4), weight: np.ndarray | None = None, ir_version: int = 8, listed: bool = False,
               x_type: int = F) -> onnx.ModelProto:
    """y = x W^T + b, a 4 -> 3 layer with seeded weights."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 4)).astype(np.float32) if weight is None else weight
    inits = [numpy_helper.from_array(w, "fc.weight"), numpy_helper.from_array(np.zeros(3, np.float32), "fc.bias")]
    inputs = [helper.make_tensor_value_info("x", x_type, list(x_shape))]
    if listed:
        inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    node = helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)
    batch = x_shape[0] if x_shape else 1
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", F, [batch, 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=ir_version)


def raw_mismatch() -> onnx.ModelProto:
    model = gemm_model()
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:20]
    return model


def non_finite(value: float) -> onnx.ModelProto:
    w = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    w[1, 2] = value
    return gemm_model(weight=w)


def non_utf8_name() -> bytes:
    """The gemm model with its graph's name a byte that is not UTF-8 (protobuf loads it, reading it fails)."""
    data = gemm_model().SerializeToString()
    assert data.count(b"\x12\x01g") == 1
    return data.replace(b"\x12\x01g", b"\x12\x01\x80")


def symbolic_inner() -> onnx.ModelProto:
    """x: [batch, seq, 4], a symbolic dimension that is not the batch."""
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", F, ["batch", "seq", 4])],
                              [helper.make_tensor_value_info("y", F, ["batch", "seq", 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def no_shape() -> onnx.ModelProto:
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", F, None)],
                              [helper.make_tensor_value_info("y", F, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def string_input() -> onnx.ModelProto:
    node = helper.make_node("Identity", ["x"], ["y"], name="id")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.STRING, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.STRING, [1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def unsorted() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="second"), helper.make_node("Relu", ["x"], ["a"], name="first")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, [1, 4])],
                              [helper.make_tensor_value_info("y", F, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def data_dependent() -> onnx.ModelProto:
    """NonZero: its output shape depends on the data."""
    nodes = [helper.make_node("NonZero", ["x"], ["y"], name="nz")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [2, None])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def two_inputs() -> onnx.ModelProto:
    node = helper.make_node("Add", ["x", "z"], ["y"], name="add")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", F, [1, 4]),
                                            helper.make_tensor_value_info("z", F, [1, 4])],
                              [helper.make_tensor_value_info("y", F, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def mlg_constant(output: str, value: float) -> onnx.ModelProto:
    """The MLG digits CNN with constant node `output` of its conv2's generation subgraph set to `value`."""
    model = onnx.load(os.path.join(SAMPLES, "digits_mlg.onnx"))
    node = next(n for n in model.graph.node if n.output[0] == f"/features/features.3/{output}")
    node.attribute[0].t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(node.attribute[0].t) * 0 + value))
    return model


MODELS = {
    "good.onnx": lambda: gemm_model(),
    "raw_mismatch.onnx": raw_mismatch,
    "nan_weight.onnx": lambda: non_finite(np.nan),
    "inf_weight.onnx": lambda: non_finite(np.inf),
    "zero_batch.onnx": lambda: gemm_model((0, 4)),
    "huge_batch.onnx": lambda: gemm_model((1_000_000_000, 4)),
    "symbolic_inner.onnx": symbolic_inner,
    "no_shape.onnx": no_shape,
    "string_input.onnx": string_input,
    "unsorted.onnx": unsorted,
    "data_dependent.onnx": data_dependent,
    "two_inputs.onnx": two_inputs,
    "mlg_bad_bits.onnx": lambda: mlg_constant("Constant_2_output_0", 6.0),  # a quantizer's Round of x * 6
    "mlg_off_grid.onnx": lambda: mlg_constant("Constant_13_output_0", 6.5),  # V's levels divided by 6.5
}

GOOD_IR = """module @m attributes {stage = "nn", weights = "%s"} {
  func.func @main(%%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
    %%w = nn.weight() {ref = "w"} : () -> tensor<3x4xf32>
    %%y = nn.gemm(%%x, %%w) {trans_b = true} : (tensor<1x4xf32>, tensor<3x4xf32>) -> tensor<1x3xf32>
    func.return(%%y) : (tensor<1x3xf32>) -> ()
  }
}
"""


def texts() -> dict[str, str | bytes]:
    long_line = "module @m { func.func @main() -> () { " + "x" * 1_000_000 + " } }\n"
    nested = ("module @m {\n  func.func @main() {\n" + "test.region() ({\n" * 5000 + "}) : () -> ()\n" * 5000
              + "    func.return() : () -> ()\n  }\n}\n")
    return {
        "syntax.pimc": "module @m {\n  func.func @main( -> () {\n  }\n}\n",
        "bad_escape.pimc": 'module @m {\n  func.func @main() {\n    func.return() : () -> () loc("\\/f")\n  }\n}\n',
        "control_char.pimc": "\x1codule @m {\n}\n",
        "long_line.pimc": long_line,
        "nested.pimc": nested,
        "binary.pimc": b"module @m {\xff\xfe}\n",
        "empty.pimc": "",
        "unknown_op.pimc": "module @m {\n  func.func @main() -> () {\n    nn.conv() : () -> ()\n    func.return() : () -> ()\n  }\n}\n",
        "no_store.pimc": GOOD_IR % "no_store.npz",
        "short_store.pimc": GOOD_IR % "short_store.npz",
        "bad_store.pimc": GOOD_IR % "bad_store.npz",
        "good.pimc": GOOD_IR % "good.npz",
        "no_weights_attribute.pimc": (GOOD_IR % "").replace(', weights = ""', ""),
        "bad.toml": "adc-bits = [\n",
        "unknown.toml": "adc-bit = 6\n",
        "inf.toml": "dac-pj = inf\n",
        "notes.txt": "not a model\n",
    }


def arrays(folder: str) -> None:
    rng = np.random.default_rng(0)
    np.savez(os.path.join(folder, "short_store.npz"), w=np.zeros((2, 4), np.float32))
    np.savez(os.path.join(folder, "good.npz"), w=rng.standard_normal((3, 4)).astype(np.float32))
    with open(os.path.join(folder, "bad_store.npz"), "wb") as file:
        file.write(b"PK\x03\x04 truncated")
    test = np.load(os.path.join(SAMPLES, "digits_test.npz"))
    x, y = test["x"], test["y"]
    np.savez(os.path.join(folder, "no_labels.npz"), x=x[:4])
    np.savez(os.path.join(folder, "empty_data.npz"), x=x[:0], y=y[:0])
    np.savez(os.path.join(folder, "float_labels.npz"), x=x[:4], y=y[:4].astype(np.float32))
    np.savez(os.path.join(folder, "big_labels.npz"), x=x[:4], y=np.array([0, 3, 10, 12], np.int64))
    np.savez(os.path.join(folder, "negative_labels.npz"), x=x[:4], y=np.array([0, -1, 2, 3], np.int64))
    np.save(os.path.join(folder, "x.npy"), x[:2])
    nan = x[:2].copy()
    nan[1, 0, 3, 3] = np.nan
    np.save(os.path.join(folder, "nan_x.npy"), nan)
    np.save(os.path.join(folder, "wrong_shape.npy"), np.zeros((2, 3), np.float32))
    np.savez(os.path.join(folder, "wrong_name.npz"), z=np.zeros((1, 4), np.float32))
    with open(os.path.join(folder, "corrupt.npz"), "wb") as file:
        file.write(b"PK\x03\x04 not really a zip archive")


def programs(folder: str) -> None:
    """A compiled digits MLP, and damaged copies of it; the spiking digits CNN compiled for flexspim."""
    from pimc.cli import main

    program = os.path.join(folder, "program")
    status = main([
        "compile", os.path.join(SAMPLES, "digits_mlp.onnx"), "--target", "isaac", "--estimate-only", "-o", program])
    assert status == 0, "compiling the digits MLP failed"
    status = main(["compile", os.path.join(SAMPLES, "spiking_digits.nir"), "--target", "flexspim", "-o",
                   os.path.join(folder, "flexspim_program")])
    assert status == 0, "compiling the spiking digits CNN failed"
    damaged = {
        "program_bad_json": lambda d: _rewrite(d, "program.json", lambda t: t[: len(t) // 2]),
        "program_bad_opcode": lambda d: _rewrite(d, "program.json", lambda t: t.replace('"op":"mvm"', '"op":"mvx"', 1)),
        "program_truncated_cells": lambda d: _truncate(os.path.join(d, "cells.npz")),
        "program_no_constants": lambda d: os.remove(os.path.join(d, "constants.npz")),
        "program_not_pimc": lambda d: _rewrite(d, "program.json", lambda t: '{"format": "other"}'),
        "program_no_buffers": lambda d: _rewrite(d, "program.json", lambda t: t.replace('"buffers":', '"buffets":', 1)),
        "program_cells_outside": lambda d: _rewrite(d, "program.json", lambda t: re.sub(
            r'"cells":\[(\d+),(\d+)\]', lambda m: f'"cells":[{m[1]},{int(m[2]) + 10**6}]', t, count=1)),
        "program_cells_short": lambda d: _rewrite(d, "program.json", lambda t: re.sub(
            r'"cells":\[(\d+),(\d+)\]', lambda m: f'"cells":[{m[1]},{int(m[2]) - 1}]', t, count=1)),
        "program_level_too_high": _raise_a_level,
    }
    for name, damage in damaged.items():
        copy = os.path.join(folder, name)
        shutil.copytree(program, copy)
        damage(copy)
    os.makedirs(os.path.join(folder, "empty_dir"))


def _rewrite(directory: str, name: str, change) -> None:
    path = os.path.join(directory, name)
    with open(path) as file:
        text = file.read()
    with open(path, "w") as file:
        file.write(change(text))


def _raise_a_level(directory: str) -> None:
    """Crossbar 0's cell in row 1, cell column 2 (a 2-bit cell of the digits MLP on isaac) at level 9."""
    from pimc.targets.program import read_program

    program = read_program(directory)
    crossbar = program.crossbars[0]
    assert crossbar.cell_widths[2] == 2, "crossbar 0's third slice is no longer 2 bits wide"
    levels = program.cells["levels"].copy()
    levels[crossbar.cells[0] + crossbar.cell_columns + 2] = 9
    np.savez(os.path.join(directory, "cells.npz"), **{**program.cells, "levels": levels})


def _truncate(path: str) -> None:
    with open(path, "rb") as file:
        data = file.read()
    with open(path, "wb") as file:
        file.write(data[: len(data) // 2])


def write_all(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    for name, build in MODELS.items():
        with open(os.path.join(folder, name), "wb") as file:
            file.write(build().SerializeToString())
    with open(os.path.join(SAMPLES, "digits_cnn.onnx"), "rb") as file:
        data = file.read()
    with open(os.path.join(folder, "truncated.onnx"), "wb") as file:
        file.write(data[:300])
    open(os.path.join(folder, "empty.onnx"), "wb").close()
    with open(os.path.join(folder, "non_utf8_name.onnx"), "wb") as file:
        file.write(non_utf8_name())
    for name, text in texts().items():
        with open(os.path.join(folder, name), "wb") as file:
            file.write(text if isinstance(text, bytes) else text.encode())
    arrays(folder)
    programs(folder)


if __name__ == "__main__":
    write_all(sys.argv[1])

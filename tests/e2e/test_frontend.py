"""pimc's interpreter against onnxruntime on the test models, the digits samples, a zoo network and a real
PyTorch export: outputs within max rel error 1e-4 and, with --all-ops, every intermediate tensor too."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from pimc.commands.verify import verify_model

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import models  # noqa: E402

RUNNABLE = [name for name in models.MODELS if name != "invalid_graph"]


def check(report, rtol: float = 1e-4) -> None:
    assert report.ok, report.as_json()
    for comparison in report.outputs:
        assert comparison.max_rel_error <= rtol and comparison.cosine > 0.999999, comparison
    assert report.first_drift is None, report.first_drift


@pytest.mark.parametrize("name", RUNNABLE)
def test_test_models(name: str, tmp_path: Path):
    path = tmp_path / f"{name}.onnx"
    onnx.save(models.MODELS[name](), path)
    report = verify_model(str(path), models.SYMBOLIC.get(name, {}), all_ops=True)
    check(report)
    assert report.intermediates, "no intermediate tensor was compared"
    assert bool(report.host_ops) == (name == "host_op")


@pytest.mark.parametrize("sample", ["digits_cnn", "digits_mlp"])
def test_digits_samples(sample: str):
    report = verify_model(str(ROOT / "samples" / f"{sample}.onnx"), {}, str(ROOT / "samples" / "digits_test.npz"))
    check(report)
    assert report.outputs[0].top1 == (360, 360)


def test_zoo_resnet18(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("zoo", ROOT / "samples" / "zoo.py")
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)
    path = tmp_path / "resnet18.onnx"
    onnx.save(zoo.build("resnet18", seed=0, batch="N"), path)
    check(verify_model(str(path), {"input": (1, 3, 224, 224)}))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_pytorch_export():
    """A TorchScript export at opset 11 with a dynamic batch, BatchNorm and x.view(x.size(0), -1).

    The file is committed; tests/e2e/data/export_torchscript.py wrote it.
    """
    report = verify_model(str(Path(__file__).with_name("data") / "torchscript_opset11.onnx"), {"x": (4, 3, 8, 8)}, all_ops=True)
    check(report)
    assert not report.host_ops


def test_interpreter_records_named_values(tmp_path: Path):
    from pimc.frontend.importer import import_onnx
    from pimc.interp.interpreter import Interpreter

    path = tmp_path / "tiny_cnn.onnx"
    onnx.save(models.tiny_cnn(), path)
    interpreter = Interpreter(import_onnx(str(path)))
    (y,) = interpreter.run([np.ones((1, 2, 4, 4), np.float32)])
    assert {"x", "c1", "r1", "f1", "y", "fc.weight"} <= set(interpreter.values)
    assert interpreter.values["y"] is y and y.dtype == np.float32


def test_written_files_run_like_the_import(tmp_path: Path):
    """`pimc import -o` writes text and weights that parse back into a module computing the same numbers."""
    from pimc.cli import main
    from pimc.frontend.importer import import_onnx
    from pimc.interp.interpreter import Interpreter
    from pimc.text.parser import parse_file
    from pimc.weights import store_beside

    source = tmp_path / "legacy.onnx"
    onnx.save(models.legacy(), source)
    assert main(["import", str(source), "--input-shape", "x=2,3,4,4", "-o", str(tmp_path / "out" / "legacy.pimc")]) == 0
    parsed = parse_file(str(tmp_path / "out" / "legacy.pimc"))
    parsed.weights = store_beside(str(tmp_path / "out" / "legacy.pimc"), parsed.attributes["weights"])
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    (expected,) = Interpreter(import_onnx(str(source), {"x": (2, 3, 4, 4)})).run([x])
    (got,) = Interpreter(parsed).run([x])
    np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------- models as users have them


def _relu_conv(x_dims, ir_version: int = 8, opset: int = 17, listed: bool = True) -> onnx.ModelProto:
    """x -> Conv 3->4 3x3 -> Relu, with seeded weights; `listed=False` leaves the initializers off the inputs."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims)]
    if listed:
        inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, "h", "w"])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)


def test_free_batch_dimension_defaults_to_one(tmp_path: Path):
    path = tmp_path / "m.onnx"
    onnx.save(_relu_conv(["N", 3, 8, 8]), path)
    report = verify_model(str(path), {}, all_ops=True)
    check(report)
    assert report.inputs["x"].startswith("1x3x8x8 f32")


def test_dimensions_stored_as_minus_one(tmp_path: Path):
    """Paddle writes dynamic dimensions as -1: the batch defaults to 1, and --input-shape sets the others."""
    from pimc.diagnostics import DiagnosticError

    path = tmp_path / "m.onnx"
    onnx.save(_relu_conv([-1, 3, -1, -1]), path)
    with pytest.raises(DiagnosticError, match=r"symbolic dimensions -1, -1, -1 in shape \[-1, 3, -1, -1\]; give "
                                              r"their sizes with --input-shape, e.g. --input-shape x=1,3,16,16"):
        verify_model(str(path), {})
    report = verify_model(str(path), {"x": (2, 3, 5, 7)}, all_ops=True)
    check(report)
    assert report.inputs["x"].startswith("2x3x5x7 f32")


def test_ir3_initializers_not_listed_as_inputs(tmp_path: Path):
    """The checker wants IR-3 models to list every initializer as an input; onnxruntime does not, nor pimc."""
    from pimc.frontend.importer import import_onnx

    path = tmp_path / "m.onnx"
    onnx.save(_relu_conv([1, 3, 8, 8], ir_version=3, opset=9, listed=False), path)
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(onnx.load(path))
    check(verify_model(str(path), {}, all_ops=True))
    assert "onnxruntime accepts that" in import_onnx(str(path)).notes[0]


def caffe2_resnet(channels: int = 64) -> onnx.ModelProto:
    """The Caffe2-era ResNet-50 graph class: opset 9, IR 3, every initializer a graph input, convs without bias
    each followed by a BatchNormalization with its own scale and bias, a Sum for the shortcut, AveragePool,
    Reshape by an int64 initializer, Gemm and Softmax; tensors named as Caffe2 names them."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def param(name: str, *shape: int, positive: bool = False) -> str:
        value = rng.standard_normal(shape).astype(np.float32) * 0.3
        inits.append(numpy_helper.from_array(np.abs(value) + 0.5 if positive else value, name))
        return name

    def conv_bn(x: str, name: str, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> str:
        nodes.append(helper.make_node("Conv", [x, param(f"{name}_w_0", cout, cin, k, k)], [f"{name}_1"],
                                      kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4))
        stats = [param(f"{name}_bn_{s}_0", cout, positive=s in ("s", "riv")) for s in ("s", "b", "rm", "riv")]
        nodes.append(helper.make_node("BatchNormalization", [f"{name}_1", *stats], [f"{name}_bn_1"], epsilon=1e-5))
        if not relu:
            return f"{name}_bn_1"
        nodes.append(helper.make_node("Relu", [f"{name}_bn_1"], [f"{name}_bn_2"]))
        return f"{name}_bn_2"

    c = channels
    x = conv_bn("gpu_0/data_0", "gpu_0/conv1", 3, c, 7, 2)
    nodes.append(helper.make_node("MaxPool", [x], ["gpu_0/pool1_1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    a = conv_bn("gpu_0/pool1_1", "gpu_0/res2_0_branch2a", c, c, 1)
    a = conv_bn(a, "gpu_0/res2_0_branch2b", c, c, 3)
    a = conv_bn(a, "gpu_0/res2_0_branch2c", c, 4 * c, 1, relu=False)
    s = conv_bn("gpu_0/pool1_1", "gpu_0/res2_0_branch1", c, 4 * c, 1, relu=False)
    nodes += [helper.make_node("Sum", [a, s], ["gpu_0/res2_0_branch2c_bn_2"]),
              helper.make_node("Relu", ["gpu_0/res2_0_branch2c_bn_2"], ["gpu_0/res2_0_branch2c_bn_3"]),
              helper.make_node("AveragePool", ["gpu_0/res2_0_branch2c_bn_3"], ["gpu_0/pool5_1"], kernel_shape=[4, 4]),
              helper.make_node("Reshape", ["gpu_0/pool5_1", "OC2_DUMMY_0"], ["OC2_DUMMY_1"]),
              helper.make_node("Gemm", ["OC2_DUMMY_1", param("gpu_0/pred_w_0", 1000, 4 * c), param("gpu_0/pred_b_0", 1000)],
                               ["gpu_0/pred_1"], transB=1),
              helper.make_node("Softmax", ["gpu_0/pred_1"], ["gpu_0/softmax_1"])]
    inits.append(numpy_helper.from_array(np.array([1, -1], np.int64), "OC2_DUMMY_0"))
    inputs = [helper.make_tensor_value_info("gpu_0/data_0", TensorProto.FLOAT, [1, 3, 16, 16])]
    inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    graph = helper.make_graph(nodes, "resnet50", inputs,
                              [helper.make_tensor_value_info("gpu_0/softmax_1", TensorProto.FLOAT, [1, 1000])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=3, producer_name="onnx-caffe2")


def test_caffe2_resnet_class_verifies_and_compiles(tmp_path: Path):
    from pimc.commands.verify_target import target_report
    from pimc.diagnostics import UserError  # noqa: F401  (a failure must not be a crash)

    path = tmp_path / "resnet50.onnx"
    onnx.save(caffe2_resnet(), path)
    check(verify_model(str(path), {}, all_ops=True))
    args = type("Args", (), dict(model=str(path), target="isaac", target_config=None, input_shape=[], inputs=None,
                                 calib="", calib_samples=4, seed=0, all_ops=False, export_qdq=None, min_cosine=0.99,
                                 noise="", noise_seed=0))()
    report = target_report(args)
    assert report["integer_reference"]["exact"], report["integer_reference"]
    assert report["fp32"][0]["cosine"] > 0.99

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

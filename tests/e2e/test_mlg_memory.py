"""The paper's memory ratios (Eq. 4, model_base's bookkeeping) from `pimc compile --target 'mlg{fold=true ...}'
--estimate-only` on the CIFAR shapes of samples/zoo.py (docs/mlg.md has the table)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pimc.frontend.importer import import_onnx
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.targets.passes import all_passes
from pimc.targets.mlg.memory import model_memory

ZOO = Path(__file__).resolve().parents[2] / "samples" / "zoo.py"


def zoo(model: str, folder: Path) -> Path:
    path = folder / f"{model}.onnx"
    subprocess.run([sys.executable, str(ZOO), model, "-o", str(path)], check=True, capture_output=True)
    return path


@pytest.mark.parametrize(("model", "setting", "paper", "printed"), [
    ("resnet18-cifar", (2, 44, 3, 6, 3), 0.0080, "0.0080"),
    ("resnet18-cifar", (2, 44, 8, 8, 8), 0.0131, "0.0131"),
    ("densenet121-cifar", (1, 25, 4, 6, 6), 0.0395, "0.0395"),
    ("mobilenetv2-cifar", (5, 40, 4, 4, 4), 0.0783, "0.0852"),  # depthwise convs not generated: docs/mlg.md
])
def test_compile_prints_the_papers_memory_ratio(model, setting, paper, printed, tmp_path):
    b_i, b_c, *bits = setting
    target = f"mlg{{fold=true b-i={b_i} b-c={b_c} factor-bits={','.join(map(str, bits))}}}"
    done = subprocess.run(["pimc", "compile", str(zoo(model, tmp_path)), "--target", target, "-o", str(tmp_path / "out"),
                           "--estimate-only", "--calib-samples", "1"], capture_output=True, text=True, check=True)
    ratio = re.search(r"note: MLG memory ratio (\S+) ", done.stderr)[1]
    assert ratio == printed and abs(float(ratio) / paper - 1) <= 0.10
    report = json.loads((tmp_path / "out" / "report.json").read_text())["mlg"]
    assert f"{report['memory_ratio']:.4f}" == printed
    first = report["layers"][0]
    if model == "resnet18-cifar":  # the stem (Ci = 3): min(Co, Ci k^2) = 27 <= 44, so intra-kernel only
        assert (first["layer"], first["levels"], first["b_i"], first["b_c"]) == ("/conv1/Conv", "intra", 2, 64)
    assert all(0 < layer["weight_error"] < 1.5 and 0 < layer["output_error"] for layer in report["layers"])


def test_with_the_classifier_at_fp32_resnet18_gives_the_replay_of_the_papers_code(tmp_path):
    """domain.md §4.3: replaying the official code with BatchNorm and the classifier at fp32 gives 0.0084."""
    module = import_onnx(str(zoo("resnet18-cifar", tmp_path)), {})
    run_pipeline(module, parse_pipeline("fold-mlg{b-i=2 b-c=44 bits=3,6,3 samples=0}", all_passes()))
    assert f"{model_memory(module, classifier_bits=32).ratio:.4f}" == "0.0084"
    assert f"{model_memory(module).ratio:.4f}" == "0.0080"

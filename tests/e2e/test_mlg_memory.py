"""The paper's memory ratios (Eq. 4, model_base's bookkeeping) from `pimc compile --target 'mlg{fold=true ...}'
--estimate-only` on the CIFAR shapes of samples/zoo.py (docs/mlg.md has the table)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parents[2] / "samples" / "zoo.py"


@pytest.mark.parametrize(("model", "setting", "paper", "printed"), [
    ("resnet18-cifar", (2, 44, 3, 6, 3), 0.0080, "0.0080"),
    ("densenet121-cifar", (1, 25, 4, 6, 6), 0.0395, "0.0395"),
])
def test_compile_prints_the_papers_memory_ratio(model, setting, paper, printed, tmp_path):
    path = tmp_path / f"{model}.onnx"
    subprocess.run([sys.executable, str(ZOO), model, "-o", str(path)], check=True, capture_output=True)
    b_i, b_c, *bits = setting
    target = f"mlg{{fold=true b-i={b_i} b-c={b_c} factor-bits={','.join(map(str, bits))}}}"
    done = subprocess.run(["pimc", "compile", str(path), "--target", target, "-o", str(tmp_path / "out"),
                           "--estimate-only", "--calib-samples", "1"], capture_output=True, text=True, check=True)
    ratio = re.search(r"note: MLG memory ratio (\S+) ", done.stderr)[1]
    assert ratio == printed and abs(float(ratio) / paper - 1) <= 0.10
    layers = (tmp_path / "out" / "ir" / "2-generate.pimc").read_text().split("mlg_layers = [", 1)[1].split("]")[0]
    first = layers.split('", "')[0]
    assert first.startswith('"/conv1/Conv: intra B_i=2') if model == "resnet18-cifar" else "weight-error=" in first

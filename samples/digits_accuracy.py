"""Top-1 accuracy of the digits ONNX models on the held-out split.

Usage::

    python samples/digits_accuracy.py                 # both committed models
    python samples/digits_accuracy.py model.onnx ...  # any model taking x: N x 1 x 8 x 8

Needs only numpy and onnxruntime (no torch, no scikit-learn).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

HERE = Path(__file__).resolve().parent


def load_test(path: Path = HERE / "digits_test.npz") -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as data:
        return data["x"], data["y"]


def onnx_accuracy(model: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Run the whole split as one batch through onnxruntime and return top-1."""
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"x": x})
    return float(np.mean(np.argmax(logits, axis=1) == y))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="onnxruntime top-1 on digits_test.npz")
    parser.add_argument("models", nargs="*", type=Path,
                        default=[HERE / "digits_cnn.onnx", HERE / "digits_mlp.onnx"])
    parser.add_argument("--test", type=Path, default=HERE / "digits_test.npz")
    args = parser.parse_args(argv)
    x, y = load_test(args.test)
    for model in args.models:
        acc = onnx_accuracy(model, x, y)
        print(f"{model.name}: top-1 {acc:.2%} ({round(acc * len(y))}/{len(y)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

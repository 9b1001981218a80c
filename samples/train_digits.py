"""Train two small digit classifiers and export them to ONNX.

Dataset: scikit-learn's bundled ``load_digits`` (1,797 8x8 grey-scale digits,
no download).  The images are scaled to [0, 1] (x / 16) as float32 and
shaped N x 1 x 8 x 8.  A stratified split with a fixed seed keeps 360 images
as the held-out test set.

Models (both take ``x`` of shape N x 1 x 8 x 8 and return ``logits`` N x 10,
the batch dimension is symbolic ``N``):

* ``digits_cnn.onnx``: Conv(1->16) BN ReLU MaxPool, Conv(16->32) BN ReLU
  MaxPool, Flatten, Gemm(128->10).  BatchNormalization stays a separate node.
* ``digits_mlp.onnx``: Flatten(64), Gemm 64->64, ReLU, Gemm 64->32, ReLU,
  Gemm 32->10.

Usage::

    python samples/train_digits.py --out samples/

writes ``digits_cnn.onnx``, ``digits_mlp.onnx``, ``digits_test.npz`` (the 360 held-out digits) and
``digits_calib.npz`` (64 training digits to calibrate on), each with arrays ``x`` float32
N x 1 x 8 x 8 and ``y`` int64, and prints the
onnxruntime top-1 accuracy of both models on the held-out split.

Everything is seeded and runs single-threaded with deterministic algorithms,
so rerunning the script reproduces the ONNX files byte for byte (with the same
torch / numpy / scikit-learn versions).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digits_accuracy import onnx_accuracy  # noqa: E402

SEED = 0
TEST_SIZE = 360
CALIB_SIZE = 64  # training digits that calibrate quantization, so that no scored digit does
OPSET = 17


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def load_split(seed: int = SEED):
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=TEST_SIZE, stratify=y, random_state=seed)


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(16, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
        )
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.features(x)))


class DigitsMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64, 64)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(64, 32)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.fc1(self.flatten(x)))
        x = self.relu2(self.fc2(x))
        return self.fc3(x)


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int,
          lr: float, seed: int, batch_size: int = 64) -> nn.Module:
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
        sched.step()
    return model.eval()


def export(model: nn.Module, path: Path) -> None:
    """Export with the TorchScript exporter, keeping BatchNormalization.

    With ``training=TrainingMode.EVAL`` the exporter folds BatchNorm into the
    preceding Conv as part of constant folding; ``do_constant_folding=False``
    keeps it as a BatchNormalization node (``training_mode=0``, running
    statistics as initializers).  ``TrainingMode.PRESERVE`` on an eval-mode
    model gives the same bytes.  ``dynamo=False`` selects the TorchScript
    exporter (the torch.export-based default needs onnxscript).
    """
    model.eval()
    dummy = torch.zeros(1, 1, 8, 8)
    with warnings.catch_warnings():  # "legacy TorchScript-based ONNX export"
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (dummy,), str(path),
            dynamo=False,
            input_names=["x"], output_names=["logits"],
            dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
            opset_version=OPSET,
            training=torch.onnx.TrainingMode.EVAL,
            do_constant_folding=False,
        )


def assert_has_batchnorm(path: Path) -> None:
    ops = [node.op_type for node in onnx.load(path).graph.node]
    if ops.count("BatchNormalization") != 2:
        raise RuntimeError(f"{path}: BatchNormalization was folded away: {ops}")


def arguments(argv: list[str] | None, doc: str) -> argparse.Namespace:
    """A training script's --out (created) and --seed, its description the first paragraph of `doc`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output directory (default: this script's folder)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv, __doc__)

    x_train, x_test, y_train, y_test = load_split(args.seed)
    test_path = args.out / "digits_test.npz"
    np.savez(test_path, x=x_test, y=y_test)
    calib_path = args.out / "digits_calib.npz"
    np.savez(calib_path, x=x_train[:CALIB_SIZE], y=y_train[:CALIB_SIZE])
    print(f"split: {len(x_train)} train / {len(x_test)} test -> {test_path}; the first {CALIB_SIZE} training "
          f"digits -> {calib_path}")

    specs = [("cnn", DigitsCNN, 30, 1e-2), ("mlp", DigitsMLP, 60, 3e-3)]
    for name, cls, epochs, lr in specs:
        seed_everything(args.seed)
        t0 = time.perf_counter()
        model = train(cls(), x_train, y_train, epochs=epochs, lr=lr, seed=args.seed)
        path = args.out / f"digits_{name}.onnx"
        export(model, path)
        if name == "cnn":
            assert_has_batchnorm(path)
        acc = onnx_accuracy(path, x_test, y_test)
        print(f"{name}: trained {epochs} epochs in {time.perf_counter() - t0:.1f}s, "
              f"onnxruntime top-1 {acc:.2%} on {len(y_test)} held-out -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train a digits CNN whose convs are epitome layers, and export it to ONNX.

An epitome layer keeps only its epitome E (Co_E x Ci_E x k x k) as a parameter and samples its conv
weight from E in ``forward``, by pimc's sampling model (``docs/epitome.md``; the index maps come from
``pimc.dialects.ep.sample_indices``). PyTorch exports that sampling as it is written: NES's plain
repeat as Tile and Slice, any other patch and stride as two Gathers. ``pimc import`` recognises both
and imports each layer as one ``ep.conv2d`` on its epitome.

Model (``x`` N x 1 x 8 x 8 -> ``logits`` N x 10, symbolic batch ``N``), with the same data and the
same held-out split as ``train_digits.py``:

* conv1 1->16 3x3 from an 8x1 epitome, plain repeat (Tile, Slice), ReLU, MaxPool;
* conv2 16->32 3x3 from a 16x8 epitome, patch 8x8 and stride 4x4 (Gathers), ReLU, MaxPool;
* Flatten, Gemm 128->10.

Without BatchNormalization: a per-channel scale folded into an epitome conv would break the sharing.
On 128x128 crossbars with 2-bit cells and 8-bit weights, conv2's epitome fits one crossbar, its
full weight two.

Usage::

    python samples/train_epitome_digits.py --out samples/

writes ``digits_epitome.onnx`` and prints its onnxruntime top-1 on the 360 held-out digits. Seeded,
single-threaded, deterministic algorithms, CPU only: a rerun gives the same bytes (with the same
torch, numpy and scikit-learn). Needs the ``train`` extra (torch, scikit-learn) and pimc.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digits_accuracy import onnx_accuracy  # noqa: E402
from train_digits import arguments, export, load_split, seed_everything, train  # noqa: E402

from pimc.dialects.ep import sample_indices  # noqa: E402

EPOCHS = 100
LR = 3e-3


class EpitomeConv2d(nn.Module):
    """A k x k conv whose out x in weight is sampled from an epitome of `shape` (Co_E, Ci_E)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, shape: tuple[int, int],
                 patch: tuple[int, int] | None = None, stride: tuple[int, int] | None = None,
                 padding: int = 0) -> None:
        super().__init__()
        self.size, self.shape = (out_channels, in_channels), shape
        self.patch = patch or shape
        self.stride = stride or self.patch
        self.padding = padding
        bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)  # nn.Conv2d's, for the sampled weight
        self.epitome = nn.Parameter(torch.empty(*shape, kernel_size, kernel_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        indices = [sample_indices(n, p, s, e) for n, p, s, e in zip(self.size, self.patch, self.stride, shape)]
        self.register_buffer("rows", torch.as_tensor(indices[0]))
        self.register_buffer("cols", torch.as_tensor(indices[1]))

    def weight(self) -> torch.Tensor:
        """The sampled weight: a repeat for NES's plain sampling, indexing for any other."""
        if self.patch == self.shape and self.stride == self.shape:
            repeats = [-(-n // e) for n, e in zip(self.size, self.shape)]
            return self.epitome.repeat(*repeats, 1, 1)[: self.size[0], : self.size[1]]
        return self.epitome.index_select(0, self.rows).index_select(1, self.cols)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class DigitsEpitomeCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            EpitomeConv2d(1, 16, 3, shape=(8, 1), padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            EpitomeConv2d(16, 32, 3, shape=(16, 8), patch=(8, 8), stride=(4, 4), padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
        )
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.features(x)))


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv, __doc__)

    x_train, x_test, y_train, y_test = load_split(args.seed)
    seed_everything(args.seed)
    t0 = time.perf_counter()
    model = train(DigitsEpitomeCNN(), x_train, y_train, epochs=EPOCHS, lr=LR, seed=args.seed)
    path = args.out / "digits_epitome.onnx"
    export(model, path)
    acc = onnx_accuracy(path, x_test, y_test)
    print(f"epitome cnn: trained {EPOCHS} epochs in {time.perf_counter() - t0:.1f}s, onnxruntime top-1 "
          f"{acc:.2%} ({round(acc * len(y_test))}/{len(y_test)}) on the held-out digits -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

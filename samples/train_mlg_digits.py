"""Train a digits CNN whose convs are MLG layers (weights generated in situ), export it with both exporters.

An MLG layer (Gu et al., ICCV 2021; github.com/JeremieMelo/Memory-Efficient-Multi-Level-Generation,
``core/models/layers/mlg_conv2d.py``) stores a basis W^b (B_c x B_i x k x k) and two coefficient
matrices, U (B_c x Ci x B_i) and V (Co x B_c), each DoReFa-symmetric quantized at its own bit width
with its own per-tensor scale (q_b, q_u, q_v), and generates its Co x Ci x k x k weight in ``forward``:

    W_c = U @ W^b.view(B_c, B_i, k*k)        (level 1, intra-kernel: a batched 3-D MatMul)
    W   = (V @ W_c.view(B_c, Ci*k*k)).view(Co, Ci, k, k)   (level 2, cross-kernel)

W is not re-quantized. The enabling rules are the code's: intra-kernel generation only if
min(Ci, k*k) > B_i (otherwise there is no U and the basis is B_c x Ci x k x k), cross-kernel only if
min(Co, Ci*k*k) > B_c (otherwise there is no V and B_c = Co); the classifier is not generated.
One difference from the official layer: the basis is its own parameter, where the official code
slices it from a full-size weight (``weight[:B_c, :B_i]``), so the ONNX files hold no unused weight.

Model (``x`` N x 1 x 8 x 8 -> ``logits`` N x 10, symbolic batch ``N``), data and held-out split of
``train_digits.py``:

* conv1 1->16 3x3, B_c = 6 (cross-kernel only: Ci = 1), bias, ReLU, MaxPool;
* conv2 16->32 3x3, B_i = 2, B_c = 12 (both levels), bias, ReLU, MaxPool;
* Flatten, Gemm 128->10 (not generated, float);
* bits q_b-q_u-q_v = 3-6-3, the paper's ResNet-18 setting. No BatchNormalization (a per-channel
  scale folded into a generated weight would leave the integer codes).

Usage::

    python samples/train_mlg_digits.py --out samples/

writes ``digits_mlg.onnx`` (TorchScript exporter, ``dynamo=False``, ``do_constant_folding=False``: the
three DoReFa quantizer subgraphs, the batched MatMul, MatMul and Reshapes feed each Conv's weight)
and ``digits_mlg_dynamo.onnx`` (the dynamo exporter: U and V folded to float constants, the basis
chain kept), and prints their onnxruntime top-1 on the 360 held-out digits. Seeded, single-threaded,
deterministic algorithms, CPU only: a rerun gives the same bytes (with the same torch, numpy and
scikit-learn). Needs the ``train`` extra (torch, scikit-learn) and onnxscript for the dynamo export.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digits_accuracy import onnx_accuracy  # noqa: E402
from train_digits import arguments, export, load_split, seed_everything, train  # noqa: E402

EPOCHS = 80
LR = 3e-3
BITS = (3, 6, 3)  # q_b, q_u, q_v


class _RoundSTE(torch.autograd.Function):
    """pyutils.quantize.uniform_quantize: round(x * n) / n forward, identity gradient clipped to [-1, 1]."""

    @staticmethod
    def forward(ctx, x, n):
        return torch.round(x * n) / n

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(-1, 1), None


def dorefa_sym(x: torch.Tensor, bits: int, training: bool) -> torch.Tensor:
    """pyutils' weight_quantize_fn(bits, alg="dorefa_sym"), bits >= 2: values (2j - n) * r / n, n = 2^bits - 1.

    In eval mode (export) the rounding is the same arithmetic written inline: the exporters then
    see Mul, Round, Div instead of a custom autograd function (which the dynamo exporter cannot lower).
    """
    w = torch.tanh(x)
    r = torch.max(torch.abs(w.detach()))  # pyutils writes w.data, which the dynamo exporter crashes on
    n = float(2**bits - 1)
    unit = w / (2 * r) + 0.5
    levels = _RoundSTE.apply(unit, n) if training else torch.round(unit * n) / n
    return levels * (2 * r) - r


class MLGConv2d(nn.Module):
    """A k x k conv whose weight is generated from a basis and coefficients (mlg_conv2d.py's build_weight)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, base_in: int, base_out: int,
                 bits: tuple[int, int, int] = BITS, padding: int = 0) -> None:
        super().__init__()
        self.shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.bits, self.padding = bits, padding
        k2 = kernel_size * kernel_size
        cross = min(out_channels, in_channels * k2) > base_out > 0
        intra = min(in_channels, k2) > base_in > 0
        self.base_out = base_out if cross else out_channels
        basis = (self.base_out, base_in if intra else in_channels, kernel_size, kernel_size)
        self.basis = nn.Parameter(nn.init.kaiming_normal_(torch.empty(basis), mode="fan_out", nonlinearity="relu"))
        self.coeff_in = self._coefficients((self.base_out, in_channels, base_in)) if intra else None
        self.coeff_out = self._coefficients((out_channels, self.base_out)) if cross else None
        bound = 1 / (in_channels * k2) ** 0.5
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))

    @staticmethod
    def _coefficients(shape: tuple[int, ...]) -> nn.Parameter:
        return nn.Parameter(nn.init.kaiming_normal_(torch.empty(shape), mode="fan_out", nonlinearity="relu"))

    def weight(self) -> torch.Tensor:
        """mlg_conv2d.py's weight_generation on the quantized factors; W is not re-quantized."""
        q_b, q_u, q_v = self.bits
        weight = dorefa_sym(self.basis, q_b, self.training)
        if self.coeff_in is not None:
            weight = torch.matmul(dorefa_sym(self.coeff_in, q_u, self.training), weight.view(weight.size(0), weight.size(1), -1))
        if self.coeff_out is not None:
            weight = torch.matmul(dorefa_sym(self.coeff_out, q_v, self.training), weight.view(weight.size(0), -1))
        return weight.view(self.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class DigitsMLGCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            MLGConv2d(1, 16, 3, base_in=2, base_out=6, padding=1),  # Ci = 1: no intra-kernel level
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            MLGConv2d(16, 32, 3, base_in=2, base_out=12, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
        )
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.features(x)))


def export_dynamo(model: nn.Module, path: Path) -> None:
    """Export with the dynamo exporter (torch.export), symbolic batch N, at its own opset (18): its conversion
    down to 17 leaves ReduceMax with an opset-18 attribute, which the checker rejects."""
    model.eval()
    batch = torch.export.Dim("N", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (torch.zeros(2, 1, 8, 8),), dynamo=True, input_names=["x"],
                                    output_names=["logits"], dynamic_shapes={"x": {0: batch}},
                                    verbose=False, optimize=False)
    program.save(str(path))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv, __doc__)

    x_train, x_test, y_train, y_test = load_split(args.seed)
    seed_everything(args.seed)
    t0 = time.perf_counter()
    model = train(DigitsMLGCNN(), x_train, y_train, epochs=EPOCHS, lr=LR, seed=args.seed)
    print(f"mlg cnn: trained {EPOCHS} epochs in {time.perf_counter() - t0:.1f}s")
    for name, write in (("digits_mlg.onnx", export), ("digits_mlg_dynamo.onnx", export_dynamo)):
        path = args.out / name
        write(model, path)
        acc = onnx_accuracy(path, x_test, y_test)
        print(f"{name}: onnxruntime top-1 {acc:.2%} ({round(acc * len(y_test))}/{len(y_test)}) on the held-out "
              f"digits -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

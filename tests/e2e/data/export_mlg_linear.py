"""Writes mlg_linear_torchscript.onnx and mlg_linear_dynamo.onnx, the MLG Gemm fixtures of tests/e2e/test_mlg_sample.py.

    python tests/e2e/data/export_mlg_linear.py    (needs torch and onnxscript: pip install -e '.[train]')

A linear layer whose weight is generated at the cross-kernel level (W = V @ W_c, 64 -> 10, B_c = 6, 3-bit basis
and V, DoReFa-symmetric as samples/train_mlg_digits.py quantizes them), seeded, exported by both exporters: the
TorchScript one keeps the quantizers before a MatMul that feeds Gemm's weight, the dynamo one folds them.
"""

import sys
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "samples"))
from train_mlg_digits import dorefa_sym  # noqa: E402


class MLGLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, base_out: int, bits: tuple[int, int] = (3, 3)) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(base_out, in_features))
        self.coeff_out = nn.Parameter(torch.randn(out_features, base_out))
        self.bias = nn.Parameter(torch.randn(out_features) * 0.1)
        self.bits = bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch.matmul(dorefa_sym(self.coeff_out, self.bits[1], False), dorefa_sym(self.basis, self.bits[0], False))
        return F.linear(x, weight, self.bias)


def main() -> None:
    torch.manual_seed(0)
    layer = MLGLinear(64, 10, 6).eval()
    x = torch.zeros(1, 64)
    folder = Path(__file__).parent
    torch.onnx.export(layer, (x,), str(folder / "mlg_linear_torchscript.onnx"), input_names=["x"], output_names=["y"],
                      do_constant_folding=False, dynamo=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(layer, (x,), dynamo=True, input_names=["x"], output_names=["y"], optimize=False)
    program.save(str(folder / "mlg_linear_dynamo.onnx"))


if __name__ == "__main__":
    main()

"""Writes the real-exporter fixtures of tests/e2e/test_real_exports.py: small PyTorch models, seeded, exported
by the TorchScript exporter (`dynamo=False`, at a given opset) or the dynamo exporter.

    python tests/e2e/data/export_real_models.py    (needs torch and onnxscript)

Each fixture is named after its model and exporter. Some once broke pimc: an opset-23 GroupNormalization
(dynamo), a scripted model whose Ifs test shapes, Upsample (opset 9) and Resize-10, modules exported as ONNX
functions, float16, and the unoptimized dynamo graph with its SplitToSequence. The others stand for what
users bring: a transformer block, a UNet, a small classifier and an LSTM.
"""

import math
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).parent


class Attention(nn.Module):
    def __init__(self, d: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads, self.width = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (y.view(b, t, self.heads, self.width).transpose(1, 2) for y in self.qkv(x).chunk(3, dim=-1))
        weights = ((q @ k.transpose(-2, -1)) / math.sqrt(self.width)).softmax(dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, d))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: LayerNorm, multi-head attention, GELU MLP, Dropout, residuals."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attention = Attention(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(0.1))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class UNet(nn.Module):
    """Two levels: ConvTranspose2d and bilinear Upsample up, Concat skips, nearest and align-corners Resize."""

    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.e1 = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.ReLU())
        self.e2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU())
        self.e3 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(2 * c, 4 * c, 3, padding=1), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.d2 = nn.Sequential(nn.Conv2d(4 * c, 2 * c, 3, padding=1), nn.ReLU())
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.d1 = nn.Sequential(nn.Conv2d(3 * c, c, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(c, 2, 1)

    def forward(self, x):
        a = self.e1(x)
        b = self.e2(a)
        d = self.d2(torch.cat([self.up2(self.e3(b)), b], dim=1))
        y = self.head(self.d1(torch.cat([self.up1(d), a], dim=1)))
        z = F.interpolate(y, scale_factor=0.5, mode="nearest")
        return y + F.interpolate(z, size=(y.shape[2], y.shape[3]), mode="bilinear", align_corners=True)


class Classifier(nn.Module):
    """Grouped conv, AdaptiveAvgPool2d, x.view(x.size(0), -1), Dropout, Linear, BatchNorm1d."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.pool = nn.AdaptiveAvgPool2d((2, 2))
        self.drop = nn.Dropout(0.5)
        self.fc1 = nn.Linear(32, 16)
        self.bn = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool(F.relu(self.conv2(F.relu(self.conv1(x)))))
        x = self.drop(x.view(x.size(0), -1))
        return self.fc2(F.relu(self.bn(self.fc1(x))))


class Recurrent(nn.Module):
    """An LSTM (a generic op on the host) and a Linear on its last step."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(8, 12, batch_first=True)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class Conv1dNet(nn.Module):
    """Conv1d, GroupNorm (GroupNormalization from opset 21), SiLU, AdaptiveAvgPool1d, LogSoftmax."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(4, 8, 3, padding=1)
        self.norm = nn.GroupNorm(2, 8)
        self.c2 = nn.Conv1d(8, 8, 5, padding=2)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = F.leaky_relu(self.c2(F.silu(self.norm(self.c1(x)))), 0.2)
        return F.log_softmax(self.fc(self.pool(x).squeeze(-1)), dim=-1)


class ScriptNet(nn.Module):
    """Scripted: its Ifs test shapes, so their conditions are constants once the input shape is fixed."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        if x.size(2) != 8:
            x = F.interpolate(x, size=[8, 8], mode="bilinear", align_corners=False)
        y = torch.relu(self.conv(x))
        y = y.mean(dim=[2, 3]) if y.size(1) == 4 else y.amax(dim=[2, 3])
        return torch.softmax(self.fc(y), dim=-1)


class Upsampler(nn.Module):
    """Nearest and bilinear upsampling; at opset 9 Upsample, at opset 10 Resize, also shrinking."""

    def __init__(self, shrink: bool) -> None:
        super().__init__()
        self.shrink = shrink
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = F.interpolate(self.conv(x), scale_factor=2, mode="nearest")
        z = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if not self.shrink:
            return y, z
        return y, z, F.interpolate(x, scale_factor=0.6, mode="nearest"), F.interpolate(x, scale_factor=(2, 0.5))


class MobileBlock(nn.Module):
    """Inverted residual: ReLU6, Hardswish, depthwise conv, squeeze-excite with Hardsigmoid, BatchNorm."""

    def __init__(self, c: int = 8, e: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.Hardswish())
        self.expand = nn.Sequential(nn.Conv2d(c, e, 1, bias=False), nn.BatchNorm2d(e), nn.ReLU6())
        self.dw = nn.Sequential(nn.Conv2d(e, e, 3, 1, 1, groups=e, bias=False), nn.BatchNorm2d(e), nn.Hardswish())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(e, 4, 1), nn.ReLU(), nn.Conv2d(4, e, 1),
                                nn.Hardsigmoid())
        self.project = nn.Sequential(nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(self.expand(x))
        return self.head(x + self.project(y * self.se(y)))


class Half(nn.Module):
    """float16 throughout: conv, mean, Linear, Softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return torch.softmax(self.fc(F.relu(self.conv(x)).mean((2, 3))), -1)


def seeded(net: nn.Module) -> nn.Module:
    """`net` in eval mode with non-trivial normalization statistics and affine parameters."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return net.eval()


def torchscript(name: str, net, x, opset: int, dynamic: dict, **options) -> None:
    torch.onnx.export(net, (x,), str(HERE / f"{name}.onnx"), dynamo=False, opset_version=opset, input_names=["x"],
                      dynamic_axes={"x": dynamic} if dynamic else None, **options)


def dynamo(name: str, net, x, dynamic: list[int], **options) -> None:
    shapes = {"x": {axis: torch.export.Dim.DYNAMIC for axis in dynamic}}
    torch.onnx.export(net, (x,), str(HERE / f"{name}.onnx"), dynamo=True, input_names=["x"], dynamic_shapes=shapes,
                      external_data=False, **options)


def main() -> None:
    warnings.filterwarnings("ignore")
    exports = [
        (EncoderBlock, lambda n: dynamo("transformer_dynamo", n, torch.randn(2, 6, 16), [0, 1])),
        (EncoderBlock, lambda n: dynamo("transformer_dynamo_unoptimized", n, torch.randn(2, 6, 16), [0, 1],
                                        optimize=False)),
        (UNet, lambda n: torchscript("unet_opset11", n, torch.randn(2, 3, 16, 16), 11, {0: "batch"})),
        (Classifier, lambda n: torchscript("classifier_opset13", n, torch.randn(4, 3, 8, 8), 13, {0: "batch"})),
        (Recurrent, lambda n: torchscript("lstm_opset17", n, torch.randn(2, 5, 8), 17, {0: "batch"})),
        (Conv1dNet, lambda n: dynamo("groupnorm_dynamo_opset23", n, torch.randn(2, 4, 16), [0], opset_version=23)),
        (ScriptNet, lambda n: torchscript("script_if_opset17", torch.jit.script(n), torch.randn(2, 3, 8, 8), 17,
                                          {0: "batch", 2: "height", 3: "width"})),
        (lambda: Upsampler(False), lambda n: torchscript("upsample_opset9", n, torch.randn(1, 3, 5, 7), 9, {})),
        (lambda: Upsampler(True), lambda n: torchscript("resize_opset10", n, torch.randn(1, 3, 5, 7), 10, {})),
        (MobileBlock, lambda n: torchscript("mobilenet_functions_opset17", n, torch.randn(2, 3, 16, 16), 17,
                                            {0: "batch"}, export_modules_as_functions=True)),
        (lambda: Half().half(), lambda n: torchscript("float16_opset17", n, torch.randn(2, 3, 8, 8).half(), 17,
                                                      {0: "batch"})),
    ]
    for build, export in exports:
        torch.manual_seed(0)
        export(seeded(build()))


if __name__ == "__main__":
    main()

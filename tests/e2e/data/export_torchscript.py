"""Writes torchscript_opset11.onnx, the committed real-exporter fixture of tests/e2e/test_frontend.py.

    python tests/e2e/data/export_torchscript.py    (needs torch: pip install -e '.[train]')

A TorchScript export at opset 11 with a dynamic batch, BatchNorm and x.view(x.size(0), -1).
"""

from pathlib import Path

import torch


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        return torch.softmax(self.fc(x.view(x.size(0), -1)), dim=1)


def main() -> None:
    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
    path = Path(__file__).with_name("torchscript_opset11.onnx")
    torch.onnx.export(net, torch.zeros(1, 3, 8, 8), str(path), opset_version=11, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}}, do_constant_folding=False, dynamo=False)


if __name__ == "__main__":
    main()

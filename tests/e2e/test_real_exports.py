"""Real PyTorch exports, committed as written by tests/e2e/data/export_real_models.py, against onnxruntime with
--all-ops: every output and every intermediate pimc also computes within tolerance. No torch needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pimc.commands.verify import verify_model
from pimc.diagnostics import DiagnosticError

DATA = Path(__file__).with_name("data")

# fixture, input shape, the generic ops that run on the host
CASES = [
    ("transformer_dynamo", (3, 7, 16), {"onnx.Gelu": 1, "onnx.LayerNormalization": 2}),
    ("unet_opset11", (1, 3, 16, 16), {}),
    ("classifier_opset13", (3, 3, 8, 8), {}),
    ("lstm_opset17", (3, 5, 8), {"onnx.LSTM": 1}),
    ("groupnorm_dynamo_opset23", (3, 4, 16), {"onnx.GroupNormalization": 1, "onnx.LogSoftmax": 1}),
    ("script_if_opset17", (2, 3, 8, 8), {}),
    ("script_if_opset17", (1, 3, 12, 10), {}),
    ("upsample_opset9", (1, 3, 5, 7), {}),
    ("resize_opset10", (1, 3, 5, 7), {}),
    ("mobilenet_functions_opset17", (2, 3, 16, 16), {}),
    ("float16_opset17", (3, 3, 8, 8), {}),
]


@pytest.mark.parametrize(("name", "shape", "host_ops"), CASES,
                         ids=[f"{name}-{'x'.join(map(str, shape))}" for name, shape, _ in CASES])
def test_real_export(name: str, shape: tuple[int, ...], host_ops: dict[str, int]):
    report = verify_model(str(DATA / f"{name}.onnx"), {"x": shape}, all_ops=True)
    assert report.ok, report.as_json()
    rtol = 4e-3 if name.startswith("float16") else 1e-4  # float16's epsilon is 9.8e-4
    for comparison in report.outputs:
        assert comparison.max_rel_error <= rtol and comparison.cosine > 0.99999, comparison
    assert report.intermediates, "no intermediate tensor was compared"
    assert report.first_drift is None, report.first_drift
    assert report.host_ops == host_ops


def test_sequences_are_named():
    """The unoptimized dynamo graph splits into a sequence (SplitToSequence, SequenceAt); pimc says so."""
    with pytest.raises(DiagnosticError, match="SplitToSequence: output 'split' is a sequence"):
        verify_model(str(DATA / "transformer_dynamo_unoptimized.onnx"), {"x": (2, 6, 16)})

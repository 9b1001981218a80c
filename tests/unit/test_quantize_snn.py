"""quantize-snn's gathered conv patches give exactly the convolution the interpreter computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimc.dialects import snn
from pimc.frontend.nir import import_nir
from pimc.passes import quantize_snn

NIR = Path(__file__).resolve().parents[1] / "e2e" / "data" / "nir" / "sinabs_scnn.nir"


@pytest.mark.parametrize("limit", [quantize_snn.PATCH_LIMIT, 0])  # 0: the per-candidate convolution
def test_patches_equal_the_convolution(limit, monkeypatch):
    monkeypatch.setattr(quantize_snn, "PATCH_LIMIT", limit)
    convs = [op for op in import_nir(str(NIR)).funcs()[0].body.ops if isinstance(op, snn.Conv2dOp)]
    assert [tuple(op.strides) for op in convs] == [(1, 1), (2, 2)]
    rng = np.random.default_rng(0)
    for op in convs:
        x = rng.integers(0, 3, (5, *op.input.type.shape[1:])).astype(np.int64)
        sums = quantize_snn.synapse_of(op, x)
        for _ in range(3):
            w = rng.integers(-127, 128, op.weight.type.shape)
            b = rng.integers(-1000, 1000, w.shape[0]).astype(np.float64)
            np.testing.assert_array_equal(sums(w, b), quantize_snn.snn_ops.convolve(op, x, w, b))
            np.testing.assert_array_equal(sums(w, None), quantize_snn.snn_ops.convolve(op, x, w))

"""Epitomes: the sampling model, the least-squares fold against numpy's lstsq, and exactness against onnxruntime."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.dialects import ep
from pimc.frontend.importer import import_onnx
from pimc.interp.compare import compare
from pimc.interp.interpreter import Interpreter
from pimc.ir.verifier import verify
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.targets.passes import all_passes
from pimc.text.parser import parse_module

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models  # noqa: E402


def reference_materialization(E, co, ci, beta_o, beta_i, sigma_o, sigma_i):
    """domain.md §3.3's loop, as written there."""
    co_e, ci_e = E.shape[:2]
    W = np.empty((co, ci, *E.shape[2:]), E.dtype)
    for a in range(math.ceil(co / beta_o)):
        for b in range(math.ceil(ci / beta_i)):
            so, si = (a * sigma_o) % co_e, (b * sigma_i) % ci_e
            for u in range(beta_o):
                for v in range(beta_i):
                    o, i = a * beta_o + u, b * beta_i + v
                    if o < co and i < ci:
                        W[o, i] = E[(so + u) % co_e, (si + v) % ci_e]
    return W


def sampling_matrix(weight_shape, shape, patch, stride) -> np.ndarray:
    """The 0/1 matrix A with vec(materialize(E)) = A vec(E)."""
    co, ci, *kernel = weight_shape
    epitome_shape = (*shape, *kernel)
    A = np.zeros((math.prod(weight_shape), math.prod(epitome_shape)))
    probe = np.arange(A.shape[1]).reshape(epitome_shape)
    A[np.arange(A.shape[0]), ep.materialize(probe, co, ci, patch, stride).reshape(-1)] = 1
    return A


def fold(module, spec: str):
    run_pipeline(module, parse_pipeline(f"fold-epitome{{{spec}}}", all_passes()))
    return [op for op in module.walk() if isinstance(op, ep.Conv2dOp)]


def test_the_worked_example():
    """docs/epitome.md: Co=8, Ci=6, a 4x3 epitome, patch (2, 3), stride (1, 3)."""
    assert list(ep.sample_indices(8, 2, 1, 4)) == [0, 1, 1, 2, 2, 3, 3, 0]
    assert list(ep.sample_indices(6, 3, 3, 3)) == [0, 1, 2, 0, 1, 2]
    E = np.arange(12).reshape(4, 3, 1, 1)
    W = ep.materialize(E, 8, 6, (2, 3), (1, 3))[:, :, 0, 0]
    assert W[7].tolist() == [0, 1, 2, 0, 1, 2] and W[1].tolist() == W[2].tolist() == [3, 4, 5, 3, 4, 5]
    np.testing.assert_array_equal(ep.project(W[:, :, None, None], (4, 3), (2, 3), (1, 3)), E)


sampling = st.integers(1, 6).flatmap(lambda co_e: st.integers(1, 5).flatmap(lambda ci_e: st.tuples(
    st.just((co_e, ci_e)), st.integers(co_e, 13), st.integers(ci_e, 11), st.integers(1, co_e), st.integers(1, ci_e),
    st.integers(0, 7), st.integers(0, 7), st.sampled_from([(1, 1), (3, 3), (1, 2)]), st.integers(0, 2**32 - 1))))


@settings(max_examples=150, deadline=None)
@given(sampling)
def test_materialize_of_project_is_the_orthogonal_projection(case):
    """materialize matches domain.md's loop; materialize . project is idempotent and leaves a residual
    orthogonal to every materialised weight; project is numpy's least-squares solution."""
    shape, co, ci, beta_o, beta_i, sigma_o, sigma_i, kernel, seed = case
    patch, stride = (beta_o, beta_i), (sigma_o, sigma_i)
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((*shape, *kernel))
    np.testing.assert_array_equal(ep.materialize(E, co, ci, patch, stride),
                                  reference_materialization(E, co, ci, beta_o, beta_i, sigma_o, sigma_i))
    W = rng.standard_normal((co, ci, *kernel))
    projected = ep.materialize(ep.project(W, shape, patch, stride), co, ci, patch, stride)
    again = ep.materialize(ep.project(projected, shape, patch, stride), co, ci, patch, stride)
    np.testing.assert_allclose(again, projected, rtol=0, atol=1e-12)
    other = ep.materialize(rng.standard_normal((*shape, *kernel)), co, ci, patch, stride)
    assert abs(np.vdot(W - projected, other)) <= 1e-9 * np.linalg.norm(W) * np.linalg.norm(other)
    lstsq = np.linalg.lstsq(sampling_matrix(W.shape, shape, patch, stride), W.reshape(-1), rcond=None)[0]
    np.testing.assert_allclose(ep.project(W, shape, patch, stride).reshape(-1), lstsq, rtol=0, atol=1e-9)


def test_an_epitome_that_is_sampled_whole_comes_back_exactly():
    """Idempotence on the epitome itself: project(materialize(E)) = E when every element is sampled."""
    E = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)
    W = ep.materialize(E, 10, 7, (3, 2), (2, 1))
    np.testing.assert_array_equal(ep.project(W, (4, 3), (3, 2), (2, 1)).astype(np.float32), E)


def conv_model(weight: np.ndarray, tmp_path: Path) -> Path:
    """x -> Conv(weight, bias, pads 1) -> Relu -> Conv 1x1, in tests/models.py's style."""
    g = models.Graph(seed=3)
    c = g.node("Conv", ["x", g.const("conv1.weight", weight), g.param("conv1.bias", weight.shape[0])], "c1",
               "/conv1/Conv", pads=[1, 1, 1, 1])
    r = g.node("Relu", [c], "r1", "/relu/Relu")
    g.node("Conv", [r, g.param("conv2.weight", 4, weight.shape[0], 1, 1)], "y", "/conv2/Conv")
    path = tmp_path / "epitome.onnx"
    onnx.save(g.model([2, weight.shape[1], 6, 6], "y", [2, 4, 6, 6]), path)
    return path


def test_fold_of_an_epitome_structured_conv_is_exact(tmp_path):
    E = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    path = conv_model(ep.materialize(E, 8, 6, (2, 3), (1, 3)), tmp_path)
    module = import_onnx(str(path))
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 6)).astype(np.float32)
    (unfolded,) = Interpreter(module, record=False).run([x])
    (conv,) = fold(module, 'shape=4,3 patch=2,3 stride=1,3 layers="/conv1/Conv"')
    verify(module)
    assert conv.projection_error == 0.0
    np.testing.assert_array_equal(module.weights[conv.epitome.op.ref], E)
    (folded,) = Interpreter(module, record=False).run([x])
    np.testing.assert_array_equal(folded, unfolded)
    (reference,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    comparison = compare("y", reference, folded, rtol=1e-4, atol=1e-5)
    assert comparison.ok and comparison.max_rel_error < 1e-6, comparison


@pytest.mark.parametrize("spec, shape, patch, stride", [
    ("shape=4,3", (4, 3), (4, 3), (4, 3)),
    ("shape=4,3 patch=2,3 stride=1,3", (4, 3), (2, 3), (1, 3)),
    ("shape=5,2 patch=3,1 stride=2,0", (5, 2), (3, 1), (2, 0)),
])
def test_fold_of_a_random_conv_is_numpys_least_squares(tmp_path, spec, shape, patch, stride):
    weight = np.random.default_rng(2).standard_normal((8, 6, 3, 3)).astype(np.float32)
    module = import_onnx(str(conv_model(weight, tmp_path)))
    (conv,) = fold(module, f'{spec} layers="/conv1/Conv"')
    A = sampling_matrix(weight.shape, shape, patch, stride)
    w = weight.reshape(-1).astype(np.float64)
    e = np.linalg.lstsq(A, w, rcond=None)[0]
    expected = np.linalg.norm(w - A @ e) / np.linalg.norm(w)
    assert conv.projection_error > 0.1
    assert abs(conv.projection_error - expected) <= 1e-6
    np.testing.assert_allclose(module.weights[conv.epitome.op.ref].reshape(-1), e, rtol=0, atol=1e-6)


WRAPPING = """
module {
  func.func @main(%x: tensor<1x6x5x5xf32>, %e: tensor<4x3x3x3xf32>, %b: tensor<8xf32>) -> tensor<1x8x5x5xf32> {
    %y = ep.conv2d(%x, %e, %b) {pads = [1, 1, 1, 1], patch = [2, 3], stride = [1, 3]} : (tensor<1x6x5x5xf32>, tensor<4x3x3x3xf32>, tensor<8xf32>) -> tensor<1x8x5x5xf32>
    func.return(%y) : (tensor<1x8x5x5xf32>) -> ()
  }
}
"""

PRESUMMED = """
module {
  func.func @main(%s: tensor<1x3x5x5xf32>, %e: tensor<4x3x3x3xf32>) -> tensor<1x4x5x5xf32> {
    %y = nn.conv2d(%s, %e) {pads = [1, 1, 1, 1]} : (tensor<1x3x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x5x5xf32>
    func.return(%y) : (tensor<1x4x5x5xf32>) -> ()
  }
}
"""


def test_wrapping_runs_the_epitome_alone_on_presummed_inputs():
    """ep.conv2d(x, E)[o] = conv(S x, E)[r(o)] + bias[o], with (S x)_q the sum of the input channels i with c(i) = q."""
    rng = np.random.default_rng(4)
    x, E, b = (rng.standard_normal(s).astype(np.float32) for s in ((1, 6, 5, 5), (4, 3, 3, 3), (8,)))
    module = parse_module(WRAPPING)
    verify(module)
    (y,) = Interpreter(module).run([x, E, b])
    rows, cols = ep.sample_indices(8, 2, 1, 4), ep.sample_indices(6, 3, 3, 3)
    presummed = np.stack([x[:, cols == q].sum(axis=1) for q in range(3)], axis=1)
    (z,) = Interpreter(parse_module(PRESUMMED)).run([presummed, E])
    np.testing.assert_allclose(y, z[:, rows] + b[:, None, None], rtol=1e-5, atol=1e-5)


def test_the_pass_spec_parses_back():
    (spec,) = parse_pipeline('fold-epitome{shape=4,3 patch=2,3 stride=1,0 layers="/conv1/Conv",y}', all_passes())
    assert parse_pipeline(str(spec), all_passes()) == [spec]

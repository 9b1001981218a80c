"""EPIM's datapath is exact: route(wrap_sum(x) . E) is x . materialize(E) in integers, and quantize shares scales per
epitome row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.dialects import ep, q, xbar
from pimc.frontend.importer import import_onnx
from pimc.interp.interpreter import Interpreter
from pimc.ir.verifier import verify
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.passes import PASSES
from pimc.text.parser import parse_module
from pimc.weights import WeightStore

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@st.composite
def epitome_convs(draw):
    co_e, ci_e = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    co, ci = co_e + draw(st.integers(0, 6)), ci_e + draw(st.integers(0, 6))
    patch = draw(st.integers(1, co_e)), draw(st.integers(1, ci_e))
    stride = draw(st.integers(0, co_e)), draw(st.integers(0, ci_e))
    k = draw(st.sampled_from([1, 3]))
    return (co_e, ci_e, k), (co, ci), patch, stride, draw(st.integers(0, 255)), draw(st.integers(0, 2**16))


@given(epitome_convs())
@settings(max_examples=40, deadline=None)
def test_lowered_epitome_conv_is_the_conv_of_the_materialised_weight(case):
    (co_e, ci_e, k), (co, ci), patch, stride, zero, seed = case
    rng = np.random.default_rng(seed)
    text = f"""module {{
  func.func @main(%x: tensor<2x{ci}x5x5xui8>) -> tensor<2x{co}x5x5xi32> {{
    %e = nn.weight() {{ref = "e"}} : () -> tensor<{co_e}x{ci_e}x{k}x{k}xi8>
    %b = nn.weight() {{ref = "b"}} : () -> tensor<{co}xi32>
    %w = ep.materialize(%e) {{patch = {list(patch)}, stride = {list(stride)}}} : (tensor<{co_e}x{ci_e}x{k}x{k}xi8>) -> tensor<{co}x{ci}x{k}x{k}xi8>
    %y = q.conv2d(%x, %w, %b) {{input_zero_point = {zero}, pads = {[k // 2] * 4}}} : (tensor<2x{ci}x5x5xui8>, tensor<{co}x{ci}x{k}x{k}xi8>, tensor<{co}xi32>) -> tensor<2x{co}x5x5xi32>
    func.return(%y) : (tensor<2x{co}x5x5xi32>) -> ()
  }}
}}"""
    module = parse_module(text)
    module.weights = WeightStore({"e": rng.integers(-127, 128, (co_e, ci_e, k, k)).astype(np.int8),
                                  "b": rng.integers(-1000, 1000, co).astype(np.int32)})
    x = rng.integers(0, 256, (2, ci, 5, 5)).astype(np.uint8)
    (expected,) = Interpreter(module, record=False).run([x])
    run_pipeline(module, parse_pipeline("lower-to-xbar{epitomes=true},canonicalize", PASSES))
    verify(module)
    ops = list(module.walk())
    assert not any(isinstance(op, (ep.MaterializeOp, q.Conv2dOp)) for op in ops)
    (mvm,) = [op for op in ops if isinstance(op, xbar.MvmOp)]
    assert module.weights[mvm.weights].shape == (ci_e * k * k, co_e)  # only E on the crossbar
    rows, cols = ep.sample_indices(co, patch[0], stride[0], co_e), ep.sample_indices(ci, patch[1], stride[1], ci_e)
    assert any(isinstance(op, xbar.WrapSumOp) for op in ops) == (cols.tolist() != list(range(ci_e)))
    assert any(isinstance(op, xbar.RouteOp) for op in ops) == (rows.tolist() != list(range(co_e)))
    (lowered,) = Interpreter(module, record=False).run([x])
    np.testing.assert_array_equal(lowered, expected)


def test_quantize_shares_each_epitome_rows_scale_among_the_channels_it_is_sampled_into():
    module = import_onnx(str(SAMPLES / "digits_epitome.onnx"), {"x": (1, 1, 8, 8)})
    calib = SAMPLES / "digits_test.npz"
    run_pipeline(module, parse_pipeline(f'quantize{{calib="{calib}" samples=4 weight-bits=3}}', PASSES))
    sampled = [op for op in module.walk() if isinstance(op, ep.MaterializeOp)]
    assert len(sampled) == 2
    for op in sampled:
        (conv,) = [user for user in op.result.users if isinstance(user, q.Conv2dOp)]
        (requantize,) = conv.output.users
        multipliers = module.weights[requantize.operands[1].op.ref]
        rows, _ = op.index_maps()
        for row in set(rows.tolist()):
            assert len(set(multipliers[rows == row].tolist())) == 1
        epitome = module.weights[op.input.op.ref]
        assert op.input.type.element.name == "i3" and np.abs(epitome).max() <= 3
        assert (np.abs(epitome).reshape(len(epitome), -1).max(axis=1) == 3).all()  # each row's peak is its scale

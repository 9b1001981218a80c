"""design-epitomes: its crossbar count, its design of the digits CNN, and properties of its designs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.calibrate import calibration_inputs
from pimc.dialects import ep
from pimc.dialects.nn_conv import Conv2dOp
from pimc.frontend.importer import import_onnx
from pimc.interp.interpreter import Interpreter
from pimc.ir.verifier import verify
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.targets.passes import all_passes
from pimc.targets.epim.design_epitomes import DesignEpitomes
from pimc.targets.epim.candidates import Candidates
from pimc.text.parser import parse_module
from pimc.text.printer import print_module
from pimc.weights import WeightStore

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def design(module, spec: str) -> list[str]:
    run_pipeline(module, parse_pipeline(f"design-epitomes{{{spec}}}", all_passes()))
    verify(module)
    return list(module.attributes["epitome_design"])


def test_crossbars_count_row_blocks_of_input_taps_times_column_blocks_of_weight_slices():
    default = DesignEpitomes()
    assert (default.crossbars(32, 16, 9), default.crossbars(32, 14, 9), default.crossbars(16, 1, 9)) == (2, 1, 1)
    assert DesignEpitomes(rows=32, cols=32).crossbars(32, 16, 9) == 5 * 4
    assert DesignEpitomes(cell_bits=3, weight_bits=8, cols=96).crossbars(33, 1, 1) == 2  # 3 cells per weight


def test_the_digits_cnn():
    """Its second conv fits one 128x128 crossbar as a 32x14 epitome, within 0.1 of the outputs but not 0.05."""
    calib = f'calib="{SAMPLES / "digits_test.npz"}"'
    module = import_onnx(str(SAMPLES / "digits_cnn.onnx"), {"x": (1, 1, 8, 8)})
    kept = design(module, f"budget=0.05 {calib}")
    assert not [op for op in module.walk() if isinstance(op, ep.Conv2dOp)]
    assert kept[1].startswith("/features/features.4/Conv: 32x16 kept, crossbars 2; fewest: epitome 32x14 stride [32, 1], "
                              "crossbars 1, estimated output error 0.0")
    assert kept[2].startswith("crossbars 3 -> 3 (128x128, 4 cells per weight), ADC conversions 65,536 -> 65,536, "
                              "crossbar cycles 640 -> 640, output error 0 (budget 0.05)")
    module = import_onnx(str(SAMPLES / "digits_cnn.onnx"), {"x": (1, 1, 8, 8)})
    report = design(module, f"budget=0.1 {calib}")
    (conv,) = [op for op in module.walk() if isinstance(op, ep.Conv2dOp)]
    assert (conv.epitome.type.shape, conv.patch, conv.stride) == ((32, 14, 3, 3), (32, 14), (32, 1))
    assert report[0] == "/features/features.0/Conv: 16x1 kept, crossbars 1; no epitome takes fewer"
    assert report[1] == ("/features/features.4/Conv: 32x16 -> epitome 32x14 patch [32, 14] stride [32, 1], "
                         "crossbars 2 -> 1, ADC conversions 32,768 -> 18,432, input slices 8 -> 9, projection error 0.291")
    assert re.fullmatch(r"crossbars 3 -> 2 \(128x128, 4 cells per weight\), ADC conversions 65,536 -> 51,200, crossbar "
                        r"cycles 640 -> 656, output error 0\.0\d+ \(budget 0\.1\) on 16 calibration inputs, "
                        r"\d+ designs evaluated", report[2])


TWO_CONVS = """
module attributes {{weights = "w.npz"}} {{
  func.func @main(%x: tensor<1x{ci}x5x5xf32>) -> tensor<1x4x5x5xf32> {{
    %w = nn.weight() {{ref = "w"}} : () -> tensor<{co}x{ci}x{k}x{k}xf32>
    %y = nn.conv2d(%x, %w) {{pads = [{p}, {p}, {p}, {p}]}} : (tensor<1x{ci}x5x5xf32>, tensor<{co}x{ci}x{k}x{k}xf32>) -> tensor<1x{co}x5x5xf32>
    %r = nn.relu(%y) : (tensor<1x{co}x5x5xf32>) -> tensor<1x{co}x5x5xf32>
    %v = nn.weight() {{ref = "v"}} : () -> tensor<4x{co}x1x1xf32>
    %z = nn.conv2d(%r, %v) : (tensor<1x{co}x5x5xf32>, tensor<4x{co}x1x1xf32>) -> tensor<1x4x5x5xf32>
    func.return(%z) : (tensor<1x4x5x5xf32>) -> ()
  }}
}}
"""


def divisor(n: int):
    return st.sampled_from([d for d in range(1, n + 1) if n % d == 0])


cases = st.tuples(st.integers(4, 16), st.integers(2, 12)).flatmap(lambda c: st.tuples(
    st.just(c), divisor(c[0]), divisor(c[1]), st.sampled_from([1, 3]), st.sampled_from([8, 16, 32]),
    st.sampled_from([8, 16, 32]), st.floats(0.02, 0.5), st.booleans(), st.integers(0, 2**16)))


@settings(max_examples=12, deadline=None)
@given(cases)
def test_designs_stay_within_budget_save_crossbars_find_exact_epitomes_and_repeat(case):
    """The folded model's outputs are within the budget of the unfolded one's on the calibration inputs; the
    crossbars never grow, and the report counts them; a weight sampled from an epitome costs at most that
    epitome's crossbars; the same seed gives the same module."""
    (co, ci), a, b, k, rows, cols, budget, structured, seed = case
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((co, ci, k, k)).astype(np.float32)
    if structured:
        weight = ep.materialize(weight[:a, :b], co, ci, (a, b), (a, b))
    arrays = {"w": weight, "v": rng.standard_normal((4, co, 1, 1)).astype(np.float32)}

    def model():
        module = parse_module(TWO_CONVS.format(co=co, ci=ci, k=k, p=k // 2))
        module.weights = WeightStore(dict(arrays))
        return module

    spec = f"budget={budget} rows={rows} cols={cols} samples=3 generations=3 seed={seed}"
    unfolded, module = model(), model()
    report = design(module, spec)
    pass_ = parse_pipeline(f"design-epitomes{{{spec}}}", all_passes())[0]
    inputs = calibration_inputs(module.funcs()[0], pass_.calib, pass_.samples, pass_.seed, pass_.name)
    before = [Interpreter(unfolded).run(x)[0].astype(np.float64) for x in inputs]
    after = [Interpreter(module).run(x)[0] for x in inputs]
    error = np.sqrt(sum(np.sum((y - z) ** 2) for y, z in zip(before, after)) / sum(np.sum(y**2) for y in before))
    assert error <= budget * (1 + 1e-5)  # the search measures in onnxruntime, in float32

    def crossbars(op) -> int:
        (co_, ci_, *kernel) = op.epitome.type.shape if isinstance(op, ep.Conv2dOp) else op.weight.type.shape
        return pass_.crossbars(co_, ci_, kernel[0] * kernel[1])

    convs = [op for op in module.walk() if isinstance(op, (Conv2dOp, ep.Conv2dOp))]
    total = sum(map(crossbars, convs))
    unfolded_total = sum(map(crossbars, [op for op in unfolded.walk() if isinstance(op, Conv2dOp)]))
    assert total <= unfolded_total
    assert report[-1].startswith(f"crossbars {unfolded_total} -> {total} ")
    if structured:
        assert crossbars(convs[0]) <= pass_.crossbars(a, b, k * k)
    again = model()
    design(again, spec)
    assert print_module(again) == print_module(module)


def test_the_pass_spec_parses_back():
    (spec,) = parse_pipeline('design-epitomes{budget=0.1 rows=64 calib="d.npz" layers="/conv1/Conv",y}', all_passes())
    assert parse_pipeline(str(spec), all_passes()) == [spec]


genes = st.tuples(st.integers(2, 12), st.integers(2, 10), st.sampled_from([1, 3]), st.integers(0, 2**16)).flatmap(
    lambda c: st.tuples(st.just(c), st.integers(1, c[0]), st.integers(1, c[1])).flatmap(
        lambda s: st.tuples(st.just(s), st.integers(1, s[1]), st.integers(1, s[2]))))


@settings(max_examples=60, deadline=None)
@given(genes)
def test_proxies_are_the_convs_own_output_error(case):
    """With input correlations, the proxy is ||(W - M) X|| / ||W X|| on the conv's windows; without (a conv too
    large for X X^T), it is the same error weighted by each input channel's mean square (summed in float32: an
    error near 0 comes out as up to sqrt(float32 epsilon))."""
    ((co, ci, k, seed), co_e, ci_e), so, si = case
    rng = np.random.default_rng(seed)
    conv = [op for op in parse_module(TWO_CONVS.format(co=co, ci=ci, k=k, p=k // 2)).walk() if isinstance(op, Conv2dOp)][0]
    weight = rng.standard_normal((co, ci, k, k))
    x = rng.standard_normal((1, ci, 5, 5)) * rng.uniform(0.1, 3, (1, ci, 1, 1))
    gene = (co_e, ci_e, so, si)
    delta = weight - ep.materialize(ep.project(weight, (co_e, ci_e), (co_e, ci_e), (so, si)), co, ci, (co_e, ci_e), (so, si))
    for covariance in (True, False):
        layer = Candidates.__new__(Candidates)
        layer.op, layer.weight, layer.taps, layer.spec = conv, weight, k * k, DesignEpitomes()
        layer._energy, layer._inputs = np.zeros(ci), 0
        layer._covariance = np.zeros((ci * k * k,) * 2) if covariance else None
        layer.observe(x)
        layer.measured()
        if covariance:
            padded = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)))
            outputs = [np.einsum("oikl,ikl->o", w, padded[0, :, i : i + k, j : j + k]) for w in (delta, weight)
                       for i in range(5) for j in range(5)]
            expected = np.linalg.norm(outputs[:25]) / np.linalg.norm(outputs[25:])
        else:
            energy = np.mean(x**2, axis=(0, 2, 3))[None, :, None, None]
            expected = np.sqrt(np.sum(delta**2 * energy) / np.sum(weight**2 * energy))
        assert np.isclose(layer.proxy(gene), expected, rtol=1e-4, atol=1e-6 if covariance else 2e-3)  # sums in f32


@pytest.mark.parametrize("objective", ["conversions", "cycles"])
def test_each_objective_minimises_its_cost_first(objective):
    """On 32x32 crossbars the digits CNN's conv 2 folds under every objective; minimising conversions or cycles
    first never gives more of them than minimising crossbars first, nor fewer crossbars, within the budget."""
    calib = f'calib="{SAMPLES / "digits_test.npz"}" rows=32 cols=32 budget=0.5'
    costs = {}
    for first in ("crossbars", objective):
        module = import_onnx(str(SAMPLES / "digits_cnn.onnx"), {"x": (1, 1, 8, 8)})
        line = design(module, f"{calib} objective={first}")[-1]
        found = re.search(r"crossbars \d+ -> (\d+) .* ADC conversions [\d,]+ -> ([\d,]+), crossbar cycles [\d,]+ -> "
                          r"([\d,]+), output error ([0-9.e-]+)", line)
        numbers = (float(n.replace(",", "")) for n in found.groups())
        costs[first] = dict(zip(("crossbars", "conversions", "cycles", "error"), numbers))
    assert costs[objective][objective] <= costs["crossbars"][objective]
    assert costs["crossbars"]["crossbars"] <= costs[objective]["crossbars"]
    assert max(c["error"] for c in costs.values()) <= 0.5

"""integer-mlg, quantize and lower-mlg on random integer factors, run by the interpreter: every mode computes the
materialized layer's integers to the bit, its exact intermediates stay within the range lower-mlg gave them, and
`auto` with the crossbars objective takes the mode of fewest crossbars."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.dialects import q
from pimc.interp.interpreter import Interpreter
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.targets.passes import all_passes
from pimc.targets.mlg.stages import Geometry, mode_stages
from pimc.text.parser import parse_module
from pimc.weights import WeightStore

MODEL = """module {{
  func.func @main(%x: tensor<1x{ci}x5x5xf32>) -> tensor<1x{co}x5x5xf32> {{
    %b = nn.weight() {{ref = "l.basis"}} : () -> tensor<{bc}x{bi}x3x3xi8>
    %u = nn.weight() {{ref = "l.coeff_in"}} : () -> tensor<{bc}x{ci}x{bi}xi8>
    %v = nn.weight() {{ref = "l.coeff_out"}} : () -> tensor<{co}x{bc}xi8>
    %w = mlg.generate(%b, %u, %v) {{levels = "intra-cross", bits = [{qb}, {qu}, {qv}], scales = [0.5, 0.25, 0.125]}} : (tensor<{bc}x{bi}x3x3xi8>, tensor<{bc}x{ci}x{bi}xi8>, tensor<{co}x{bc}xi8>) -> tensor<{co}x{ci}x3x3xf32>
    %y = nn.conv2d(%x, %w) {{pads = [1, 1, 1, 1]}} : (tensor<1x{ci}x5x5xf32>, tensor<{co}x{ci}x3x3xf32>) -> tensor<1x{co}x5x5xf32>
    func.return(%y) : (tensor<1x{co}x5x5xf32>) -> ()
  }}
}}
"""


def odd_codes(rng, shape, bits):
    """Random DoReFa-symmetric codes: odd integers 2j - n, n = 2^bits - 1."""
    n = (1 << bits) - 1
    return 2 * rng.integers(0, n + 1, size=shape) - n


def lowered(factors: dict, sizes: dict, mode: str):
    module = parse_module(MODEL.format(**sizes))
    module.weights = WeightStore({name: codes.astype(np.int8) for name, codes in factors.items()})
    run_pipeline(module, parse_pipeline(f"integer-mlg,quantize{{samples=2}},lower-mlg{{mode={mode}}}", all_passes()))
    return module


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 5), st.integers(2, 6), st.integers(1, 3), st.integers(1, 5), st.integers(1, 3),
       st.integers(1, 5), st.integers(1, 3), st.integers(0, 2**16))
def test_every_mode_computes_the_materialized_integers(ci, co, bi, bc, qb, qu, qv, seed):
    rng = np.random.default_rng(seed)
    factors = {"l.basis": odd_codes(rng, (bc, bi, 3, 3), qb), "l.coeff_in": odd_codes(rng, (bc, ci, bi), qu),
               "l.coeff_out": odd_codes(rng, (co, bc), qv)}
    sizes = {"ci": ci, "co": co, "bi": bi, "bc": bc, "qb": qb, "qu": qu, "qv": qv}
    x = rng.standard_normal((1, ci, 5, 5)).astype(np.float32) * 2
    results = {}
    for mode in ("materialize", "two-stage", "three-stage"):
        module = lowered(factors, sizes, mode)
        held = [op for op in module.walk() if isinstance(op, q.RequantizeOp)][:-1]
        seen = {}
        (results[mode],) = Interpreter(module, record=False, observer=lambda v, a: seen.__setitem__(v, a)).run([x])
        for op in held:  # the stage's result plus the zero point fits the intermediate's bits: nothing is clipped
            shifted = seen[op.input] + op.zero_point
            assert 0 <= shifted.min() and shifted.max() <= op.output.type.element.bounds[1]
        assert len(held) == {"materialize": 0, "two-stage": 1, "three-stage": 2}[mode]
    np.testing.assert_array_equal(results["two-stage"], results["materialize"])
    np.testing.assert_array_equal(results["three-stage"], results["materialize"])


def test_auto_takes_the_mode_of_fewest_crossbars():
    """256 -> 256 3x3 at 2-44-3-6-3 on 128x128 crossbars of 2-bit cells: three-stage (U, 88 depthwise groups of W^b
    packed on diagonal blocks, V) takes fewer crossbars than two-stage (W_c at 11 bits, V), and both far fewer
    than materialize (W at 17 bits here)."""
    rng = np.random.default_rng(0)
    factors = {"l.basis": odd_codes(rng, (44, 2, 3, 3), 3), "l.coeff_in": odd_codes(rng, (44, 256, 2), 6),
               "l.coeff_out": odd_codes(rng, (256, 44), 3)}
    codes, scales = list(factors.values()), [0.5, 0.25, 0.125]
    geometry = Geometry(128, 128, 2, 1)
    crossbars = {mode: sum(geometry.costs(stage, 8, 9)["crossbars"] for stage in
                           mode_stages(mode, "intra-cross", codes, scales, (256, 256, 3, 3)))
                 for mode in ("materialize", "two-stage", "three-stage")}
    sizes = {"ci": 256, "co": 256, "bi": 2, "bc": 44, "qb": 3, "qu": 6, "qv": 3}
    module = lowered(factors, sizes, "auto")
    (layer,) = module.attributes["mlg_layers"]
    assert dict(layer)["mode"] == "three-stage" == min(crossbars, key=crossbars.get)
    assert crossbars["materialize"] > 5 * crossbars["two-stage"] > 5 * crossbars["three-stage"]

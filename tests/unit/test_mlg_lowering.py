"""lower-mlg on random integer factors: every mode computes the conv with the generated weight exactly, and
`auto` picks the mode of fewest crossbars; checked against numpy's own product and convolution."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.dialects.nn_conv import Conv2dOp
from pimc.interp.interpreter import Interpreter
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.targets.passes import all_passes
from pimc.text.parser import parse_module
from pimc.weights import WeightStore

MODEL = """module {{
  func.func @main(%x: tensor<1x{ci}x5x5xf32>) -> tensor<1x{co}x5x5xf32> {{
    %b = nn.weight() {{ref = "l.basis"}} : () -> tensor<{bc}x{bi}x3x3xi8>
    %u = nn.weight() {{ref = "l.coeff_in"}} : () -> tensor<{bc}x{ci}x{bi}xi8>
    %v = nn.weight() {{ref = "l.coeff_out"}} : () -> tensor<{co}x{bc}xi8>
    %w = mlg.generate(%b, %u, %v) {{levels = "intra-cross", bits = [{qb}, {qu}, {qv}], scales = [1.0, 1.0, 1.0]}} : (tensor<{bc}x{bi}x3x3xi8>, tensor<{bc}x{ci}x{bi}xi8>, tensor<{co}x{bc}xi8>) -> tensor<{co}x{ci}x3x3xf32>
    %y = nn.conv2d(%x, %w) {{pads = [1, 1, 1, 1]}} : (tensor<1x{ci}x5x5xf32>, tensor<{co}x{ci}x3x3xf32>) -> tensor<1x{co}x5x5xf32>
    func.return(%y) : (tensor<1x{co}x5x5xf32>) -> ()
  }}
}}
"""


def odd_codes(rng, shape, bits):
    """Random DoReFa-symmetric codes: odd integers 2j - n, n = 2^bits - 1."""
    n = (1 << bits) - 1
    return 2 * rng.integers(0, n + 1, size=shape) - n


def numpy_conv(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A 3x3 conv with padding 1, as a sum over the kernel's offsets."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    size = x.shape[2]
    out = np.zeros((1, weight.shape[0], size, size), dtype=np.int64)
    for dy in range(3):
        for dx in range(3):
            window = padded[:, :, dy:dy + size, dx:dx + size]
            out += np.einsum("nchw,oc->nohw", window, weight[:, :, dy, dx])
    return out


@settings(max_examples=12, deadline=None)
@given(st.integers(2, 5), st.integers(2, 6), st.integers(1, 3), st.integers(1, 5), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**16))
def test_every_mode_computes_the_conv_with_the_generated_weight_exactly(ci, co, bi, bc, qb, qu, qv, seed):
    rng = np.random.default_rng(seed)
    basis, coeff_in, coeff_out = odd_codes(rng, (bc, bi, 3, 3), qb), odd_codes(rng, (bc, ci, bi), qu), \
        odd_codes(rng, (co, bc), qv)
    weight = np.einsum("op,pci,pik->ock", coeff_out, coeff_in, basis.reshape(bc, bi, 9)).reshape(co, ci, 3, 3)
    x = rng.integers(-3, 4, size=(1, ci, 5, 5))
    expected = numpy_conv(x, weight)
    for mode in ("materialize", "two-stage", "three-stage", "auto"):
        module = parse_module(MODEL.format(ci=ci, co=co, bi=bi, bc=bc, qb=qb, qu=qu, qv=qv))
        module.weights = WeightStore({"l.basis": basis.astype(np.int8), "l.coeff_in": coeff_in.astype(np.int8),
                                      "l.coeff_out": coeff_out.astype(np.int8)})
        run_pipeline(module, parse_pipeline(f"lower-mlg{{mode={mode}}}", all_passes()))
        convs = [op for op in module.walk() if isinstance(op, Conv2dOp)]
        assert len(convs) == {"materialize": 1, "two-stage": 2, "three-stage": 3}.get(mode, len(convs))
        (y,) = Interpreter(module, record=False).run([x.astype(np.float32)])
        np.testing.assert_array_equal(y.astype(np.int64), expected, err_msg=mode)


def test_auto_takes_the_mode_of_fewest_crossbars():
    """256 -> 256 3x3 at 2-44-3-6-3 on 128x128 crossbars of 2-bit cells: auto's choice is the mode whose lowered
    weights, sliced at the bits their codes need, take the fewest crossbars; two-stage here."""
    rng = np.random.default_rng(0)
    factors = {"l.basis": odd_codes(rng, (44, 2, 3, 3), 3).astype(np.int8),
               "l.coeff_in": odd_codes(rng, (44, 256, 2), 6).astype(np.int8),
               "l.coeff_out": odd_codes(rng, (256, 44), 3).astype(np.int8)}
    counts = {}
    for mode in ("materialize", "two-stage", "three-stage", "auto"):
        module = parse_module(MODEL.format(ci=256, co=256, bi=2, bc=44, qb=3, qu=6, qv=3).replace("5x5", "3x3"))
        module.weights = WeightStore(factors)
        run_pipeline(module, parse_pipeline(f"lower-mlg{{mode={mode}}}", all_passes()))
        counts[mode] = crossbars(module)
        chosen = module.attributes["mlg_layers"][0].split(" mode=")[1].split()[0]
    assert chosen == "two-stage" and counts["auto"] == counts["two-stage"] == min(counts.values())
    assert counts["materialize"] > 2 * counts["two-stage"]


def crossbars(module) -> int:
    """The crossbars of every conv's integer weight, 128 x 128 of 2-bit cells, each group on its own."""
    total = 0
    for conv in (op for op in module.walk() if isinstance(op, Conv2dOp)):
        ints = module.weights[conv.weight.op.input.op.ref]
        bits = int(np.abs(ints).max()).bit_length() + 1
        per_group = ints.shape[0] // conv.group
        total += conv.group * -(-int(np.prod(ints.shape[1:])) // 128) * -(-per_group * -(-bits // 2) // 128)
    return total

"""The FlexSpIM simulator's event-driven scatter equals a direct (gather) computation in numpy.

Random small conv or FC layers, random event streams, both reset rules, both overflow modes, narrow
membranes so that overflow happens, output channels split over one to three macros.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.targets.flexspim.placement import LayerPlan
from pimc.targets.flexspim.program import emit
from pimc.targets.flexspim.simulator import Simulator


def direct_conv(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """out[o, i, j] = sum over c, ky, kx of w[o, c, ky, kx] * x_padded[c, i * stride + ky, j * stride + kx]."""
    padded = np.pad(x, [(0, 0), (pad, pad), (pad, pad)])
    k = w.shape[2]
    oh = (padded.shape[1] - k) // stride + 1
    ow = (padded.shape[2] - k) // stride + 1
    out = np.zeros((w.shape[0], oh, ow), np.int64)
    for i in range(oh):
        for j in range(ow):
            window = padded[:, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, i, j] = np.tensordot(w, window, axes=([1, 2, 3], [0, 1, 2]))
    return out


def limit(v: np.ndarray, bits: int, mode: str) -> np.ndarray:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if mode == "saturate":
        return np.clip(v, low, high)
    return (v - low) % (1 << bits) + low


@st.composite
def layers(draw, reset: str, overflow: str):
    conv = draw(st.booleans())
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    k = draw(st.integers(1, 3)) if conv else 1
    size = draw(st.integers(k, 6)) if conv else 1
    stride, pad = (draw(st.integers(1, 2)), draw(st.integers(0, k - 1))) if conv else (1, 0)
    wbits, vbits = draw(st.integers(2, 8)), draw(st.integers(3, 8))
    top = (1 << (wbits - 1)) - 1
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    weight = rng.integers(-top, top + 1, (cout, cin, k, k))
    steps = draw(st.integers(1, 6))
    events = (rng.random((steps, cin, size, size)) < draw(st.floats(0.05, 0.9))).astype(np.int64)
    out = (size + 2 * pad - k) // stride + 1
    cuts = sorted(draw(st.sets(st.integers(1, cout - 1), max_size=2))) if cout > 1 else []
    channels = list(zip([0, *cuts], [*cuts, cout]))  # one to three macros, each a slice of the output channels
    plan = LayerPlan(
        name="layer", kind="conv" if conv else "fc", in_shape=(cin, size, size) if conv else (cin,),
        out_shape=(cout, out, out) if conv else (cout,), weight=weight, bias=None, strides=(stride, stride),
        pads=(pad, pad, pad, pad), routing=[], weight_bits=wbits, vmem_bits=vbits,
        overflow=overflow, threshold=draw(st.integers(1, (1 << (vbits - 1)) - 1)),
        reset=reset, compare=draw(st.sampled_from(["gt", "ge"])),
        readout=False, macros=list(range(len(channels))), channels=channels)
    return plan, events if conv else events.reshape(steps, cin)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_simulator_matches_direct_numpy(reset, overflow, data):
    plan, events = data.draw(layers(reset, overflow))
    sim = Simulator(emit([plan], len(plan.macros)), record=True)
    sim.run(events)
    grid = plan.out_shape if plan.kind == "conv" else (plan.out_shape[0], 1, 1)
    v = np.zeros(grid, np.int64)
    for t, frame in enumerate(events):
        x = frame if plan.kind == "conv" else frame.reshape(-1, 1, 1)
        v = limit(v + direct_conv(x, plan.weight, plan.strides[0], plan.pads[0]), plan.vmem_bits, plan.overflow)
        fired = v > plan.threshold if plan.compare == "gt" else v >= plan.threshold
        v = np.where(fired, v - plan.threshold if plan.reset == "subtract" else 0, v)
        assert np.array_equal(sim.trace[0]["spikes"][t].reshape(grid), fired.astype(np.int64))
        assert np.array_equal(sim.trace[0]["vmem"][t].reshape(grid), v)
    assert sim.stats[0].sops == sum(int(np.sum(direct_conv(
        (f if plan.kind == "conv" else f.reshape(-1, 1, 1)), np.ones((1, *plan.weight.shape[1:]), np.int64),
        plan.strides[0], plan.pads[0]))) for f in events) * plan.out_channels
    assert sim.stats[0].row_ops * plan.out_channels == sim.stats[0].sops  # each macro repeats the row operations


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_batch_runs_as_its_samples_do(data):
    """run_batch on N samples gives each sample's run and the same summed counts."""
    plan, events = data.draw(layers(data.draw(st.sampled_from(["subtract", "zero"])),
                                    data.draw(st.sampled_from(["saturate", "wrap"]))))
    program = emit([plan], len(plan.macros))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    batch = np.stack([events, *(rng.permutation(events.reshape(-1)).reshape(events.shape) for _ in range(2))])
    together, alone = Simulator(program), Simulator(program)
    np.testing.assert_array_equal(together.run_batch(batch), np.stack([alone.run(sample) for sample in batch]))
    assert together.stats == alone.stats

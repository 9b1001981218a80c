"""q.quantize and q.requantize against their definition, clip(rint(v) + zero point) in float64 (ties to even), for
every integer element type, ties, values far outside the range, 0-d inputs and channels-last layouts; and the
quantize pass's per-channel weights against theirs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.dialects.q import QuantizeOp, RequantizeOp
from pimc.interp.q_ops import quantize, requantize
from pimc.ir.core import Value
from pimc.ir.location import UnknownLoc
from pimc.ir.types import parse_type
from pimc.passes.quantize import _per_channel
from pimc.text.parser import parse_attr_dict

ELEMENTS = ["ui8", "i8", "ui4", "i4", "i16", "i32", "ui1"]


def defined(v: np.ndarray, zero_point: int, element) -> np.ndarray:
    low, high = element.bounds
    return np.clip(np.rint(v) + zero_point, low, high).astype(element.numpy_dtype())


def op(cls, operands: list[str], result: str, attrs: str):
    return cls([Value(parse_type(t)) for t in operands], [parse_type(result)], parse_attr_dict(attrs), (), UnknownLoc(),
               cls.__name__)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), element=st.sampled_from(ELEMENTS), channels_last=st.booleans())
def test_quantize_and_requantize_are_their_definition(data, element, channels_last):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    kind = parse_type(f"tensor<1x{element}>").element
    zero_point = data.draw(st.integers(*kind.bounds))
    scale = data.draw(st.sampled_from([1.0, 0.5, 0.1, 0.03125, 7.3e-3, 1e-30, 1e30]))
    x = (rng.standard_normal((1, 3, 4, 5)) * data.draw(st.sampled_from([1.0, 1e3, 1e12]))).astype(np.float32)
    x.reshape(-1)[:8] = (np.arange(8) - 4 + 0.5) * scale  # ties, where rounding half to even shows
    x.reshape(-1)[8:10] = [3e38, -3e38]
    if channels_last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    shape = "1x3x4x5"
    q = op(QuantizeOp, [f"tensor<{shape}xf32>"], f"tensor<{shape}x{element}>",
           f"{{scale = {scale:.17e}, zero_point = {zero_point}}}")
    np.testing.assert_array_equal(quantize(None, q, x), defined(x.astype(np.float64) / scale, zero_point, kind))
    assert quantize(None, q, np.array(np.float32(2.5 * scale))).shape == ()

    acc = rng.integers(-2**31, 2**31, (1, 3, 4, 5))
    multiplier = np.array([scale * 1e-3, 0.25, 1e-6])
    r = op(RequantizeOp, [f"tensor<{shape}xi32>", "tensor<3xf64>"], f"tensor<{shape}x{element}>",
           f"{{scale = 1.0, zero_point = {zero_point}}}")
    expected = defined(acc * multiplier.reshape(1, -1, 1, 1), zero_point, kind)
    np.testing.assert_array_equal(requantize(None, r, acc, multiplier), expected)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), bits=st.sampled_from([2, 4, 8, 16]), dtype=st.sampled_from([np.float32, np.float64]))
def test_per_channel_weights_are_their_definition(data, bits, dtype):
    """quantize's weights, rint(w / scale) clipped to +-(2^(b-1) - 1) with scale = max|w| / that per output channel,
    whatever blocks of channels it computes them in (a classifier of over a million weights takes several)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    shape = data.draw(st.sampled_from([(5, 3, 3, 3), (7, 2), (3, 700_000), (1, 4)]))
    w = (rng.standard_normal(shape) * data.draw(st.sampled_from([1e-3, 1.0, 40.0]))).astype(dtype)
    w[0] = 0.0  # a channel of zeros: scale 1
    w.reshape(len(w), -1)[-1, :2] = [w.max() * 2, -w.max() * 2]  # ties of the largest magnitude, both signs
    limit = (1 << (bits - 1)) - 1
    peak = np.abs(w.reshape(len(w), -1)).max(axis=1).astype(np.float64)
    scale = np.where(peak > 0, peak / limit, 1.0)
    expected = np.clip(np.rint(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))), -limit, limit)
    got_scale, got = _per_channel(w, bits)
    np.testing.assert_array_equal(got_scale, scale)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype.itemsize <= (1 if bits <= 8 else 2)

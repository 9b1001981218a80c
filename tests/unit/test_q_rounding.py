"""q.quantize and q.requantize against their definition, clip(rint(v) + zero point) in float64 (ties to even), for
every integer element type, ties, values far outside the range, 0-d inputs and channels-last layouts."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.dialects.q import QuantizeOp, RequantizeOp
from pimc.interp.q_ops import quantize, requantize
from pimc.ir.core import Value
from pimc.ir.location import UnknownLoc
from pimc.ir.types import parse_type
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

"""xbar.im2col against its definition, one pixel and tap at a time, for inputs laid out channels first or channels
last in memory (the interpreter pads each in its own order), with any kernel, strides, dilations, pads and pad value."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.dialects.xbar import Im2ColOp
from pimc.interp.xbar_ops import im2col
from pimc.ir.core import Value
from pimc.ir.location import UnknownLoc
from pimc.ir.types import parse_type
from pimc.text.parser import parse_attr_dict


def by_definition(x, kernel, strides, pads, dilations, pad_value, out):
    (kh, kw), (sh, sw), (pt, pl, _, _), (dh, dw), (oh, ow) = kernel, strides, pads, dilations, out
    n, c, h, w = x.shape
    rows = []
    for image in range(n):
        for y in range(oh):
            for z in range(ow):
                row = []
                for channel in range(c):
                    for i in range(kh):
                        for j in range(kw):
                            r, q = y * sh - pt + i * dh, z * sw - pl + j * dw
                            row.append(x[image, channel, r, q] if 0 <= r < h and 0 <= q < w else pad_value)
                rows.append(row)
    return np.array(rows, x.dtype).reshape(n * oh * ow, c * kh * kw)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), channels_last=st.booleans())
def test_im2col_is_its_definition(data, channels_last):
    n, c, h, w = (data.draw(st.integers(1, bound)) for bound in (2, 5, 7, 7))
    kernel = [data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))]
    strides, dilations = [data.draw(st.integers(1, 2)) for _ in range(2)], [data.draw(st.integers(1, 2)) for _ in range(2)]
    pads = [data.draw(st.integers(0, 2)) for _ in range(4)]
    pad_value = data.draw(st.integers(0, 255))
    oh = (h + pads[0] + pads[2] - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - dilations[1] * (kernel[1] - 1) - 1) // strides[1] + 1
    if oh < 1 or ow < 1:
        return
    x = np.random.default_rng(data.draw(st.integers(0, 2**16))).integers(0, 256, (n, c, h, w), dtype=np.uint8)
    if channels_last:  # as col2im leaves a layer's output: NHWC in memory
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    attrs = parse_attr_dict(f"{{kernel = {kernel}, strides = {strides}, pads = {pads}, dilations = {dilations}, "
                            f"pad_value = {pad_value}}}")
    op = Im2ColOp([Value(parse_type(f"tensor<{n}x{c}x{h}x{w}xui8>"))],
                  [parse_type(f"tensor<{n * oh * ow}x{c * kernel[0] * kernel[1]}xui8>")], attrs, (), UnknownLoc(),
                  "xbar.im2col")
    expected = by_definition(x, kernel, strides, pads, dilations, pad_value, (oh, ow))
    np.testing.assert_array_equal(im2col(None, op, x), expected)

"""Exact integer matrix products on onnxruntime's 8-bit kernel (MatMulInteger), for the simulator's crossbars and the
interpreter's xbar.mvm.

    sums = small_products(a, b)   # a (P x K, uint8, every value <= 127) @ b (K x C, int8) -> P x C int32
    sums = byte_products(x, b)    # any uint8 x: its low seven bits, and its top bit where any is set

The kernel multiplies uint8 by int8 and accumulates in int32. Some of its x86 code paths (AVX2, AVX-512
without VNNI) first add two adjacent products in int16 (vpmaddubsw), which saturates outside
[-32768, 32767]. With a <= 127 and -128 <= b <= 127 such a pair is within 32512 of zero, and a sum of K
terms within 127 * 128 * K, far inside int32 for any crossbar, so every path gives the exact integers.
On this VNNI machine one product does 4x the multiply-adds per second of float32 BLAS on one thread
(ResNet-18's crossbar products on isaac, one image: 35 ms in float32, 17 ms as byte_products). The model
is kept serialized, so that a run does not import onnx.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from pimc.runtime import make_session, run

# y = MatMulInteger(a, b) for any shapes, serialized, so that a run need not import onnx (a second or more):
# tests/unit/test_integer_products.py builds the same bytes with onnx.helper
MODEL = (b"\x08\x07\x12\x04pimc:o\n\x18\n\x01a\n\x01b\x12\x01y\"\rMatMulInteger\x12\x0esmall_productsZ\x15\n\x01a"
         b"\x12\x10\n\x0e\x08\x02\x12\n\n\x03\x12\x01P\n\x03\x12\x01KZ\x15\n\x01b\x12\x10\n\x0e\x08\x03\x12\n\n\x03"
         b"\x12\x01K\n\x03\x12\x01Cb\x15\n\x01y\x12\x10\n\x0e\x08\x06\x12\n\n\x03\x12\x01P\n\x03\x12\x01CB\x04\n\x00\x10\r")


@cache
def _session():
    """One single-threaded session of MODEL (made on first use)."""
    return make_session(MODEL, threads=1)


def as_int8(matrix: np.ndarray) -> np.ndarray | None:
    """The matrix in int8 when every value fits, else None (the kernel cannot take it)."""
    if matrix.size and (matrix.min() < -128 or matrix.max() > 127):
        return None
    return matrix.astype(np.int8)


def small_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in int32, exact: a uint8 with every value <= 127, b int8."""
    return run(_session(), ["y"], {"a": np.ascontiguousarray(a, np.uint8), "b": b})[0]


def byte_products(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x @ b in int32, exact for any x of 0..255 (uint8): x & 127 times b, plus the top bits x >> 7 times b shifted
    back by 7 bits; that second product only over the rows of b whose column of x has a top bit set when they are
    at most half (ResNet-50's activations: 10% of them), and none when no x exceeds 127."""
    x = np.asarray(x, np.uint8)
    high = np.flatnonzero(x.max(axis=0, initial=0) > 127)
    if not high.size:
        return small_products(x, b)
    sums = small_products(x & 127, b)
    if 2 * high.size > x.shape[1]:  # gathering them would cost more than it saves
        sums += small_products(x >> 7, b) << 7
        return sums
    sums += small_products(np.take(x, high, axis=1) >> 7, np.take(b, high, axis=0)) << 7
    return sums

"""Exact integer matrix products for RAELLA's column sums, on onnxruntime's 8-bit kernel (MatMulInteger).

    sums = bit_products(planes, levels)   # planes (P x K, 0/1, uint8) @ levels (K x C, int8) -> P x C int32

The kernel multiplies uint8 by int8 and accumulates in int32. Some of its x86 code paths first add
two adjacent products in int16 (vpmaddubsw), which saturates above 32767. With 0/1 inputs and
|level| <= 127 such a pair is at most 254, and a sum of K terms at most 127 K, far inside int32, so
every path gives the exact integers. On a VNNI machine it does 7x the multiply-adds per second of
float32 BLAS on one thread, and it needs no packing of two bits into one float32 product. The model is
kept serialized, so that a run does not import onnx.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from pimc.runtime import make_session, run

LARGEST_LEVEL = 127  # |level| up to this keeps every int16 pair and int32 sum exact (see above)


# y = MatMulInteger(a, b) for any shapes, serialized, so that a run need not import onnx (a second or more):
# tests/unit/test_raella_datapath.py builds the same bytes with onnx.helper
MODEL = (b"\x08\x07\x12\x04pimc:m\n\x18\n\x01a\n\x01b\x12\x01y\"\rMatMulInteger\x12\x0cbit_productsZ\x15\n\x01a"
         b"\x12\x10\n\x0e\x08\x02\x12\n\n\x03\x12\x01P\n\x03\x12\x01KZ\x15\n\x01b\x12\x10\n\x0e\x08\x03\x12\n\n\x03"
         b"\x12\x01K\n\x03\x12\x01Cb\x15\n\x01y\x12\x10\n\x0e\x08\x06\x12\n\n\x03\x12\x01P\n\x03\x12\x01CB\x04\n\x00\x10\r")


@cache
def _session():
    """One single-threaded session of MODEL (made on first use)."""
    return make_session(MODEL, threads=1)


def bit_products(planes: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """planes @ levels in int32, exact: planes 0/1 (uint8), levels int8 with |level| <= LARGEST_LEVEL."""
    return run(_session(), ["y"], {"a": planes, "b": levels})[0]

"""How close two tensors are: max abs / rel error, cosine similarity, top-1 agreement, and a verdict.

    c = compare("logits", reference, computed, rtol=1e-4, atol=1e-5)   # c.ok, c.max_rel_error, ...
    fingerprint(a) == fingerprint(b)   # np.array_equal(a, b, equal_nan=True), without keeping a to compare

The relative error is normwise: max |computed - reference| / max |reference|.
An elementwise ratio would blow up wherever the reference is near zero, which
says nothing about the model. A tensor passes when
max |computed - reference| <= atol + rtol * max |reference|, so
`max_rel_error <= rtol` is what passing means for any tensor that is not tiny.
No float format resolves finer than its epsilon: a positive `rtol` is at
least `ULPS` epsilons of the tensor's type (3.9e-3 for float16); 0 stays 0.
"""

from __future__ import annotations

import hashlib
import math
import sys
from dataclasses import dataclass

import numpy as np

ULPS = 4  # the least relative tolerance, in epsilons of the tensor's float type
FINGERPRINT_CHUNK = 1 << 20  # elements


@dataclass(frozen=True)
class Comparison:
    """The agreement of one computed tensor with its reference."""

    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    cosine: float
    top1: tuple[int, int] | None  # (rows whose argmax agrees, rows) for N x C classifier outputs
    ok: bool

    @property
    def top1_agreement(self) -> float | None:
        return None if self.top1 is None else self.top1[0] / max(self.top1[1], 1)

    def as_json(self) -> dict:
        return {
            "name": self.name, "shape": list(self.shape), "ok": self.ok,
            "max_abs_error": finite(self.max_abs_error), "max_rel_error": finite(self.max_rel_error),
            "cosine": finite(self.cosine), "top1_agreement": self.top1_agreement,
        }


def finite(value: float) -> float | None:
    """JSON has no inf or nan: they become null."""
    return value if math.isfinite(value) else None


def compare(name: str, reference: np.ndarray, computed: np.ndarray, rtol: float, atol: float) -> Comparison:
    reference, computed = np.asarray(reference), np.asarray(computed)
    if reference.shape != computed.shape:
        return Comparison(name, computed.shape, math.inf, math.inf, 0.0, None, False)
    ref, got = reference.astype(np.float64, order="C").ravel(), computed.astype(np.float64, order="C").ravel()
    finite = bool(np.isfinite(ref).all() and np.isfinite(got).all())  # the usual case: fewer passes, same numbers
    diff = np.abs(got - ref)
    if finite:  # equal values differ by 0 already; an infinite difference (an overflow) counts as the largest float
        max_abs = min(float(diff.max(initial=0.0)), sys.float_info.max)
        scale = float(np.abs(ref).max(initial=0.0))
    else:
        same = (ref == got) | (np.isnan(ref) & np.isnan(got))
        diff = np.where(same, 0.0, np.nan_to_num(diff, nan=math.inf))
        max_abs = float(diff.max(initial=0.0))
        scale = float(np.abs(ref[np.isfinite(ref)]).max(initial=0.0))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    if rtol > 0 and reference.dtype.kind == "f":
        rtol = max(rtol, ULPS * float(np.finfo(reference.dtype).eps))
    ok = max_abs <= atol + rtol * scale
    return Comparison(name, reference.shape, max_abs, max_rel, _cosine(ref, got, finite), _top1(reference, computed), ok)


def fingerprint(array: np.ndarray) -> bytes:
    """A digest of the values and shape: equal for arrays `np.array_equal(..., equal_nan=True)` finds equal when
    both are integers (or booleans) or both floats; -0.0 is 0.0 and every NaN the same NaN."""
    array = np.asarray(array)
    floats = array.dtype.kind == "f"
    digest = hashlib.sha256(repr((floats, array.shape)).encode())
    flat = array.reshape(-1)
    for start in range(0, flat.size, FINGERPRINT_CHUNK):  # a chunk at a time: no full-size copy
        chunk = _canonical(flat[start:start + FINGERPRINT_CHUNK], floats)
        digest.update(chunk.dtype.str.encode())
        digest.update(chunk.data)
    return digest.digest()


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `fingerprint` gives `a` and `b` one digest, found without hashing: one shape, both integers (or
    booleans) or both floats, equal values with -0.0 equal to 0.0 and NaN to NaN."""
    a, b = np.asarray(a), np.asarray(b)
    floats = a.dtype.kind == "f"
    if floats != (b.dtype.kind == "f") or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=floats))


def _canonical(values: np.ndarray, floats: bool) -> np.ndarray:
    """The same bytes for the same values, few of them: floats in float32 when that holds them exactly, with one
    zero and one NaN; integers in the narrowest type that holds them."""
    if floats:
        narrow = values.astype(np.float32)
        wide = narrow if np.array_equal(narrow, values, equal_nan=True) else values.astype(np.float64)
        return np.where(np.isnan(wide), wide.dtype.type(np.nan), wide + wide.dtype.type(0))
    low, high = int(values.min()), int(values.max())
    for dtype, (smallest, largest) in _INTEGER_BOUNDS:
        if smallest <= low and high <= largest:
            return values.astype(dtype, copy=False)
    return values.astype(np.int64, copy=False)


_INTEGER_BOUNDS = [(t, (int(np.iinfo(t).min), int(np.iinfo(t).max)))
                   for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32)]


def _cosine(a: np.ndarray, b: np.ndarray, finite: bool) -> float:
    """Over the entries where both are finite (`finite`: all of them)."""
    if not finite:
        finite_values = np.isfinite(a) & np.isfinite(b)
        a, b = a[finite_values], b[finite_values]
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms == 0:
        return 1.0 if not a.any() and not b.any() else 0.0
    return float(np.dot(a, b) / norms)


def _top1(reference: np.ndarray, computed: np.ndarray) -> tuple[int, int] | None:
    if reference.ndim != 2 or reference.shape[1] < 2 or reference.dtype.kind != "f":
        return None
    agree = int((reference.argmax(axis=1) == computed.argmax(axis=1)).sum())
    return agree, reference.shape[0]

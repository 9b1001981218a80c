"""`fingerprint` stands in for `np.array_equal(a, b, equal_nan=True)` between two integer or two float tensors, and
`same_values` finds directly what it finds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.interp.compare import FINGERPRINT_CHUNK, fingerprint, same_values

INTEGERS = ["int8", "uint8", "int16", "int32", "int64", "bool"]
FLOATS = ["float16", "float32", "float64"]

cases = st.fixed_dictionaries({
    "shape": st.lists(st.integers(0, 5), min_size=0, max_size=3), "floats": st.booleans(),
    "first": st.integers(0, 5), "second": st.integers(0, 5), "change": st.sampled_from(["none", "value", "shape"]),
    "specials": st.booleans(), "seed": st.integers(0, 2**16),
})


@settings(max_examples=300, deadline=None)
@given(cases)
def test_equal_fingerprints_are_equal_arrays(case):
    rng = np.random.default_rng(case["seed"])
    kinds = FLOATS if case["floats"] else INTEGERS
    first, second = kinds[case["first"] % len(kinds)], kinds[case["second"] % len(kinds)]
    a = rng.integers(0, 2 if first == "bool" or second == "bool" else 100, case["shape"]).astype(first)
    if case["floats"] and case["specials"] and a.size:
        a.flat[rng.integers(a.size)] = rng.choice([np.nan, -0.0, np.inf])
    b = a.astype(second)
    if case["change"] == "value" and b.size:
        b.flat[rng.integers(b.size)] = 1 - b.flat[rng.integers(b.size)] if second == "bool" else b.flat[0] + 1
    if case["change"] == "shape":
        b = b.reshape(-1)
    if case["floats"] and case["specials"]:
        b = np.where(b == 0, -b, b)  # -0.0 for 0.0: equal values
    assert (fingerprint(a) == fingerprint(b)) == (np.array_equal(a, b, equal_nan=True) and a.shape == b.shape)
    assert same_values(a, b) == (fingerprint(a) == fingerprint(b))


def test_integers_and_floats_of_equal_values_differ_both_ways():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    for b in (a.astype(np.float32), a.astype(np.float64)):
        assert fingerprint(a) != fingerprint(b) and not same_values(a, b) and not same_values(b, a)
    assert same_values(a, a.astype(np.int64)) and same_values(a.astype(np.float32), a.astype(np.float64))


def test_a_change_in_any_chunk_of_a_large_tensor_changes_the_fingerprint():
    a = np.arange(2 * FINGERPRINT_CHUNK + 3, dtype=np.int32)
    for index in (0, FINGERPRINT_CHUNK, a.size - 1):
        b = a.copy()
        b[index] += 1
        assert fingerprint(b) != fingerprint(a)
    assert fingerprint(a) == fingerprint(a.astype(np.int64)) == fingerprint(a[::-1].copy()[::-1])

"""The 8-bit integer kernel's products (pimc.interp.integer_products) against int64 arithmetic, by hypothesis.

Inputs reach the extremes that saturate an int16 pair on kernels without VNNI (255 * 127 + 255 * 127), so
the split into seven bits and a top bit is what keeps them exact there; on any machine they must equal the
int64 product.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.interp.integer_products import MODEL, as_int8, byte_products, small_products

cases = st.fixed_dictionaries({
    "vectors": st.integers(1, 40), "rows": st.integers(1, 600), "columns": st.integers(1, 40),
    "largest_input": st.sampled_from([1, 127, 128, 255]), "extremes": st.booleans(), "seed": st.integers(0, 2**16),
    "top_columns": st.sampled_from([None, 0.1, 0.4]),  # None: wherever the values fall; else this share has top bits
})


def draw(case: dict) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(case["seed"])
    x = rng.integers(0, case["largest_input"] + 1, (case["vectors"], case["rows"]))
    w = rng.integers(-128, 128, (case["rows"], case["columns"]))
    if case["extremes"]:  # every pair at the largest magnitude either sign reaches
        x[:] = case["largest_input"]
        w[:, ::2], w[:, 1::2] = 127, -128
    if case["top_columns"] and case["largest_input"] > 127:  # top bits in a few columns: a product over those alone
        x &= 127
        columns = rng.random(case["rows"]) < case["top_columns"]
        x[:, columns] |= 128 * rng.integers(0, 2, (case["vectors"], int(columns.sum())))
    return x.astype(np.uint8), w.astype(np.int8)


@settings(max_examples=200, deadline=None)
@given(cases)
def test_byte_products_are_exact(case):
    x, w = draw(case)
    expected = x.astype(np.int64) @ w.astype(np.int64)
    got = byte_products(x, w)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=100, deadline=None)
@given(cases)
def test_small_products_are_exact_below_128(case):
    x, w = draw(case)
    x = np.minimum(x, 127)
    np.testing.assert_array_equal(small_products(x, w), x.astype(np.int64) @ w.astype(np.int64))


@settings(max_examples=100, deadline=None)
@given(cases, st.sampled_from(["uint8", "int64", "int16"]), st.sampled_from(["exact_product", "kernel_product"]))
def test_the_interpreters_mvm_products_are_exact_in_any_type(case, dtype, name):
    """exact_product (the reference's, BLAS) and kernel_product (the integer kernel for bytes times int8, else
    BLAS): int64 either way."""
    from pimc.interp import xbar_ops

    x, w = draw(case)
    got = getattr(xbar_ops, name)(x.astype(dtype), w)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, x.astype(np.int64) @ w.astype(np.int64))


def test_byte_products_of_a_strided_view():
    """A crossbar reads a window of its buffer's columns: a view that is not contiguous."""
    buffer = np.arange(6 * 300).reshape(6, 300).astype(np.uint8)
    w = np.resize(np.arange(-128, 128), (100, 7)).astype(np.int8)
    view = buffer[1:5, 150:250]
    np.testing.assert_array_equal(byte_products(view, w), view.astype(np.int64) @ w.astype(np.int64))


def test_as_int8_takes_exactly_the_int8_range():
    assert as_int8(np.array([[-128, 127]])).dtype == np.int8
    assert as_int8(np.array([[-129, 0]])) is None
    assert as_int8(np.array([[0, 128]])) is None
    assert as_int8(np.zeros((0, 3), np.int64)).shape == (0, 3)


def test_the_integer_kernels_model_is_matmulinteger():
    """The serialized model is MatMulInteger(uint8 P x K, int8 K x C) -> int32 P x C."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "small_products",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, ["P", "K"]),
         helper.make_tensor_value_info("b", TensorProto.INT8, ["K", "C"])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["P", "C"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7, producer_name="pimc")
    assert model.SerializeToString() == MODEL

"""onnxruntime sessions of ModelProtos: large initializers go beside the serialized graph, and nothing changes."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from pimc.runtime import make_session, run, weights_apart


def _model(dtype: np.dtype, raw: bool):
    """y = Reshape(x @ w, shape) + c: w (64 x 32, over a kilobyte), the small shape and c read as they are."""
    rng = np.random.default_rng(0)
    w = rng.integers(-3, 4, (64, 32)).astype(dtype)
    c = np.arange(4, dtype=dtype)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    weight = numpy_helper.from_array(w, "w")
    if not raw:  # the same values as typed fields, which stay in the graph
        weight = helper.make_tensor("w", elem, w.shape, w.ravel().tolist())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["p"]), helper.make_node("Reshape", ["p", "shape"], ["r"]),
         helper.make_node("Add", ["r", "c"], ["y"])],
        "g", [helper.make_tensor_value_info("x", elem, [2, 64])], [helper.make_tensor_value_info("y", elem, [16, 4])],
        [weight, numpy_helper.from_array(np.array([16, 4], np.int64), "shape"), numpy_helper.from_array(c, "c")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("raw", [True, False])
def test_session_of_a_proto_computes_as_its_bytes_and_leaves_it_as_it_was(dtype, raw):
    model = _model(dtype, raw)
    before = model.SerializeToString()
    x = np.random.default_rng(1).integers(-5, 6, (2, 64)).astype(dtype)
    (beside,) = run(make_session(model), ["y"], {"x": x})
    (parsed,) = run(make_session(before), ["y"], {"x": x})
    assert model.SerializeToString() == before
    assert beside.dtype == parsed.dtype and np.array_equal(beside, parsed)
    assert np.array_equal(beside, (x @ numpy_helper.to_array(model.graph.initializer[0])).reshape(16, 4) + np.arange(4))


def test_a_rejected_proto_is_left_as_it_was():
    model = _model(np.float32, True)
    model.graph.node[0].op_type = "NoSuchOp"
    before = model.SerializeToString()
    with pytest.raises(Exception, match="onnxruntime cannot run the model"):
        make_session(model)
    assert model.SerializeToString() == before
    assert model.graph.initializer[0].data_location == TensorProto.DEFAULT


def test_a_session_that_keeps_nothing_of_the_proto_computes_the_same():
    model = _model(np.float32, True)
    x = np.random.default_rng(2).integers(-5, 6, (2, 64)).astype(np.float32)
    (kept,) = run(make_session(model.SerializeToString()), ["y"], {"x": x})
    (used_up,) = run(make_session(model, keep=False), ["y"], {"x": x})
    assert np.array_equal(kept, used_up)


@pytest.mark.parametrize("raw", [True, False])
def test_weights_apart_leave_a_graph_that_computes_the_same_with_them(raw):
    """The large raw initializer leaves the graph for the arrays; the small ones and typed fields stay in it."""
    model = _model(np.float32, raw)
    x = np.random.default_rng(3).integers(-5, 6, (2, 64)).astype(np.float32)
    before = model.SerializeToString()
    (whole,) = run(make_session(before), ["y"], {"x": x})
    graph, arrays = weights_apart(model)
    assert sorted(arrays) == (["w"] if raw else [])
    assert len(graph.SerializeToString()) < 1024 if raw else graph.SerializeToString() == before
    (apart,) = run(make_session(graph, arrays=arrays), ["y"], {"x": x})
    assert np.array_equal(whole, apart)

"""onnxruntime, pimc's reference: the one module that imports it, makes sessions and runs them.

    outputs = run_model(model, feeds, intermediate_names(model, recorded))   # outputs and intermediates by name
    session = make_session(model); run(session, ["y"], {"x": x})

A model onnxruntime rejects, or a run it fails, is a one-line error.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import numpy as np

from pimc.diagnostics import Diagnostic, DiagnosticError
from pimc.frontend.load import first_line
from pimc.signals import held_signals


def onnxruntime():
    """The onnxruntime module, imported here and nowhere else in pimc."""
    with held_signals():  # a Ctrl-C inside the extension's import becomes an ImportError and a broken module
        import onnxruntime

    return onnxruntime


def make_session(model, threads: int | None = None, keep: bool = True, arrays: dict[str, np.ndarray] | None = None):
    """A CPU session of `model` (a ModelProto or its bytes), quiet (on `threads` intra-op threads if given). A
    ModelProto's weights go to onnxruntime beside its graph (`_initializers_beside`); with `keep=False`, for a
    caller done with the model, they are not put back into it (putting back copies them once more). `arrays` hold
    the data of the initializers the model has "in memory" (`QdqExporter.model(beside=True)`), by name."""
    ort = onnxruntime()
    ort.set_default_logger_severity(4)  # only fatal: an error is raised as well as logged
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        if isinstance(model, bytes):
            return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        with _initializers_beside(model, options, ort, keep, arrays or {}):
            return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as failure:  # onnxruntime raises its own exception types
        raise _error(failure) from None


@contextmanager
def _initializers_beside(model, options, ort, keep: bool, arrays: dict[str, np.ndarray]):
    """While the session is made, the model's initializers of a kilobyte or more stored as raw little-endian data of
    a numpy type are external data that `options` hands onnxruntime as arrays (`_moved_out`): the graph is
    serialized without their bytes, and onnxruntime copies each array once instead of parsing it (ResNet-50's
    100 MB: 0.23 s to 0.05 s). The model is as it was afterwards, or, without `keep`, lacks those initializers'
    data. Those the model has "in memory" already are handed over from `arrays`, not copied at all."""
    given = {t.name: arrays[t.name] for t in model.graph.initializer if t.HasField("data_location") and t.name in arrays}
    moved = _moved_out(model)
    values = {name: ort.OrtValue.ortvalue_from_numpy(array) for name, array in given.items()}
    values.update((tensor.name, ort.OrtValue.ortvalue_from_numpy(array)) for tensor, _, array in moved)
    try:
        if values:
            options.add_external_initializers(list(values), list(values.values()))
        yield
    finally:
        for tensor, raw, _ in moved if keep else ():
            del tensor.external_data[:]
            tensor.ClearField("data_location")
            tensor.raw_data = raw


def weights_apart(model) -> tuple[Any, dict[str, np.ndarray]]:
    """The graph of `model` with its initializers of a kilobyte or more "in memory", and their arrays by name, for
    `make_session(graph, arrays=arrays)`. `model` is left without their data, but its protobuf keeps their bytes
    until it goes: a caller that lets it go first (`weights_apart(load_inlined(path))`) holds the weights once,
    not twice, when onnxruntime copies them (VGG-16's 527 MB)."""
    moved = _moved_out(model)
    graph = type(model)()
    graph.CopyFrom(model)
    return graph, {tensor.name: array for tensor, _, array in moved}


def _moved_out(model) -> list[tuple[Any, bytes, np.ndarray]]:
    """(initializer, its bytes, their array) of each initializer of a kilobyte or more stored as raw little-endian
    data of a numpy type, which is left as external data "in memory". Its bytes are a copy: protobuf gives no
    view of them."""
    from onnx import TensorProto, helper

    plain = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BOOL, TensorProto.INT8,
             TensorProto.UINT8, TensorProto.INT16, TensorProto.UINT16, TensorProto.INT32, TensorProto.UINT32,
             TensorProto.INT64, TensorProto.UINT64}  # not bfloat16, the 8-bit floats or 4-bit integers
    moved = []
    for tensor in model.graph.initializer:
        if tensor.data_type not in plain or not tensor.HasField("raw_data") or tensor.HasField("data_location"):
            continue
        raw = tensor.raw_data
        if len(raw) < 1024:  # shape inference reads small ones, such as a Reshape's shape, from the graph
            continue
        array = np.frombuffer(raw, helper.tensor_dtype_to_np_dtype(tensor.data_type).newbyteorder("<"))
        moved.append((tensor, raw, array.reshape(tuple(tensor.dims))))
        tensor.ClearField("raw_data")
        mark_in_memory(tensor)
    return moved


def mark_in_memory(tensor) -> None:
    """Mark an initializer's data as external, "in memory": `make_session` hands onnxruntime its array beside the
    graph."""
    from onnx import TensorProto

    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="memory")


def run(session, names: list[str], feeds: dict) -> list[np.ndarray]:
    """The arrays `names` that `session` computes from `feeds`."""
    try:
        return session.run(names, feeds)
    except Exception as failure:  # onnxruntime raises its own exception types
        raise _error(failure) from None


def run_model(model, feeds: dict, extra: list[tuple[str, str]], arrays: dict[str, np.ndarray] | None = None
              ) -> dict[str, np.ndarray]:
    """The model's outputs and the `extra` (node, tensor) intermediates, typed as onnxruntime infers them. The model
    is used up: the intermediates become its outputs, and its weights go to the session, not back into it. `arrays`:
    the weights of a model `weights_apart` gave."""
    from onnx import helper

    model.graph.output.extend(helper.make_empty_tensor_value_info(tensor) for _, tensor in extra)
    session = make_session(model, keep=False, arrays=arrays)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, run(session, names, feeds)))


def intermediate_names(model, recorded: dict) -> list[tuple[str, str]]:
    """(node name, tensor) for every node output pimc also computed, in node order."""
    outputs = {o.name for o in model.graph.output}
    found = []
    for index, node in enumerate(model.graph.node):
        for tensor in node.output:
            if tensor and tensor in recorded and tensor not in outputs:
                found.append((node.name or f"{node.op_type}_{index}", tensor))
    return found


def _error(failure: Exception) -> DiagnosticError:
    return DiagnosticError(Diagnostic(f"onnxruntime cannot run the model: {first_line(failure)}"))

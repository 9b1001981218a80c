"""onnxruntime, pimc's reference: the one module that imports it, makes sessions and runs them.

    outputs = run_model(model, feeds, intermediate_names(model, recorded))   # outputs and intermediates by name
    session = make_session(model); run(session, ["y"], {"x": x})

A model onnxruntime rejects, or a run it fails, is a one-line error.
"""

from __future__ import annotations

import numpy as np

from pimc.diagnostics import Diagnostic, DiagnosticError
from pimc.frontend.load import first_line
from pimc.signals import held_signals


def onnxruntime():
    """The onnxruntime module, imported here and nowhere else in pimc."""
    with held_signals():  # a Ctrl-C inside the extension's import becomes an ImportError and a broken module
        import onnxruntime

    return onnxruntime


def make_session(model, threads: int | None = None):
    """A CPU session of `model` (a ModelProto or its bytes), quiet (on `threads` intra-op threads if given)."""
    ort = onnxruntime()
    ort.set_default_logger_severity(4)  # only fatal: an error is raised as well as logged
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        serialized = model if isinstance(model, bytes) else model.SerializeToString()
        return ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
    except Exception as failure:  # onnxruntime raises its own exception types
        raise _error(failure) from None


def run(session, names: list[str], feeds: dict) -> list[np.ndarray]:
    """The arrays `names` that `session` computes from `feeds`."""
    try:
        return session.run(names, feeds)
    except Exception as failure:  # onnxruntime raises its own exception types
        raise _error(failure) from None


def run_model(model, feeds: dict, extra: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """The model's outputs and the `extra` (node, tensor) intermediates, typed as onnxruntime infers them."""
    from onnx import helper

    model.graph.output.extend(helper.make_empty_tensor_value_info(tensor) for _, tensor in extra)
    session = make_session(model)
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

"""Calibration: the smallest and largest value every float tensor of a function takes on sample inputs.

    ranges = observed_ranges(module, func, [[x0], [x1]], wanted)     # {value: [low, high]} for the wanted values

The function is exported back to ONNX (`pimc.export_qdq`) with every float tensor as an output
and run in onnxruntime, which is ten to thirty times faster than pimc's float64 interpreter on
ImageNet-sized networks; a module the exporter cannot write is run in the interpreter instead.
Both give the same ranges up to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pimc.diagnostics import UserError
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp
from pimc.interp.interpreter import Interpreter
from pimc.ir.core import Value

Ranges = dict[Value, list[float]]


def observed_ranges(module: ModuleOp, func: FuncOp, samples: Sequence[Sequence[np.ndarray]], wanted: set[Value]) -> Ranges:
    """The [low, high] of every wanted float value over `samples` (one list of arrays per call of `func`).

    Asking onnxruntime for fewer tensors lets it fuse more (a conv with the ReLU after it)."""
    ranges: Ranges = {}

    def observe(value: Value, array: np.ndarray) -> None:
        if value not in wanted or array.dtype.kind != "f" or array.size == 0:
            return
        low, high = float(array.min()), float(array.max())
        seen = ranges.setdefault(value, [low, high])
        seen[0], seen[1] = min(seen[0], low), max(seen[1], high)

    run = _onnxruntime_runner(module, func, observe, wanted) or _interpreter_runner(module, func, observe)
    for inputs in samples:
        for arg, array in zip(func.arguments, inputs):
            observe(arg, array)
        run(inputs)
    return ranges


def _interpreter_runner(module: ModuleOp, func: FuncOp, observe):
    interpreter = Interpreter(module, record=False, observer=observe)
    return lambda inputs: interpreter.run(inputs, func.sym_name)


def _onnxruntime_runner(module: ModuleOp, func: FuncOp, observe, wanted: set[Value]):
    """A function that runs `func` in onnxruntime and observes every float tensor; None if it cannot be exported."""
    from pimc.commands.verify import onnxruntime_session, run_session
    from pimc.export_qdq import QdqExporter, onnx_type
    from pimc.frontend.types import value_info

    if len(module.funcs()) != 1:
        return None
    exporter = QdqExporter(module)
    try:
        model = exporter.model()
    except UserError:
        return None
    returned = {o.name for o in model.graph.output}
    watched = {name: value for value, name in exporter.names.items() if value in wanted and value not in func.arguments}
    model.graph.output.extend(value_info(name, onnx_type(v.type)) for name, v in watched.items() if name not in returned)
    try:
        session = onnxruntime_session(model)
    except Exception:  # a graph onnxruntime rejects: the interpreter runs everything pimc has
        return None
    names = [o.name for o in session.get_outputs()]
    inputs = [exporter.names[arg] for arg in func.arguments]

    def run(arrays: Sequence[np.ndarray]) -> None:
        for name, array in zip(names, run_session(session, names, dict(zip(inputs, arrays)))):
            if name in watched:
                observe(watched[name], array)

    return run

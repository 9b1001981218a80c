"""Calibration: the smallest and largest value every float tensor of a function takes on sample inputs.

    samples = calibration_inputs(func, "calib.npz", 16, seed=0, who="quantize")   # one list of arrays per call
    ranges = observed_ranges(module, func, samples, wanted)     # {value: [low, high]} for the wanted values

The function is exported back to ONNX (`pimc.export_qdq`) and run in onnxruntime, which is ten to
thirty times faster than pimc's float64 interpreter on ImageNet-sized networks. The exported graph
computes each wanted tensor's ReduceMin and ReduceMax and returns only those scalars, so nothing
larger than a scalar leaves onnxruntime, and nodes that no wanted tensor needs are pruned. A module
the exporter cannot write is run in the interpreter instead. Both give the same ranges up to float32
rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pimc import runtime
from pimc.diagnostics import Diagnostic, DiagnosticError, UserError
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp
from pimc.interp.interpreter import Interpreter
from pimc.ir.core import Value
from pimc.ir.types import TensorType

Ranges = dict[Value, list[float]]
Observe = Callable[[Value, float, float], None]


def calibration_inputs(func: FuncOp, calib: str, samples: int, seed: int, who: str) -> list[list[np.ndarray]]:
    """Up to `samples` argument lists for `func`: consecutive batches of the .npz `calib` (an array per argument
    name, or `x` or its only array for a one-argument function; one that holds less than a batch makes one batch,
    its samples repeated), else seeded standard normal values. Errors name the pass `who` that reads them."""
    shapes = [arg.type.shape for arg in func.arguments]
    if not calib:
        rng = np.random.default_rng(seed)
        return [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(samples)]
    try:
        data = np.load(calib)
    except (OSError, ValueError) as error:
        raise DiagnosticError(Diagnostic(f"{who}: cannot read calibration inputs '{calib}': {error}")) from None
    if not hasattr(data, "files"):
        raise DiagnosticError(Diagnostic(f"{who}: cannot read calibration inputs '{calib}': not an .npz archive"))
    arrays = []
    for arg in func.arguments:
        name = arg.name_hint or ""
        lone = len(func.arguments) == 1 and ("x" in data.files or len(data.files) == 1)
        if name not in data.files and not lone:
            raise DiagnosticError(Diagnostic(f"{who}: the calibration file has no array for input '{name}' "
                                             f"({', '.join(data.files)})"))
        array = data[name if name in data.files else "x" if "x" in data.files else data.files[0]]
        if array.shape[1:] != arg.type.shape[1:] or not len(array):
            raise DiagnosticError(Diagnostic(f"{who}: the calibration array for input '{name}' has shape "
                                             f"{array.shape}, which holds no batch of {arg.type}"))
        if len(array) < arg.type.shape[0]:  # fewer samples than a batch: one batch of them, repeated (same ranges)
            array = np.resize(array, (arg.type.shape[0], *array.shape[1:]))
        arrays.append(array)
    batch = [s[0] for s in shapes]
    count = min(samples, *(len(a) // b for a, b in zip(arrays, batch)))
    return [[a[i * b : (i + 1) * b].astype(np.float32) for a, b in zip(arrays, batch)] for i in range(count)]


def observed_ranges(module: ModuleOp, func: FuncOp, samples: Sequence[Sequence[np.ndarray]], wanted: set[Value]) -> Ranges:
    """The [low, high] of every wanted float value over `samples` (one list of arrays per call of `func`).

    Asking onnxruntime for fewer tensors lets it fuse more (a conv with the ReLU after it)."""
    ranges: Ranges = {}

    def observe(value: Value, low: float, high: float) -> None:
        seen = ranges.setdefault(value, [low, high])
        seen[0], seen[1] = min(seen[0], low), max(seen[1], high)

    def observe_array(value: Value, array: np.ndarray) -> None:
        if value in wanted and array.dtype.kind == "f" and array.size:
            observe(value, float(array.min()), float(array.max()))

    for inputs in samples:
        for arg, array in zip(func.arguments, inputs):
            observe_array(arg, array)
    inner = {v for v in wanted if v not in func.arguments and isinstance(v.type, TensorType) and v.type.element.is_float}
    if not inner or not samples:
        return ranges
    run = _onnxruntime_runner(module, func, inner, observe) or _interpreter_runner(module, func, observe_array)
    for inputs in samples:
        run(inputs)
    return ranges


def _interpreter_runner(module: ModuleOp, func: FuncOp, observe_array: Callable[[Value, np.ndarray], None]):
    interpreter = Interpreter(module, record=False, observer=observe_array)
    return lambda inputs: interpreter.run(inputs, func.sym_name)


def _onnxruntime_runner(module: ModuleOp, func: FuncOp, inner: set[Value], observe: Observe):
    """A function that runs `func` in onnxruntime and observes the range of each of `inner`; None if it cannot
    be exported or onnxruntime rejects the graph."""
    from onnx import helper

    from pimc.export_qdq import onnx_type
    from pimc.frontend.types import value_info

    exported = _exported(module)
    if exported is None:
        return None
    model, exporter = exported
    graph = model.graph
    del graph.output[:]  # only the ranges are returned: onnxruntime prunes what they do not need
    observed: list[Value] = []
    names: list[str] = []  # the low and high of each observed value, in turn
    for value, tensor in exporter.names.items():
        if value in inner:
            for reduce in ("ReduceMin", "ReduceMax"):
                names.append(exporter.fresh(f"{tensor}_{reduce}"))
                graph.node.append(helper.make_node(reduce, [tensor], [names[-1]], name=names[-1], keepdims=0))
                graph.output.append(value_info(names[-1], onnx_type(TensorType((), value.type.element))))
            observed.append(value)
    session = _session(model, exporter.arrays)
    del model, graph
    if session is None:
        return None
    inputs = [exporter.names[arg] for arg in func.arguments]

    def run(arrays: Sequence[np.ndarray]) -> None:
        results = runtime.run(session, names, dict(zip(inputs, arrays)))
        for value, low, high in zip(observed, results[::2], results[1::2]):
            if low <= high:  # an empty tensor reduces to (+inf, -inf)
                observe(value, float(low), float(high))

    return run


class Trials:
    """`func` run on sample inputs with some nn.weight arrays replaced, by ref, as design searches need.

        trials = Trials(module, func, {"w1"})
        outputs = trials.run(sample, {"w1": folded})        # the other weights are the module's
        outputs, seen = trials.observe(sample, [value])      # and the arrays of `value`s, unreplaced

    onnxruntime runs it, with the replaceable weights as graph inputs; a module it cannot export runs in
    pimc's interpreter instead.
    """

    def __init__(self, module: ModuleOp, func: FuncOp, refs: set[str]) -> None:
        self.module, self.func = module, func
        self.exported = _exported_with_weight_inputs(module, refs)
        self.session = None if self.exported is None else _session(self.exported[0], self.exported[1].arrays)
        self._observer = None  # (the observed tensors' names, the session that returns them too)

    def run(self, inputs: Sequence[np.ndarray], replaced: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self.session is None:
            return _TrialInterpreter(self.module, replaced).run(inputs, self.func.sym_name)
        outputs = [output.name for output in self.exported[0].graph.output]
        return runtime.run(self.session, outputs, self._feeds(inputs, replaced))

    def observe(self, inputs: Sequence[np.ndarray], values: Sequence[Value]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The outputs with no weight replaced, and the array of each of `values`."""
        if self.session is None:
            seen: dict[Value, np.ndarray] = {}
            wanted = set(values)

            def keep(value: Value, array: np.ndarray) -> None:
                if value in wanted:
                    seen[value] = array

            outputs = Interpreter(self.module, record=False, observer=keep).run(inputs, self.func.sym_name)
            return outputs, [seen[v] for v in values]
        from pimc.export_qdq import onnx_type
        from pimc.frontend.types import value_info

        model, exporter, _ = self.exported
        results = [output.name for output in model.graph.output]
        names = [exporter.names[v] for v in values]
        if self._observer is None or self._observer[0] != names:
            observer = type(model)()
            observer.CopyFrom(model)
            observer.graph.output.extend(value_info(n, onnx_type(v.type)) for n, v in zip(names, values) if n not in results)
            self._observer = (names, runtime.make_session(observer, arrays=exporter.arrays))
        arrays = runtime.run(self._observer[1], [*results, *names], self._feeds(inputs, {}))
        return arrays[: len(results)], arrays[len(results) :]

    def _feeds(self, inputs: Sequence[np.ndarray], replaced: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The session's inputs: the function's arguments, and every replaceable weight, replaced or not."""
        _, exporter, weights = self.exported
        feeds = dict(zip((exporter.names[arg] for arg in self.func.arguments), inputs))
        feeds.update({name: replaced.get(ref, self.module.weights[ref]) for ref, name in weights.items()})
        return feeds


def _exported(module: ModuleOp):
    """(the ONNX model of the module's one function, its exporter), or None if it cannot be exported."""
    from pimc.export_qdq import QdqExporter

    if len(module.funcs()) != 1:
        return None
    exporter = QdqExporter(module)
    try:
        return exporter.model(beside=True), exporter  # the weights stay the exporter's arrays, not copied
    except UserError:
        return None


def _exported_with_weight_inputs(module: ModuleOp, refs: set[str]):
    """(model, exporter, {ref: graph input}) with the initializers of `refs` turned into graph inputs; None if
    the module cannot be exported with each of them as an initializer."""
    from onnx import helper

    from pimc.dialects.nn_conv import WeightOp

    exported = _exported(module)
    if exported is None:
        return None
    model, exporter = exported
    inputs = {exporter.names[op.results[0]]: op.ref for op in module.walk()
              if isinstance(op, WeightOp) and op.ref in refs and op.results[0] in exporter.names}
    weights = {ref: name for name, ref in inputs.items()}
    if weights.keys() != refs:  # a weight the export folds (an epitome, materialised): only the interpreter replaces it
        return None
    kept = [tensor for tensor in model.graph.initializer if tensor.name not in inputs]
    model.graph.input.extend(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
                             for tensor in model.graph.initializer if tensor.name in inputs)
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return model, exporter, weights


def _session(model, arrays: dict[str, np.ndarray]):
    try:
        return runtime.make_session(model, arrays=arrays)
    except Exception:  # a graph onnxruntime rejects: the interpreter runs everything pimc has
        return None


class _TrialInterpreter(Interpreter):
    """pimc's interpreter with some weights, by ref, replaced."""

    def __init__(self, module: ModuleOp, replaced: dict[str, np.ndarray]) -> None:
        super().__init__(module, record=False)
        self.replaced = replaced

    def weight(self, ref: str) -> np.ndarray:
        return self.replaced[ref] if ref in self.replaced else super().weight(ref)

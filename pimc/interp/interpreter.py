"""The reference interpreter: runs a function on numpy arrays, one registered implementation per op class.

    outputs = Interpreter(module).run([x])        # .values: every array of the run, by name hint
    for value, array in Interpreter(module, record=False).stepwise([x]): ...   # the same, a value at a time

Implementations are registered in `pimc.interp.registry` by the dialects' op modules (`nn_ops`, `q_ops`, ...),
which this module imports. The interpreter casts each result to its element type, checks its shape against
the result type, and records it under the value's name hint.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import numpy as np

from pimc.diagnostics import Diagnostic, DiagnosticError, op_error
from pimc.dialects import snn
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp, ReturnOp
from pimc.interp import ep_ops, mlg_ops, nn_ops, nn_tensor, onnx_ops, q_ops, snn_ops, xbar_ops  # noqa: F401  (they register implementations)
from pimc.interp.registry import implementation
from pimc.ir.core import Operation, Value

Computed = tuple[Value, np.ndarray]  # a value and its array


class Interpreter:
    """Runs functions of one module; `values` maps name hints to the arrays of the last run.

    An `observer`, if given, sees every value computed, as calibration needs. `products` computes each
    xbar.mvm's exact integer product (the reference's own, `exact_product`, by default).
    """

    def __init__(
        self, module: ModuleOp, record: bool = True, observer: Callable[[Value, np.ndarray], None] | None = None,
        products: Callable[[np.ndarray, np.ndarray], np.ndarray] = xbar_ops.exact_product,
    ) -> None:
        self.module = module
        self.record = record
        self.observer = observer
        self.products = products
        self.values: dict[str, np.ndarray] = {}
        self.cache: dict[Operation, object] = {}

    def run(self, inputs: Sequence[np.ndarray], func_name: str = "main") -> list[np.ndarray]:
        """The results of `func_name` on `inputs`, which must match its argument types."""
        steps = self.stepwise(inputs, func_name)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    def stepwise(self, inputs: Sequence[np.ndarray], func_name: str = "main") -> Generator[Computed, None, list[np.ndarray]]:
        """`run`, one value at a time: yields each value and its array as they are computed, in order (the
        observer has seen them), and returns the results."""
        func = self._func(func_name)
        if len(inputs) != len(func.arguments):
            raise _error(f"@{func_name} takes {len(func.arguments)} inputs, but {len(inputs)} were given")
        env: dict[Value, np.ndarray] = {}
        for arg, array in zip(func.arguments, inputs):
            array = np.asarray(array)
            if array.shape != arg.type.shape:
                raise _error(f"input '{arg.name_hint}' has shape {array.shape}, but @{func_name} expects {arg.type}")
            self._store(env, arg, array.astype(arg.type.element.numpy_dtype(), copy=False))
            yield arg, env[arg]
        ops = list(func.body.ops)
        last_use = {v: index for index, op in enumerate(ops) for v in op.operands}
        for index, op in enumerate(ops):
            if isinstance(op, ReturnOp):
                return [env[v] for v in op.operands]
            self._step(op, env)
            yield from ((result, env[result]) for result in op.results)
            for value in op.operands:  # only live values stay: memory of the widest point, not of every layer
                if last_use[value] == index:
                    env.pop(value, None)
        raise _error(f"@{func_name} has no func.return")

    def _func(self, name: str) -> FuncOp:
        for func in self.module.funcs():
            if func.sym_name == name:
                return func
        raise _error(f"the module has no function @{name}")

    def _step(self, op: Operation, env: dict[Value, np.ndarray]) -> None:
        for result, array in zip(op.results, evaluate(self, op, [env[v] for v in op.operands])):
            self._store(env, result, array)

    def _store(self, env: dict[Value, np.ndarray], value: Value, array: np.ndarray) -> None:
        env[value] = array
        if self.observer is not None:
            self.observer(value, array)
        if self.record and value.name_hint:
            self.values[value.name_hint] = array

    def weight(self, ref: str) -> np.ndarray:
        return self.module.weights[ref]


def evaluate(interp, op: Operation, operands: Sequence[np.ndarray]) -> list[np.ndarray]:
    """`op`'s results on `operands`, each cast to its result type; `interp` gives weights and a cache."""
    function = implementation(type(op))
    if function is None:
        raise op_error(op, "has no interpreter implementation")
    with np.errstate(all="ignore"):
        produced = function(interp, op, *operands)
    arrays = produced if isinstance(produced, (list, tuple)) else (produced,)
    results = []
    for result, array in zip(op.results, arrays):
        array = np.asarray(array).astype(_numpy_dtype(result.type.element), copy=False)
        if array.shape != result.type.shape:
            raise op_error(op, f"computed shape {array.shape}, but its result type is {result.type}")
        results.append(array)
    return results


_DTYPES: dict[str, np.dtype] = {}  # element type name -> numpy dtype


def _numpy_dtype(element) -> np.dtype:
    if element.name not in _DTYPES:
        _DTYPES[element.name] = element.numpy_dtype()
    return _DTYPES[element.name]


def run_timesteps(module, events: np.ndarray, observer: Callable | None = None) -> np.ndarray:
    """The outputs of `module`'s @main summed over the T timesteps of `events` (T x input shape), from rest; a
    readout (snn.integrate) result is its membrane after the last timestep.

    `observer(t, interp)`, if given, sees the interpreter after each timestep (its `values` by name)."""
    interp = Interpreter(module, record=observer is not None)
    main = next(f for f in module.funcs() if f.sym_name == "main")
    returned = list(main.body.ops)[-1].operands[0]
    readout = isinstance(getattr(returned, "op", None), snn.IntegrateOp)
    total = 0
    for t, frame in enumerate(events):
        (out,) = interp.run([frame])
        total = out if readout else total + out.astype(np.float64)
        if observer is not None:
            observer(t, interp)
    return np.asarray(total)


def _error(message: str) -> DiagnosticError:
    return DiagnosticError(Diagnostic(message))

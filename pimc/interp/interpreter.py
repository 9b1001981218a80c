"""The reference interpreter: runs a function on numpy arrays, one registered implementation per op class.

    @impl(ReluOp)
    def relu(interp, op, x):
        return np.maximum(x, 0)

An implementation receives the interpreter, the op and its operand arrays, and
returns one array per result. The interpreter casts each to the result's
element type, checks its shape against the result type, and records it under
the value's name hint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pimc.diagnostics import Diagnostic, DiagnosticError, op_error
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp, ReturnOp
from pimc.ir.core import Operation, Value

IMPLS: dict[type[Operation], Callable] = {}


def impl(*op_classes: type[Operation]) -> Callable[[Callable], Callable]:
    """Register the decorated function as the implementation of `op_classes`."""

    def wrap(function: Callable) -> Callable:
        for op_class in op_classes:
            IMPLS[op_class] = function
        return function

    return wrap


class Interpreter:
    """Runs functions of one module; `values` maps name hints to the arrays of the last run.

    An `observer`, if given, sees every value computed, as calibration needs.
    """

    def __init__(
        self, module: ModuleOp, record: bool = True, observer: Callable[[Value, np.ndarray], None] | None = None
    ) -> None:
        from pimc.interp import ep_ops, mlg_ops, nn_ops, nn_tensor, onnx_ops, q_ops, snn_ops, xbar_ops  # noqa: F401  (they register implementations)

        self.module = module
        self.record = record
        self.observer = observer
        self.values: dict[str, np.ndarray] = {}
        self.cache: dict[Operation, object] = {}

    def run(self, inputs: Sequence[np.ndarray], func_name: str = "main") -> list[np.ndarray]:
        """The results of `func_name` on `inputs`, which must match its argument types."""
        func = self._func(func_name)
        if len(inputs) != len(func.arguments):
            raise _error(f"@{func_name} takes {len(func.arguments)} inputs, but {len(inputs)} were given")
        env: dict[Value, np.ndarray] = {}
        for arg, array in zip(func.arguments, inputs):
            array = np.asarray(array)
            if array.shape != arg.type.shape:
                raise _error(f"input '{arg.name_hint}' has shape {array.shape}, but @{func_name} expects {arg.type}")
            self._store(env, arg, array.astype(arg.type.element.numpy_dtype(), copy=False))
        ops = list(func.body.ops)
        last_use = {v: index for index, op in enumerate(ops) for v in op.operands}
        for index, op in enumerate(ops):
            if isinstance(op, ReturnOp):
                return [env[v] for v in op.operands]
            self._step(op, env)
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


def implementation(op_class: type[Operation]) -> Callable | None:
    """The registered implementation of `op_class` or of its nearest base class."""
    return next((IMPLS[c] for c in op_class.__mro__ if c in IMPLS), None)


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
        array = np.asarray(array).astype(result.type.element.numpy_dtype(), copy=False)
        if array.shape != result.type.shape:
            raise op_error(op, f"computed shape {array.shape}, but its result type is {result.type}")
        results.append(array)
    return results


def _error(message: str) -> DiagnosticError:
    return DiagnosticError(Diagnostic(message))

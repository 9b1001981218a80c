"""Which function implements each op class, for the interpreter and the simulator's digital unit.

    @impl(ReluOp)
    def relu(interp, op, x):
        return np.maximum(x, 0)

An implementation receives the interpreter, the op and its operand arrays, and returns one array per result.
"""

from __future__ import annotations

from collections.abc import Callable

from pimc.ir.core import Operation

IMPLS: dict[type[Operation], Callable] = {}
_RESOLVED: dict[type[Operation], Callable | None] = {}  # op class -> its implementation, as `implementation` found it


def impl(*op_classes: type[Operation]) -> Callable[[Callable], Callable]:
    """Register the decorated function as the implementation of `op_classes`."""

    def wrap(function: Callable) -> Callable:
        for op_class in op_classes:
            IMPLS[op_class] = function
        _RESOLVED.clear()
        return function

    return wrap


def implementation(op_class: type[Operation]) -> Callable | None:
    """The registered implementation of `op_class` or of its nearest base class."""
    if op_class not in _RESOLVED:
        _RESOLVED[op_class] = next((IMPLS[c] for c in op_class.__mro__ if c in IMPLS), None)
    return _RESOLVED[op_class]

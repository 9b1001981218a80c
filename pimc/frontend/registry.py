"""The converter table: ONNX op type -> a function that builds `nn` ops, in the style of tinygrad's onnx.py.

    @converter("Relu")
    def relu(imp, X):
        return imp.emit(ReluOp, [X])

A converter takes the importer, the node's inputs as positional `Tensor`s
(None for a missing optional one) and its attributes as keyword-only
parameters whose defaults are ONNX's. It returns one entry per output (an IR
value, a `Tensor` to alias, or a numpy array for a constant), or None to
decline, in which case the node stays a generic `onnx.<OpType>` op. A node
with an attribute the converter does not name, or more outputs than it
produces, is never given to it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Converter:
    function: Callable
    outputs: int
    attributes: frozenset[str]

    def accepts(self, attributes: dict) -> bool:
        return attributes.keys() <= self.attributes


CONVERTERS: dict[str, Converter] = {}

ANY_NUMBER = 1 << 30


def converter(*op_types: str, outputs: int = 1) -> Callable[[Callable], Callable]:
    """Register a converter for `op_types`; `outputs` is how many outputs it can produce."""

    def wrap(function: Callable) -> Callable:
        parameters = inspect.signature(function).parameters.values()
        names = frozenset(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)
        for op_type in op_types:
            CONVERTERS[op_type] = Converter(function, outputs, names)
        return function

    return wrap

"""Converters for elementwise ONNX ops: arithmetic, activations, Clip, Sum, Cast.

    Clip(x, min, max) with constant bounds  ->  nn.clip(%x) {min = 0.0, max = 6.0}
"""

from __future__ import annotations

from pimc.dialects.nn_elementwise import (
    AddOp, CastOp, ClipOp, DivOp, ErfOp, HardSigmoidOp, HardSwishOp, LeakyReluOp, MulOp, NegOp, PowOp, PReluOp,
    ReluOp, SigmoidOp, SqrtOp, SubOp, SumOp, TanhOp,
)
from pimc.frontend.registry import converter
from pimc.frontend.types import UnsupportedType, element_type
from pimc.ir.types import TensorType

_BINARY = {"Add": AddOp, "Sub": SubOp, "Mul": MulOp, "Div": DivOp}
_FLOAT_UNARY = {"Sqrt": SqrtOp, "Sigmoid": SigmoidOp, "Tanh": TanhOp, "Erf": ErfOp, "HardSwish": HardSwishOp}


def _binary(op_class):
    def convert(imp, A, B):
        if A.type.element != B.type.element:
            return None
        return imp.emit(op_class, [A, B])

    return convert


def _float_unary(op_class):
    def convert(imp, X):
        return imp.emit(op_class, [X]) if X.type.element.is_float else None

    return convert


for _name, _class in _BINARY.items():
    converter(_name)(_binary(_class))
for _name, _class in _FLOAT_UNARY.items():
    converter(_name)(_float_unary(_class))


@converter("Pow")
def pow_(imp, X, Y):
    return imp.emit(PowOp, [X, Y])


@converter("Relu")
def relu(imp, X):
    return imp.emit(ReluOp, [X])


@converter("Neg")
def neg(imp, X):
    return imp.emit(NegOp, [X])


@converter("LeakyRelu")
def leaky_relu(imp, X, *, alpha=0.01):
    return imp.emit(LeakyReluOp, [X], alpha=alpha) if X.type.element.is_float else None


@converter("HardSigmoid")
def hard_sigmoid(imp, X, *, alpha=0.2, beta=0.5):
    return imp.emit(HardSigmoidOp, [X], alpha=alpha, beta=beta) if X.type.element.is_float else None


@converter("PRelu")
def prelu(imp, X, slope):
    shape, target = slope.type.shape, X.type.shape
    fits = len(shape) <= len(target) and all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))
    if not fits or not X.type.element.is_float or slope.type.element != X.type.element:
        return None
    return imp.emit(PReluOp, [X, slope])


@converter("Clip")
def clip(imp, input, min=None, max=None):
    bounds = [b for b in (min, max) if b is not None]
    if any(b.const is None for b in bounds) or not input.type.element.is_float:
        return None
    low = float(min.const) if min is not None else None
    high = float(max.const) if max is not None else None
    return imp.emit(ClipOp, [input], min=low, max=high)


@converter("Sum")
def sum_(imp, *inputs):
    if len({t.type.element for t in inputs}) != 1:
        return None
    return imp.emit(SumOp, list(inputs))


@converter("Cast")
def cast(imp, input, *, to, saturate=1):
    try:
        element = element_type(to)
    except UnsupportedType:
        return None
    return imp.append(CastOp([imp.value(input)], [TensorType(input.type.shape, element)]))


"""Converters for elementwise ONNX ops: arithmetic, activations, Clip, Sum, Cast.

    Clip(x, min, max) with constant bounds  ->  nn.clip(%x) {min = 0.0, max = 6.0}
"""

from __future__ import annotations

from pimc.dialects.nn_elementwise import (
    AddOp, CastOp, ClipOp, DivOp, ErfOp, HardSigmoidOp, HardSwishOp, LeakyReluOp, MulOp, NegOp, PowOp, PReluOp,
    ReluOp, SigmoidOp, SqrtOp, SubOp, SumOp, TanhOp,
)
from pimc.dialects.nn_tensor import ReshapeOp
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
    """A 1-D slope of one entry per channel (older exporters) is reshaped to broadcast along axis 1."""
    shape, target = slope.type.shape, X.type.shape
    if len(shape) == 1 and len(target) > 2 and shape[0] == target[1] != target[-1]:
        per_channel = (shape[0],) + (1,) * (len(target) - 2)
        slope = imp.weight(slope.const.reshape(per_channel), slope.name) if slope.const is not None else \
            imp.emit(ReshapeOp, [slope], shape=per_channel)[0]
        shape = per_channel
    fits = len(shape) <= len(target) and all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))
    if not fits or not X.type.element.is_float or slope.type.element != X.type.element:
        return None
    return imp.emit(PReluOp, [X, slope])


@converter("Clip")
def clip(imp, input, min=None, max=None):
    """Constant bounds become attributes; integer ones only where a float holds them exactly."""
    bounds = [None if b is None else b.const for b in (min, max)]
    if any(b is None for b, given in zip(bounds, (min, max)) if given is not None):
        return None
    values = [None if b is None else b.reshape(-1)[0].item() for b in bounds]
    if any(v is not None and float(v) != v for v in values):
        return None
    low, high = (None if v is None else float(v) for v in values)
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


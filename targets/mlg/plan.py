"""How lower-mlg maps one layer: its mode, stages and the intermediates between them, and a stage's op.

    plan = Plan(op, "two-stage", stages, [Intermediate(zero_point=61440, bits=17)], costs)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pimc.dialects import q
from pimc.ir.core import Operation, Value
from pimc.ir.location import names_of
from pimc.ir.types import ScalarType, TensorType

I32 = ScalarType("i32")


@dataclass(frozen=True)
class Intermediate:
    """How the result of a stage that another reads is held: requantized by `multiplier`, plus `zero_point`, in
    `bits` unsigned bits (exact: multiplier 1, the zero point and bits its exact range needs)."""

    zero_point: int
    bits: int
    multiplier: float = 1.0


@dataclass
class Plan:
    """One layer (q.conv2d or q.gemm on an mlg.weight) and how it is mapped."""

    op: Operation
    mode: str
    stages: list  # stages.Stage
    intermediates: list[Intermediate]
    costs: dict[str, int]  # crossbars, conversions, cycles
    weight: Operation = field(init=False)  # the mlg.weight
    bias: Value | None = field(init=False)  # the last stage's bias
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.weight, self.bias = self.op.weight.op, self.op.bias
        self.name = (names_of(self.op.location) or (self.weight.ref,))[0]

    @property
    def scaled_by(self) -> float:
        """What the intermediates' requantization multiplied the layer's result by (1 if exact)."""
        return math.prod(step.multiplier for step in self.intermediates)


def stage_layer(op: Operation, stage, x: Value, weight: Value, bias: Value | None, zero: int, where) -> Operation:
    """The q.conv2d (or q.gemm) of one stage of layer `op`, reading `x` with zero point `zero`."""
    operands = [x, weight] + ([bias] if bias is not None else [])
    if isinstance(op, q.GemmOp):
        return q.GemmOp.build(operands, [TensorType((x.type.shape[0], stage.weight.shape[0]), I32)], where,
                              input_zero_point=zero)
    n, _, *size = (op.output if stage.spatial else x).type.shape
    window = {"strides": op.strides, "pads": op.pads, "dilations": op.dilations} if stage.spatial else {}
    return q.Conv2dOp.build(operands, [TensorType((n, stage.weight.shape[0], *size), I32)], where,
                            input_zero_point=zero, group=stage.group, **window)

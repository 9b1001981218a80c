"""lower-mlg's inter-bits: requantize the intermediates between stages over the range they take on calibration
inputs, and measure what that costs each layer's result.

    errors = requantize_intermediates(module, func, plans, spec)   # layer -> ||y' - y|| / ||y||

Two runs of the model (its layers still on their whole generated weights) over the calibration inputs; at each
planned layer's input the stages are computed in numpy (`q_ops`' semantics): the first run records each exact
intermediate's range, the second compares the layer's result through requantized intermediates with the exact
one. Intermediate k is requantized by m_k = (2^N - 1) / ((high - low) M), over its range widened to hold 0, where
M is what the earlier intermediates multiplied it by; the layer's result is then M_all times the exact one
(its bias is rounded at that scale, its output requantization divided by it).
"""

from __future__ import annotations

import numpy as np

from pimc.calibrate import calibration_inputs
from pimc.dialects import q
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.interp import q_ops
from pimc.interp.interpreter import Interpreter
from pimc.ir.core import Value
from pimc.ir.types import TensorType
from pimc.targets.mlg.plan import I32, Intermediate, Plan, stage_layer


def requantize_intermediates(module, func, plans: list[Plan], spec) -> dict[str, float]:
    """Make every plan's intermediates `spec.inter_bits` wide from their calibrated ranges; each layer's error."""
    inputs = calibration_inputs(func, spec.calib, spec.samples, spec.seed, spec.name)
    staged = [plan for plan in plans if plan.intermediates]
    ops = {id(plan): _detached(plan) for plan in staged}
    ranges = {id(plan): [[0, 0] for _ in plan.intermediates] for plan in staged}

    def observe_ranges(plan: Plan, x: np.ndarray) -> None:
        _, middles = _chain(plan, ops[id(plan)], x, lossy=False)
        for seen, middle in zip(ranges[id(plan)], middles):
            seen[0], seen[1] = min(seen[0], int(middle.min())), max(seen[1], int(middle.max()))

    _run(module, func, inputs, staged, observe_ranges)
    for plan in staged:
        plan.intermediates = _requantized(ranges[id(plan)], spec.inter_bits)
    squares = {id(plan): [0.0, 0.0] for plan in staged}

    def observe_error(plan: Plan, x: np.ndarray) -> None:
        bias = constant(plan.bias).astype(np.int64) if plan.bias is not None else 0
        exact, _ = _chain(plan, ops[id(plan)], x, lossy=False)
        lossy, _ = _chain(plan, ops[id(plan)], x, lossy=True)
        shape = (1, -1) + (1,) * (exact.ndim - 2)
        exact = exact + np.reshape(bias, shape) if plan.bias is not None else exact
        lossy = (lossy + np.reshape(np.rint(bias * plan.scaled_by), shape)) / plan.scaled_by
        squares[id(plan)][0] += float(np.sum((lossy - exact) ** 2.0))
        squares[id(plan)][1] += float(np.sum(exact.astype(np.float64) ** 2))

    _run(module, func, inputs, staged, observe_error)
    for plan in staged:
        _rescale_bias(plan)
    return {plan.name: float(np.sqrt(s[0] / s[1])) if s[1] else 0.0 for plan, s in
            ((plan, squares[id(plan)]) for plan in staged)}


def _run(module, func, inputs: list, plans: list[Plan], observe) -> None:
    """Run the model on every input; `observe(plan, x)` at each planned layer's input x."""
    readers: dict[Value, list[Plan]] = {}
    for plan in plans:
        readers.setdefault(plan.op.input, []).append(plan)

    def observer(value: Value, array: np.ndarray) -> None:
        for plan in readers.get(value, ()):
            observe(plan, array)

    for sample in inputs:
        Interpreter(module, record=False, observer=observer).run(sample)


def _detached(plan: Plan) -> list:
    """Each stage as a q op outside the module, reading inputs with zero point 0 (given centered)."""
    ops, x = [], Value(plan.op.input.type)
    for stage in plan.stages:
        weight = Value(TensorType(stage.weight.shape, I32))
        op = stage_layer(plan.op, stage, x, weight, None, 0, plan.op.location)
        ops.append(op)
        x = Value(op.output.type)
    return ops


def _chain(plan: Plan, ops: list, x: np.ndarray, lossy: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """The layer's result without bias through its stages from input `x`, and each intermediate's stage result
    (lossy: through the requantized intermediates)."""
    centered, middles = x.astype(np.int64) - plan.op.input_zero_point, []
    for stage, op, step in zip(plan.stages, ops, plan.intermediates):  # every stage but the last
        middles.append(_stage(op, centered, stage.weight))
        held = np.clip(np.rint(middles[-1] * step.multiplier) + step.zero_point, 0, (1 << step.bits) - 1)
        centered = held.astype(np.int64) - step.zero_point if lossy else middles[-1]
    return _stage(ops[-1], centered, plan.stages[-1].weight), middles


def _stage(op, centered: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return (q_ops.gemm if isinstance(op, q.GemmOp) else q_ops.conv2d)(None, op, centered, weight)


def _requantized(ranges: list[list[int]], bits: int) -> list[Intermediate]:
    """The intermediates requantized to `bits` over their calibrated ranges."""
    held, scaled = [], 1.0
    for low, high in ranges:
        multiplier = ((1 << bits) - 1) / ((high - low) * scaled) if high > low else 1.0
        held.append(Intermediate(int(np.rint(-low * scaled * multiplier)), bits, multiplier))
        scaled *= multiplier
    return held


def _rescale_bias(plan: Plan) -> None:
    """The last stage's bias at the scale the requantized intermediates give the layer's result."""
    if plan.bias is None:
        return
    scaled = new_weight(plan.op, f"{plan.bias.op.ref}_staged", np.rint(constant(plan.bias) * plan.scaled_by), I32)
    plan.op.parent.insert_before(scaled, plan.op)
    plan.bias = scaled.output

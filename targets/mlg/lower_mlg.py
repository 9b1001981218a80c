"""lower-mlg: map each layer on a generated integer weight (mlg.weight) onto crossbar stages, in a mode per layer.

    %acc = q.conv2d(%x, %w, %bias) {input_zero_point = 3}          %w = mlg.weight(%b, %u, %v) {ref = "c2.w", ...}
  -> (mode=two-stage)
    %t = q.conv2d(%x, %c2.wc) {input_zero_point = 3} loc("c2:wc")                 k x k, Ci -> B_c, W_c = U @ W^b
    %tu = q.requantize(%t, %one) {scale = s_x*s_b*s_u, zero_point = 61440} -> ui17      exact: t + 61440
    %acc = q.conv2d(%tu, %c2.v, %bias) {input_zero_point = 61440} loc("c2:v")    1 x 1, B_c -> Co

Modes (stages.py, docs/mlg.md): materialize keeps the one layer on W; two-stage and three-stage split it. Between
stages the intermediate is exact unless `inter-bits` says otherwise: a requantize by 1 that only adds the zero
point making it unsigned, at the bits its exact range needs (from the stage's weights and its input's range),
so the next stage takes more input slices and the layer's result equals materialize's to the bit. With
inter-bits = N each intermediate is requantized to N bits over the range it took on the calibration inputs
(`calibrate.py`): lossy, the error of each layer's result is reported. `auto` takes per layer the mode least in
`objective` (crossbars, ADC conversions or crossbar cycles, as the cost model counts them), ties to the earlier of
materialize, two-stage, three-stage. A stage's ops are located at "<layer>:<stage>", so the report lists each
stage. The module attribute `mlg_layers` records every layer: levels, B_i, B_c, bits, mode, costs, errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pimc.dialects import mlg, q
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.dialects.nn_conv import WeightOp
from pimc.ir.location import NameLoc
from pimc.ir.types import ScalarType, TensorType
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.targets.mlg.calibrate import requantize_intermediates
from pimc.targets.mlg.memory import generated_bits, generation_macs, layer_ratio
from pimc.targets.mlg.plan import Intermediate, Plan, stage_layer
from pimc.targets.mlg.stages import MODES, OBJECTIVES, Geometry, available_modes, mode_stages, output_range

F64 = ScalarType("f64")


@dataclass(frozen=True)
class LowerMlg(ModulePass):
    """Map every q.conv2d or q.gemm whose weight is an mlg.weight in its mode; exact intermediates by default."""

    name = "lower-mlg"
    mode: Literal["auto", "materialize", "two-stage", "three-stage"] = param(
        "auto", "-", "how each generated weight sits on crossbars (docs/mlg.md)")
    objective: Literal["crossbars", "conversions", "cycles"] = param(
        "crossbars", "-", "what auto minimises per layer: crossbars, ADC conversions or crossbar cycles")
    inter_bits: int = param(0, "bits", "the intermediates between stages: 0 keeps them exact; 2 to 16 requantizes "
                            "them (lossy)", 0, 16)
    rows: int = param(128, "rows", "crossbar height", 1, 1 << 16)
    cols: int = param(128, "columns", "crossbar width (cells)", 1, 1 << 16)
    cell_bits: int = param(2, "bits", "cell precision", 1, 16)
    dac_bits: int = param(1, "bits", "input bits per DAC step", 1, 16)
    calib: str = param("", "-", "calibration inputs (.npz) of inter-bits; seeded normal samples if empty")
    samples: int = param(16, "-", "how many inputs inter-bits calibrates on", 1, 1_000_000)
    seed: int = param(0, "-", "seed of the normal samples")

    def check(self) -> None:
        if self.inter_bits == 1:
            raise ValueError("inter-bits = 1 is out of range: 0 (exact) or 2 to 16 bits")

    def apply(self, module: ModuleOp) -> None:
        (func,) = module.funcs()
        layers = [op for op in func.body.ops if isinstance(op, (q.Conv2dOp, q.GemmOp))
                  and isinstance(getattr(op.weight, "op", None), mlg.IntegerWeightOp)]
        if not layers:
            return
        plans = [self._plan(op) for op in layers]
        errors = requantize_intermediates(module, func, plans, self) if self.inter_bits else {}
        for plan in plans:
            _rewrite(plan)
        module.attributes["mlg_layers"] = tuple(_entry(plan, errors.get(plan.name)) for plan in plans)
        for op in [op for op in func.body.ops if isinstance(op, mlg.IntegerWeightOp) and not op.output.has_uses()]:
            factors = [f.op for f in op.factors]
            op.erase()
            for factor in factors:
                if isinstance(factor, WeightOp) and not factor.output.has_uses():
                    factor.erase()

    def _plan(self, op) -> Plan:
        """The layer's mode, stages and exact intermediates: `mode` if the layer has it (else the nearest it has),
        or under auto the one least in `objective`."""
        weight = op.weight.op
        codes = [constant(f) for f in weight.factors]
        modes = available_modes(weight.levels if isinstance(op, q.Conv2dOp) else weight.levels.replace("intra-", ""))
        geometry = Geometry(self.rows, self.cols, self.cell_bits, self.dac_bits)
        plans = [_exact_plan(op, mode, mode_stages(mode, weight.levels, codes, weight.scales, weight.output.type.shape),
                             geometry, self.inter_bits) for mode in modes]
        if self.mode != "auto":  # the modes a layer has come first in MODES' order: take the asked one or the last
            return plans[min(MODES.index(self.mode), len(plans) - 1)]
        return min(plans, key=lambda plan: (plan.costs[self.objective], *(plan.costs[o] for o in OBJECTIVES)))


def _exact_plan(op, mode: str, stages: list, geometry: Geometry, inter_bits: int) -> Plan:
    """The plan of `mode` with exact intermediates, and its costs (intermediates at `inter_bits` if set)."""
    element = op.input.type.element
    low, high = element.bounds[0] - op.input_zero_point, element.bounds[1] - op.input_zero_point
    bits, intermediates, costs = element.width, [], dict.fromkeys(OBJECTIVES, 0)
    spatial_done = False
    for index, stage in enumerate(stages):
        spatial_done = spatial_done or stage.spatial
        pixels = _pixels(op, spatial_done)
        for key, value in geometry.costs(stage, bits, pixels).items():
            costs[key] += value
        if index == len(stages) - 1:
            break
        low, high = output_range(stage.weight, low, high)
        exact = Intermediate(-min(low, 0), max(1, (high - min(low, 0)).bit_length()))
        intermediates.append(exact)
        bits = inter_bits or exact.bits
    return Plan(op, mode, stages, intermediates, costs)


def _pixels(op, spatial_done: bool) -> int:
    """Vectors a stage computes: output pixels once the window is taken, input pixels before (a gemm's rows)."""
    shape = (op.output if spatial_done or isinstance(op, q.GemmOp) else op.input).type.shape
    return shape[0] * math.prod(shape[2:])


def _rewrite(plan: Plan) -> None:
    """Put the plan's stages in place of its layer (materialize: the same layer on a plain weight)."""
    op, weight = plan.op, plan.op.weight.op
    if plan.mode == "materialize":
        plain = WeightOp.build([], [weight.output.type], weight.location, ref=weight.ref)
        plain.output.name_hint = weight.output.name_hint
        op.parent.insert_before(plain, op)
        op.operands = (op.input, plain.output, *op.operands[2:])
        return
    base = weight.ref.removesuffix(".w")
    x, zero, scale = op.input, op.input_zero_point, _input_scale(op, weight)
    for index, stage in enumerate(plan.stages):
        last = index == len(plan.stages) - 1
        where = NameLoc(f"{plan.name}:{stage.name}", op.location)
        held_scale = None if scale is None else scale * stage.scale  # one unit of the stage's result
        ints = new_weight(op, f"{base}.{stage.name}", stage.weight, ScalarType(f"i{stage.bits}"))
        layer = stage_layer(op, stage, x, ints.output, plan.bias if last else None, zero, where)
        new = [ints, layer]
        if not last:
            step = plan.intermediates[index]
            one = new_weight(op, f"{base}.{stage.name}_requant", np.array([step.multiplier]), F64)
            out = TensorType(layer.output.type.shape, ScalarType(f"ui{step.bits}"))
            held_scale = None if held_scale is None else held_scale / step.multiplier
            carry = q.RequantizeOp.build([layer.output, one.output], [out], where, scale=held_scale,
                                         zero_point=step.zero_point)
            layer.output.name_hint = f"{op.output.name_hint or 'acc'}.{stage.name}"
            carry.output.name_hint = f"{layer.output.name_hint}_q"
            new += [one, carry]
            x, zero, scale = carry.output, step.zero_point, held_scale
        for created in new:
            op.parent.insert_before(created, op)
    op.output.replace_all_uses_with(layer.output)
    layer.output.name_hint = op.output.name_hint
    if plan.scaled_by != 1.0:
        _scale_requantize(layer, plan.scaled_by)
    op.erase()


def _scale_requantize(layer, factor: float) -> None:
    """Divide the multiplier of the requantize that reads the layer's result by `factor` (the intermediates'
    requantization scaled its result by it)."""
    for user in layer.output.users:
        if isinstance(user, q.RequantizeOp):
            scaled = new_weight(user, f"{user.multiplier.op.ref}_lossy", constant(user.multiplier) / factor, F64)
            user.parent.insert_before(scaled, user)
            user.operands = (user.input, scaled.output)


def _input_scale(op, weight) -> float | None:
    """The real value of one unit of the layer's input: multiplier * output scale / weight scale, from the
    requantize quantize wrote after it."""
    users = [u for u in op.output.users if isinstance(u, q.RequantizeOp) and u.scale is not None]
    multiplier = constant(users[0].multiplier) if users else None
    return None if multiplier is None else float(multiplier.reshape(-1)[0]) * users[0].scale / math.prod(weight.scales)


def _entry(plan: Plan, error: float | None) -> tuple:
    """The layer's line of `mlg_layers`: (key, value) pairs."""
    b_i, b_c = plan.weight.hyper()
    pairs = [("layer", plan.name), ("levels", plan.weight.levels), ("b_i", b_i), ("b_c", b_c),
             ("bits", tuple(plan.weight.bits)), ("mode", plan.mode),
             ("stage_bits", tuple(s.bits for s in plan.stages)),
             ("intermediate_bits", tuple(i.bits for i in plan.intermediates)),
             ("memory_ratio", round(layer_ratio(plan.weight), 6)),
             ("weight_shape", plan.weight.weight_shape()), ("factor_bits", generated_bits(plan.weight)),
             ("generation_macs", generation_macs(plan.weight.levels, plan.weight.weight_shape(), b_i, b_c, plan.mode))]
    for key in ("weight_error", "output_error"):
        if getattr(plan.weight, key) is not None:
            pairs.append((key, round(getattr(plan.weight, key), 6)))
    if error is not None:
        pairs.append(("intermediate_error", round(error, 6)))
    return tuple(pairs)

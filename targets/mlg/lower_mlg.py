"""lower-mlg: turn each conv on a generated weight into ordinary convs on dequantized integer weights.

    %w = mlg.generate(%b, %u, %v) {levels = "intra-cross", ...} ; %y = nn.conv2d(%x, %w, %bias)
  -> (mode=two-stage)
    %wc = q.dequantize(%wc_int) {scale = s_b*s_u} ; %t = nn.conv2d(%x, %wc)       k x k, Ci -> B_c
    %v = q.dequantize(%v_int) {scale = s_v}      ; %y = nn.conv2d(%t, %v, %bias)   1 x 1, B_c -> Co

Modes (docs/mlg.md): `materialize`, one conv with the generated integer W (V @ U @ W^b, about 20 bits
for 3-6-3); `two-stage`, a k x k conv with the integer W_c = U @ W^b, then a 1 x 1 conv with V;
`three-stage`, a 1 x 1 conv with U (Ci -> B_c*B_i), a depthwise k x k conv with W^b, a 1 x 1 conv with
V repeated over B_i; `auto`, per layer the mode whose weights need the fewest crossbars. Weights keep
their exact integer codes at the bits they need (`quantize` keeps a dequantized integer weight); the
intermediates between stages are activations, which `quantize` requantizes to its act-bits: only
`materialize` is exact in integers end to end. A layer without the intra level has no three-stage
form and one without the cross level no two-stage form: it takes the nearest that exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pimc.dialects import mlg, q
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.dialects.nn_conv import Conv2dOp, WeightOp
from pimc.ir.types import ScalarType, TensorType
from pimc.ir.location import names_of
from pimc.pass_manager import ModulePass, check_range
from pimc.targets.mlg.memory import Memory, layer_ratio, model_memory

MODES = ("auto", "materialize", "two-stage", "three-stage")
STAGE_NAMES = {"materialize": ("w",), "two-stage": ("wc", "v"), "three-stage": ("u", "wb", "v")}


@dataclass(frozen=True)
class LowerMlg(ModulePass):
    """Rewrite every conv whose weight is mlg.generate into convs on dequantized integer factors."""

    name = "lower-mlg"
    mode: str = field(default="auto", metadata={"doc": "auto, materialize, two-stage or three-stage"})
    rows: int = field(default=128, metadata={"doc": "crossbar rows, for auto's crossbar count"})
    cols: int = field(default=128, metadata={"doc": "crossbar columns, for auto's crossbar count"})
    cell_bits: int = field(default=2, metadata={"doc": "bits per cell, for auto's crossbar count"})

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode = {self.mode} is not valid: one of {', '.join(MODES)}")
        for option, value in (("rows", self.rows), ("cols", self.cols)):
            check_range(option, value, 1, 1 << 16)
        check_range("cell-bits", self.cell_bits, 1, 16)

    def apply(self, module: ModuleOp) -> None:
        memory = model_memory(module)
        layers = []
        for op in [op for op in module.walk() if isinstance(op, Conv2dOp)]:
            generate = getattr(op.weight, "op", None)
            if isinstance(generate, mlg.GenerateOp) and op.group == 1:
                mode = self._mode(op, generate)
                layers.append(layer_entry(op, generate, mode))
                self._lower(op, generate, mode)
        if not layers:
            return
        module.attributes["mlg_layers"] = tuple(layers)
        module.attributes["mlg_memory_ratio"] = round(memory.ratio, 6)
        module.notes = (*getattr(module, "notes", ()), memory_note(memory, len(layers)))
        for op in [op for op in module.walk() if isinstance(op, mlg.GenerateOp) and not op.output.has_uses()]:
            factors = [f.op for f in op.factors]
            op.erase()
            for factor in factors:
                if isinstance(factor, WeightOp) and not factor.result.has_uses():
                    factor.erase()

    def _lower(self, op: Conv2dOp, generate: mlg.GenerateOp, mode: str) -> None:
        stages = self._stages(op, generate, mode)
        basis = generate.named()["basis"].op
        layer = basis.ref.removesuffix(".basis") if isinstance(basis, WeightOp) else "mlg"
        x, done = op.input, False
        for index, (weight, scale, group, spatial) in enumerate(stages):
            last = index == len(stages) - 1
            hint = f"{layer}.{STAGE_NAMES[mode][index]}"
            ints = new_weight(op, hint, weight, ScalarType(f"i{signed_bits(weight)}"))
            real = q.DequantizeOp.build([ints.result], [TensorType(weight.shape, op.weight.type.element)],
                                        op.location, scale=scale)
            bias = op.bias if last and op.bias is not None else _zero_bias(op, hint, weight.shape[0])
            operands = [x, real.output, bias]  # quantize needs a bias beside a dequantized weight
            attrs = {"strides": op.strides, "pads": op.pads, "dilations": op.dilations} if spatial else {}
            done = done or spatial
            n, _, *size = (op.output if done else op.input).type.shape
            conv = Conv2dOp.build(operands, [TensorType((n, weight.shape[0], *size), op.output.type.element)],
                                  op.location, group=group, **attrs)
            for new in (ints, real, conv):
                op.parent.insert_before(new, op)
            conv.output.name_hint = op.output.name_hint if last else f"{op.output.name_hint or 'y'}.{STAGE_NAMES[mode][index]}"
            x = conv.output
        op.output.replace_all_uses_with(x)
        op.erase()

    def _stages(self, op, generate, mode: str) -> list[tuple[np.ndarray, float, int, bool]]:
        """(integer OIHW weight, its scale, group, carries the conv's strides and pads) per stage of `mode`."""
        co, ci, *kernel = generate.weight_shape()
        named = {name: constant(f).astype(np.int64) for name, f in generate.named().items()}
        scale = dict(zip(mlg.LEVELS[generate.levels], generate.scales))
        if mode == "materialize":
            whole = mlg.integer_weight(generate.levels, list(named.values()), co).reshape(co, ci, *kernel)
            return [(whole, math.prod(generate.scales), 1, True)]
        v = named["coeff_out"]
        b_c = v.shape[1]
        if mode == "two-stage":
            basis = named["basis"].reshape(b_c, -1, math.prod(kernel))
            wc = np.matmul(named["coeff_in"], basis) if "coeff_in" in named else basis
            wc_scale = scale["basis"] * scale.get("coeff_in", 1.0)
            return [(wc.reshape(b_c, ci, *kernel), wc_scale, 1, True),
                    (v.reshape(co, b_c, 1, 1), scale["coeff_out"], 1, False)]
        u = named["coeff_in"]  # B_c x Ci x B_i
        b_i = u.shape[2]
        spread = np.transpose(u, (0, 2, 1)).reshape(b_c * b_i, ci, 1, 1)
        depthwise = named["basis"].reshape(b_c * b_i, 1, *kernel)
        repeated = np.repeat(v, b_i, axis=1).reshape(co, b_c * b_i, 1, 1)
        return [(spread, scale["coeff_in"], 1, False), (depthwise, scale["basis"], b_c * b_i, True),
                (repeated, scale["coeff_out"], 1, False)]

    def _mode(self, op: Conv2dOp, generate: mlg.GenerateOp) -> str:
        """`mode` if the layer has it, else the nearest it has; `auto`: the one whose integer weights, at the
        bits their actual codes need, take the fewest crossbars (ties to the earlier in MODES)."""
        modes = available_modes(generate.levels)
        if self.mode != "auto":
            return self.mode if self.mode in modes else modes[-1]
        return min(modes, key=lambda mode: self._crossbars(
            [(weight, group) for weight, _, group, _ in self._stages(op, generate, mode)]))

    def _crossbars(self, weights: list[np.ndarray]) -> int:
        """Crossbars the stages' weights occupy: rows = fan-in per group, columns = outputs x cell slices."""
        total = 0
        for weight, group in weights:
            fan_in = math.prod(weight.shape[1:])
            slices = math.ceil(signed_bits(weight) / self.cell_bits)
            per_group = weight.shape[0] // group
            total += group * math.ceil(fan_in / self.rows) * math.ceil(per_group * slices / self.cols)
        return total


def layer_entry(op: Conv2dOp, generate: mlg.GenerateOp, mode: str) -> str:
    """'name: levels B_i B_c bits mode ratio' of one generated conv, for the module's `mlg_layers`."""
    b_i, b_c = generate.hyper()
    error = f" weight-error={generate.weight_error:.4f}" if generate.weight_error is not None else ""
    return (f"{(names_of(op.location) or ('?',))[0]}: {generate.levels} B_i={b_i} B_c={b_c} "
            f"bits={'-'.join(map(str, generate.bits))} mode={mode} memory-ratio={layer_ratio(generate):.5f}{error}")


def memory_note(memory: Memory, generated: int) -> str:
    return (f"MLG memory ratio {memory.ratio:.4f} ({memory.bits / 8e6:.3f} MB of {memory.reference / 8e6:.3f} MB at "
            f"fp32; {generated} generated convs at their factors' bits, other convs, BatchNorm and biases at fp32, "
            "the classifier at 8 bits: docs/mlg.md)")


def _zero_bias(op: Conv2dOp, hint: str, channels: int):
    zeros = new_weight(op, f"{hint}.bias", np.zeros(channels), op.output.type.element)
    op.parent.insert_before(zeros, op)
    return zeros.result


def available_modes(levels: str) -> tuple[str, ...]:
    """The modes a generated weight of `levels` has: two-stage needs the cross level, three-stage both."""
    return ("materialize",) + (("two-stage",) if "cross" in levels else ()) + \
        (("three-stage",) if levels == "intra-cross" else ())


def signed_bits(weight: np.ndarray) -> int:
    """Bits of a two's complement integer holding every value of `weight` (at least 2)."""
    peak = int(np.max(np.abs(weight))) if weight.size else 0
    return max(2, peak.bit_length() + 1)

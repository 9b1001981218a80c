"""MLG's enabling rules and memory bookkeeping (paper Eq. 4; official mlg_conv2d.py and model_base.py).

    ratio = (B_c*B_i*k^2*q_b + B_c*Ci*B_i*q_u + Co*B_c*q_v) / (Co*Ci*k^2*q_w)

The model's memory ratio follows model_base.get_memory_compression_ratio: generated convs at their
factors' bits, convs that are not generated at fp32, BatchNorm (weight and bias, 2 per channel) at fp32,
the classifier's weight at `classifier_bits` (w_bit = 8 in the paper's configs) and its bias at fp32;
the reference is the whole model at fp32.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from pimc.dialects import mlg


@dataclass(frozen=True)
class Plan:
    """How one conv is generated: its levels ('intra-cross', 'intra', 'cross') or None, and B_i, B_c."""

    levels: str | None
    b_i: int
    b_c: int


def plan(co: int, ci: int, kernel: int, b_i: int, b_c: int) -> Plan:
    """The official enabling rules for a Co x Ci x k x k conv (Ci per group), with model_base's 1x1 rule:
    B_c >= min(Co, Ci) on a 1x1 conv becomes int(0.9 * min(Co, Ci))."""
    k2 = kernel * kernel
    if kernel == 1 and b_c >= min(co, ci):
        b_c = int(0.9 * min(co, ci))
    cross = min(co, ci * k2) > b_c > 0
    intra = min(ci, k2) > b_i > 0
    levels = {(True, True): "intra-cross", (True, False): "intra", (False, True): "cross"}.get((intra, cross))
    return Plan(levels, b_i if intra else 0, b_c if cross else co)


def factor_bits(levels: str, bits: tuple[int, int, int]) -> list[int]:
    """The bits of each factor of `levels` from (q_b, q_u, q_v)."""
    chosen = dict(zip(("basis", "coeff_in", "coeff_out"), bits))
    return [chosen[name] for name in mlg.LEVELS[levels]]


def generation_macs(levels: str, shape: tuple[int, ...], b_i: int, b_c: int, mode: str) -> tuple[int, int]:
    """(intra, cross) multiply-adds of the generation unit per load of a Co x Ci x kernel weight in `mode`:
    materialize computes W_c = U @ W^b and W = V @ W_c, two-stage only W_c (V is programmed as it is stored),
    three-stage nothing (every factor is programmed as it is stored)."""
    co, ci, *kernel = shape
    intra = b_c * ci * b_i * prod(kernel) if "intra" in levels and mode != "three-stage" else 0
    cross = co * b_c * ci * prod(kernel) if "cross" in levels and mode == "materialize" else 0
    return intra, cross


def generated_bits(op) -> int:
    """Bits the factors of `op` occupy."""
    return sum(prod(f.type.shape) * b for f, b in zip(op.factors, op.bits))


def layer_ratio(op, weight_bits: int = 32) -> float:
    """Eq. 4 for one generated weight against its full weight at `weight_bits`."""
    return generated_bits(op) / (prod(op.weight_shape()) * weight_bits)


@dataclass(frozen=True)
class Memory:
    """A model's parameter bits with MLG (`bits`) and at fp32 (`reference`)."""

    bits: int
    reference: int

    @property
    def ratio(self) -> float:
        return self.bits / self.reference if self.reference else 1.0


def model_memory(module, classifier_bits: int = 8) -> Memory:
    """The paper's bookkeeping on an imported module: each generated weight at its factors' bits, whichever layer
    reads it; each other conv's weight at fp32; per-channel affine parameters at fp32, counted as BatchNorm's 2
    per channel: a conv's bias (a BatchNorm the importer folded into it) and the constants of a per-channel
    nn.mul or nn.add (one it could not fold); each other gemm's weight (the classifier) at `classifier_bits`,
    its bias at fp32."""
    from pimc.dialects.nn_conv import Conv2dOp, GemmOp, WeightOp
    from pimc.dialects.nn_elementwise import AddOp, MulOp

    bits = reference = 0
    for op in module.walk():
        if isinstance(op, mlg.GenerateOp):
            bits, reference = bits + generated_bits(op), reference + prod(op.weight_shape()) * 32
        elif isinstance(op, Conv2dOp):
            own = 0 if isinstance(op.weight.op, mlg.GenerateOp) else prod(op.weight.type.shape) * 32
            affine = 2 * op.weight.type.shape[0] * 32 if op.bias is not None else 0
            bits, reference = bits + own + affine, reference + own + affine
        elif isinstance(op, GemmOp):
            count = 0 if isinstance(op.operands[1].op, mlg.GenerateOp) else prod(op.operands[1].type.shape)
            bias = prod(op.operands[2].type.shape) * 32 if len(op.operands) > 2 else 0
            bits, reference = bits + count * classifier_bits + bias, reference + count * 32 + bias
        elif isinstance(op, (MulOp, AddOp)):
            constants = sum(prod(v.type.shape) * 32 for v in op.operands if isinstance(v.op, WeightOp))
            bits, reference = bits + constants, reference + constants
    return Memory(bits, reference)

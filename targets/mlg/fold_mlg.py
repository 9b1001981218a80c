"""fold-mlg: decompose conv weights into MLG form, a basis and two coefficient matrices of integer codes.

    %y = nn.conv2d(%x, %w, %b) : (tensor<1x16x4x4xf32>, tensor<32x16x3x3xf32>, tensor<32xf32>) -> ...
  ->   (b-i=2 b-c=12 bits=3,6,3)
    %w2 = mlg.generate(%basis, %u, %v) {levels = "intra-cross", bits = [3, 6, 3], scales = [...], weight_error = 0.41}
    %y = nn.conv2d(%x, %w2, %b)

The projection is the official code's "svd" initialisation followed by quantized alternating least
squares, all deterministic: V from a rank-B_c truncated SVD of W (Co x Ci*k*k), each W_c[p] (Ci x k*k)
from a rank-B_i SVD into U[p] and W^b[p]; then each factor in turn is quantized to odd DoReFa-symmetric
codes (scale max|f| / n) and the next is refit by least squares against what the quantized ones give.
The enabling rules decide each conv's levels (`memory.plan`); a conv they leave without any level, a
grouped conv and the classifier (not a conv) stay as they are. `weight_error` is ||W - W'|| / ||W||.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pimc.diagnostics import op_error
from pimc.dialects import mlg
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.dialects.nn_conv import Conv2dOp, WeightOp
from pimc.ir.types import ScalarType
from pimc.pass_manager import ModulePass, check_range
from pimc.targets.mlg.memory import factor_bits, plan

ROUNDS = 3  # quantize-and-refit sweeps over the factors


@dataclass(frozen=True)
class FoldMlg(ModulePass):
    """Decompose every constant group-1 conv weight into MLG factors (docs/mlg.md)."""

    name = "fold-mlg"
    b_i: int = field(default=2, metadata={"doc": "B_i, bases per kernel (intra-kernel level), from 1 to 4096"})
    b_c: int = field(default=44, metadata={"doc": "B_c, basis kernels (cross-kernel level), from 1 to 65536"})
    bits: tuple[int, ...] = field(default=(3, 6, 3), metadata={"doc": "q_b,q_u,q_v: the factors' bits, 1 to 16"})

    def __post_init__(self) -> None:
        check_range("b-i", self.b_i, 1, 4096)
        check_range("b-c", self.b_c, 1, 1 << 16)
        if len(self.bits) != 3:
            raise ValueError(f"bits = {','.join(map(str, self.bits))} must be three bit widths q_b,q_u,q_v")
        for name, value in zip(("q_b", "q_u", "q_v"), self.bits):
            check_range(f"bits ({name})", value, 1, mlg.MAX_BITS)

    def apply(self, module: ModuleOp) -> None:
        for op in [op for op in module.walk() if isinstance(op, Conv2dOp)]:
            if op.group == 1 and isinstance(getattr(op.weight, "op", None), WeightOp):
                self._fold(op)

    def _fold(self, op: Conv2dOp) -> None:
        weight = constant(op.weight).astype(np.float64)
        co, ci, kh, kw = weight.shape
        chosen = plan(co, ci, kh if kh == kw else 0, self.b_i, self.b_c)
        if chosen.levels is None or kh != kw:
            return
        bits = factor_bits(chosen.levels, tuple(self.bits))
        factors, scales = project(weight, chosen.levels, chosen.b_i, chosen.b_c, bits)
        generated = mlg.generate(chosen.levels, factors, scales, weight.shape)
        norm = np.linalg.norm(weight)
        error = float(np.linalg.norm(weight - generated) / norm) if norm > 0 else 0.0
        hint = op.weight.op.ref
        stored = [new_weight(op, f"{hint}.{name}", codes, ScalarType("i8" if b <= 7 else "i16"))
                  for name, codes, b in zip(mlg.LEVELS[chosen.levels], factors, bits)]
        for w in stored:
            op.parent.insert_before(w, op)
        generate = mlg.GenerateOp.build([w.result for w in stored], [op.weight.type], op.location,
                                        levels=chosen.levels, bits=bits, scales=scales, weight_error=error)
        op.parent.insert_before(generate, op)
        old = op.weight
        op.operands = (op.input, generate.output, *op.operands[2:])
        if not old.has_uses():
            old.op.erase()


def quantize(values: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """Nearest odd DoReFa-symmetric codes in [-n, n] and their scale max|values| / n (1 for all zeros)."""
    n = mlg.code_limit(bits)
    top = float(np.max(np.abs(values)))
    scale = top / n if top > 0 else 1.0
    codes = np.clip(2 * np.round((values / scale - 1) / 2) + 1, -n, n)
    return codes.astype(np.int64), scale


def project(weight: np.ndarray, levels: str, b_i: int, b_c: int, bits: list[int]) -> tuple[list, list]:
    """(codes of each factor, their scales) approximating `weight` (Co x Ci x k x k, float64)."""
    co, ci = weight.shape[:2]
    flat = weight.reshape(co, -1)
    cross, intra = "cross" in levels, "intra" in levels
    target = flat
    if cross:  # the top B_c left singular vectors, from the Co x Co Gram matrix (an SVD of W is slower)
        left = np.linalg.eigh(flat @ flat.T)[1][:, ::-1][:, :b_c]
        target = left.T @ flat  # W_c, B_c x Ci*k*k
    target = target.reshape(target.shape[0], ci, -1)
    basis = target
    if intra:
        left, sigma, right = np.linalg.svd(target, full_matrices=False)
        basis = right[:, :b_i] * sigma[:, :b_i, None]  # B_c x B_i x k*k
    for _ in range(ROUNDS):
        found = [quantize(basis, bits[0])]
        made = found[0][0] * found[0][1]
        if intra:
            found.append(quantize(np.matmul(target, np.linalg.pinv(made)), bits[1]))
            made = np.matmul(found[1][0] * found[1][1], made)
        if cross:
            found.append(quantize(flat @ np.linalg.pinv(made.reshape(made.shape[0], -1)), bits[-1]))
            target = (np.linalg.pinv(found[-1][0] * found[-1][1]) @ flat).reshape(made.shape)
        basis = np.matmul(np.linalg.pinv(found[1][0] * found[1][1]), target) if intra else target
    codes = [c for c, _ in found]
    codes[0] = codes[0].reshape(codes[0].shape[0], -1, *weight.shape[2:])
    return codes, [s for _, s in found]

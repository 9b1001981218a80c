"""fold-mlg: decompose conv weights into MLG form, a basis and two coefficient matrices of integer codes.

    %y = nn.conv2d(%x, %w, %b) : (tensor<1x16x4x4xf32>, tensor<32x16x3x3xf32>, tensor<32xf32>) -> ...
  ->   (b-i=2 b-c=12 bits=3,6,3)
    %w2 = mlg.generate(%basis, %u, %v) {levels = "intra-cross", bits = [3, 6, 3], scales = [...], weight_error = 0.41,
                                        output_error = 0.38}
    %y = nn.conv2d(%x, %w2, %b)

The projection is the official code's "svd" initialisation followed by quantized alternating least
squares, all deterministic: V from a rank-B_c truncated SVD of W (Co x Ci*k*k), each W_c[p] (Ci x k*k)
from a rank-B_i SVD into U[p] and W^b[p]; then each factor in turn is quantized to odd DoReFa-symmetric
codes (scale max|f| / n) and the next is refit by least squares against what the quantized ones give.
The enabling rules decide each conv's levels from b-i and b-c (`memory.plan`); `layers` sets a conv's
own B_i, B_c and bits instead (0 leaves a level out), and a value its shape cannot take is an error. A conv
without any level, a grouped conv and the classifier (not a conv) stay as they are. `weight_error` is
||W - W'|| / ||W||; `output_error` ||conv(x, W') - conv(x, W)|| / ||conv(x, W)||, bias included, over the
conv's inputs in the float model on the calibration inputs (none: samples = 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from pimc.calibrate import calibration_inputs
from pimc.diagnostics import UserError
from pimc.dialects import mlg
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.dialects.nn_conv import Conv2dOp, WeightOp
from pimc.interp import nn_ops
from pimc.interp.interpreter import Interpreter
from pimc.ir.location import names_of
from pimc.ir.types import ScalarType
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.targets.mlg.memory import Plan, factor_bits, plan

ROUNDS = 3  # quantize-and-refit sweeps over the factors
ENTRY = re.compile(r"\s*([^=;]+?)\s*=\s*(\d+),(\d+),(\d+),(\d+),(\d+)\s*")


@dataclass(frozen=True)
class FoldMlg(ModulePass):
    """Decompose every constant group-1 conv weight into MLG factors (docs/mlg.md)."""

    name = "fold-mlg"
    b_i: int = param(2, "bases per kernel", "B_i (intra-kernel level)", 1, 4096)
    b_c: int = param(44, "basis kernels", "B_c (cross-kernel level)", 1, 1 << 16)
    bits: tuple[int, ...] = param((3, 6, 3), "bits", "q_b,q_u,q_v: the factors' bits", 1, mlg.MAX_BITS)
    layers: str = param("", "-", "per conv, its own 'NAME=B_i,B_c,q_b,q_u,q_v' (B_i or B_c 0: no such level), "
                        "separated by ';'")
    calib: str = param("", "-", "calibration inputs (.npz) of the output error; seeded normal samples if empty")
    samples: int = param(16, "-", "inputs the output error is measured on (0: none)", 0, 1_000_000)
    seed: int = param(0, "-", "seed of the normal samples")

    def check(self) -> None:
        if len(self.bits) != 3:
            raise ValueError(f"bits = {','.join(map(str, self.bits))} must be three bit widths q_b,q_u,q_v")
        settings(self.layers)

    def apply(self, module: ModuleOp) -> None:
        convs = {_name(op): op for op in module.walk() if isinstance(op, Conv2dOp) and op.group == 1
                 and isinstance(getattr(op.weight, "op", None), WeightOp)}
        own = settings(self.layers)
        for name in own:
            if name not in convs:
                raise UserError(f"fold-mlg: layers names '{name}', which is no group-1 conv of the model "
                                f"(convs: {', '.join(list(convs)[:8])}{', ...' if len(convs) > 8 else ''})")
        folds = {}
        for name, op in convs.items():
            weight = constant(op.weight).astype(np.float64)
            chosen, bits = _layer_plan(name, weight.shape, own[name]) if name in own else \
                (plan(weight.shape[0], weight.shape[1], weight.shape[2] if weight.shape[2] == weight.shape[3] else 0,
                      self.b_i, self.b_c), tuple(self.bits))
            if chosen.levels is not None and weight.shape[2] == weight.shape[3]:
                bits = factor_bits(chosen.levels, bits)
                folds[op] = (chosen.levels, *project(weight, chosen.levels, chosen.b_i, chosen.b_c, bits), bits)
        if not folds:
            module.notes = (*getattr(module, "notes", ()), f"fold-mlg: no conv of the model takes B_i = {self.b_i} or "
                            f"B_c = {self.b_c} (the enabling rules): none is generated")
        errors = self._output_errors(module, folds) if self.samples and folds else {}
        for op, (levels, factors, scales, bits) in folds.items():
            _replace(op, levels, factors, scales, bits, errors.get(op))

    def _output_errors(self, module: ModuleOp, folds: dict) -> dict:
        """Per folded conv, the relative error of its output with the generated weight, on its inputs in the
        float model over the calibration inputs."""
        (func,) = module.funcs()
        readers: dict = {}
        for op in folds:
            readers.setdefault(op.input, []).append(op)
        squares = {op: [0.0, 0.0] for op in folds}

        def observe(value, array) -> None:
            for op in readers.get(value, ()):
                levels, factors, scales, _ = folds[op]
                bias = constant(op.bias) if op.bias is not None else None
                exact = nn_ops.conv2d(None, op, array, constant(op.weight), bias)
                made = nn_ops.conv2d(None, op, array, mlg.generate(levels, factors, scales, op.weight.type.shape), bias)
                squares[op][0] += float(np.sum((made - exact) ** 2))
                squares[op][1] += float(np.sum(exact ** 2))

        for sample in calibration_inputs(func, self.calib, self.samples, self.seed, self.name):
            Interpreter(module, record=False, observer=observe).run(sample)
        return {op: float(np.sqrt(s / total)) if total else 0.0 for op, (s, total) in squares.items()}


def settings(text: str) -> dict[str, tuple[int, ...]]:
    """`layers` read: conv name -> (B_i, B_c, q_b, q_u, q_v); a ValueError if it is not of that form."""
    chosen = {}
    for entry in filter(str.strip, text.split(";")):
        found = ENTRY.fullmatch(entry)
        if found is None:
            raise ValueError(f"layers entry '{entry.strip()}' is not NAME=B_i,B_c,q_b,q_u,q_v")
        chosen[found[1]] = tuple(int(v) for v in found.groups()[1:])
    return chosen


def _layer_plan(name: str, shape: tuple[int, ...], values: tuple[int, ...]) -> tuple[Plan, tuple[int, int, int]]:
    """The plan `layers` asks of conv `name`; a UserError naming the conv and the option if its shape cannot take
    it: 0 < B_i < min(Ci, k*k) for the intra level, 0 < B_c < min(Co, Ci*k*k) for the cross level."""
    co, ci, kh, kw = shape
    b_i, b_c, *bits = values
    where = f"fold-mlg: layer '{name}' ({co}x{ci}x{kh}x{kw}): option layers:"
    for symbol, value, limit, level in (("B_i", b_i, min(ci, kh * kw), "intra-kernel"),
                                        ("B_c", b_c, min(co, ci * kh * kw), "cross-kernel")):
        if value and not value < limit:
            raise UserError(f"{where} {symbol} = {value} is out of range: the {level} level needs {symbol} from 1 to "
                            f"{limit - 1}, or 0 to leave it out")
    for symbol, value in zip(("q_b", "q_u", "q_v"), bits):
        if not 1 <= value <= mlg.MAX_BITS:
            raise UserError(f"{where} {symbol} = {value} is out of range: bits from 1 to {mlg.MAX_BITS}")
    levels = {(True, True): "intra-cross", (True, False): "intra", (False, True): "cross"}.get((b_i > 0, b_c > 0))
    return Plan(levels, b_i, b_c if b_c else co), tuple(bits)


def _name(op: Conv2dOp) -> str:
    return (names_of(op.location) or (op.weight.op.ref,))[0]


def _replace(op: Conv2dOp, levels: str, factors: list, scales: list, bits: list, output_error: float | None) -> None:
    """Put mlg.generate of the factors in place of the conv's weight."""
    weight = constant(op.weight).astype(np.float64)
    norm = np.linalg.norm(weight)
    error = float(np.linalg.norm(weight - mlg.generate(levels, factors, scales, weight.shape)) / norm) if norm else 0.0
    hint = op.weight.op.ref
    stored = [new_weight(op, f"{hint}.{name}", codes, ScalarType("i8" if b <= 7 else "i16"))
              for name, codes, b in zip(mlg.LEVELS[levels], factors, bits)]
    for w in stored:
        op.parent.insert_before(w, op)
    extra = {"output_error": output_error} if output_error is not None else {}
    generate = mlg.GenerateOp.build([w.output for w in stored], [op.weight.type], op.location, levels=levels,
                                    bits=bits, scales=scales, weight_error=error, **extra)
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

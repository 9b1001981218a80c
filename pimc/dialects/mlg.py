"""The `mlg` dialect: weights generated in situ from low-precision bases and coefficients (MLG; docs/mlg.md).

    %w = mlg.generate(%b, %u, %v) {bits = [3, 6, 3], levels = "intra-cross", scales = [...]} : (tensor<12x2x3x3xi8>, tensor<12x16x2xi8>, tensor<32x12xi8>) -> tensor<32x16x3x3xf32>

A weight W (Co x Ci x k x k, or Co x Ci for a Gemm) is never stored. `generate` is the one definition
of how it is made from integer DoReFa-symmetric codes (odd integers 2j - n, n = 2^q - 1), each factor
with its own bit width q and per-tensor scale s (value = code * s):

    intra (level 1): W_c[p] = U[p] @ W^b[p]       U: B_c x Ci x B_i,  W^b: B_c x B_i x k*k
    cross (level 2): W = V @ W_c                  V: Co x B_c,        W_c: B_c x Ci*k*k

Without the intra level the basis is W_c itself (B_c x Ci x k x k); without the cross level B_c = Co.
The integer product is exact (int64); W = s_b * s_u * s_v * (V @ (U @ W^b)) is not re-quantized.
`mlg.weight` is that integer product itself, held in the weight store as `nn.weight` holds a constant (it
is one, to every pass that reads constants), with the factors it was made of as operands for lower-mlg.
"""

from __future__ import annotations

from math import prod

import numpy as np

from pimc.dialects.nn_base import fmt
from pimc.dialects.nn_conv import WeightOp
from pimc.ir.irdl import FLOAT, FLOATS, FLOAT_TENSOR, INT_TENSOR, INTS, WEIGHT_REF, DeclaredOp, VerifyError, attr
from pimc.ir.irdl import irdl_op, one_of, result, variadic_operand

LEVELS = {"intra-cross": ("basis", "coeff_in", "coeff_out"), "intra": ("basis", "coeff_in"),
          "cross": ("basis", "coeff_out")}
MAX_BITS = 16  # DoReFa-symmetric codes of 1..16 bits


def code_limit(bits: int) -> int:
    """n = 2^bits - 1: the largest code; codes are the odd integers in [-n, n]."""
    return (1 << bits) - 1


def integer_weight(levels: str, factors: list[np.ndarray], co: int) -> np.ndarray:
    """The integer weight V @ (U @ W^b) of integer codes, int64, shape Co x (Ci * k * k)."""
    named = dict(zip(LEVELS[levels], (np.asarray(f, dtype=np.int64) for f in factors)))
    basis = named["basis"]
    if "coeff_in" in named:
        flat = basis.reshape(basis.shape[0], basis.shape[1], -1)
        basis = np.matmul(named["coeff_in"], flat)  # B_c x Ci x k*k
    basis = basis.reshape(basis.shape[0], -1)
    return named["coeff_out"] @ basis if "coeff_out" in named else basis.reshape(co, -1)


def generate(levels: str, factors: list[np.ndarray], scales, shape) -> np.ndarray:
    """The float64 weight of `shape` that the codes `factors` with per-factor `scales` stand for."""
    return (integer_weight(levels, factors, shape[0]).astype(np.float64) * float(prod(scales))).reshape(shape)


def factor_shapes(levels: str, co: int, ci: int, kernel: tuple[int, ...], b_i: int, b_c: int) -> tuple:
    """The shapes of the factors of a Co x Ci x kernel weight with B_i bases per kernel and B_c basis kernels."""
    b_c = b_c if "cross" in levels else co
    shapes = {"basis": (b_c, b_i if "intra" in levels else ci, *kernel), "coeff_in": (b_c, ci, b_i),
              "coeff_out": (co, b_c)}
    return tuple(shapes[name] for name in LEVELS[levels])


# what both ops record of a generated weight: its levels, each factor's bits and scale, and fold-mlg's errors
LEVELS_ATTR, BITS_ATTR, SCALES_ATTR = attr(one_of(*LEVELS)), attr(INTS), attr(FLOATS)
WEIGHT_ERROR = attr(FLOAT, default=None, doc="fold-mlg's ||W - generated|| / ||W|| for the weight it replaced")
OUTPUT_ERROR = attr(FLOAT, default=None, doc="fold-mlg's relative error of the layer's output on calibration inputs")


class Factored:
    """What the ops of generated weights share: factors named by `levels`, B_i and B_c, the weight's shape."""

    def named(self) -> dict:
        """factor name ('basis', 'coeff_in', 'coeff_out') -> value."""
        return dict(zip(LEVELS[self.levels], self.factors))

    def hyper(self) -> tuple[int, int]:
        """(B_i, B_c): bases per kernel (0 without the intra level) and basis kernels."""
        named = self.named()
        b_i = named["coeff_in"].type.shape[2] if "coeff_in" in named else 0
        return b_i, named["basis"].type.shape[0]

    def weight_shape(self) -> tuple[int, ...]:
        """Co x Ci x kernel: the generated weight's own shape (the result may be a row-major reshape of it)."""
        named = self.named()
        basis = named["basis"].type.shape
        ci = named["coeff_in"].type.shape[1] if "coeff_in" in named else basis[1]
        co = named["coeff_out"].type.shape[0] if "coeff_out" in named else basis[0]
        return (co, ci, *basis[2:])

    def verify_codes(self) -> None:
        """One factor, bit width and scale per factor of `levels`, each factor of the shape B_i and B_c give."""
        names = LEVELS[self.levels]
        if len(self.factors) != len(names):
            raise VerifyError(f"levels \"{self.levels}\" takes {len(names)} factors ({', '.join(names)}), "
                              f"but has {len(self.factors)}")
        if len(self.bits) != len(names) or len(self.scales) != len(names):
            raise VerifyError(f"bits and scales need one entry per factor ({len(names)})")
        for name, bits, scale in zip(names, self.bits, self.scales):
            if not 1 <= bits <= MAX_BITS:
                raise VerifyError(f"{name} bits must be in [1, {MAX_BITS}], but is {bits}")
            if not scale > 0:
                raise VerifyError(f"{name} scale must be positive, but is {scale}")
        basis = self.named()["basis"].type.shape
        if len(basis) < 2:
            raise VerifyError(f"basis must have rank at least 2, but has shape {fmt(basis)}")
        co, ci, *kernel = self.weight_shape()
        b_i, b_c = self.hyper()
        expected = factor_shapes(self.levels, co, ci, tuple(kernel), b_i, b_c)
        for name, value, shape in zip(names, self.factors, expected):
            if value.type.shape != shape:
                raise VerifyError(f"{name} must have shape {fmt(shape)} for a {fmt((co, ci, *kernel))} weight "
                                  f"(B_i {b_i}, B_c {b_c}), but has {fmt(value.type.shape)}")
        if prod(self.output.type.shape) != co * ci * prod(kernel):
            raise VerifyError(f"result {self.output.type} does not hold the generated {fmt((co, ci, *kernel))} weight")


@irdl_op("mlg.generate")
class GenerateOp(Factored, DeclaredOp):
    """The float weight generated from integer factors (basis, then coeff_in if intra, coeff_out if cross).

    %w = mlg.generate(%b, %v) {bits = [3, 3], levels = "cross", scales = [0.1, 0.2]} : (tensor<6x1x3x3xi8>, tensor<16x6xi8>) -> tensor<16x1x3x3xf32>
    """

    factors = variadic_operand(INT_TENSOR)
    output = result(FLOAT_TENSOR)
    levels, bits, scales = LEVELS_ATTR, BITS_ATTR, SCALES_ATTR
    weight_error, output_error = WEIGHT_ERROR, OUTPUT_ERROR

    def verify_(self) -> None:
        self.verify_codes()


@irdl_op("mlg.weight")
class IntegerWeightOp(Factored, WeightOp):
    """The integer weight V @ (U @ W^b) of its factors' codes, held in the weight store under `ref`: a constant
    (an nn.weight) to the passes that read one, its factors kept for lower-mlg.

    %w = mlg.weight(%b, %u, %v) {ref = "conv2.w", levels = "intra-cross"} : (tensor<12x2x3x3xi8>, tensor<12x16x2xi8>, tensor<32x12xi8>) -> tensor<32x16x3x3xi14>
    """

    factors = variadic_operand(INT_TENSOR)
    output = result(INT_TENSOR)
    ref = attr(WEIGHT_REF)
    levels, bits, scales = LEVELS_ATTR, BITS_ATTR, SCALES_ATTR
    weight_error, output_error = WEIGHT_ERROR, OUTPUT_ERROR

    def verify_(self) -> None:
        super().verify_()
        self.verify_codes()


OPS = (GenerateOp, IntegerWeightOp)

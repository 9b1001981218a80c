"""numpy semantics of the `mlg` dialect: a generated weight is its factors' integer product times their scales.

    %w = mlg.generate(%b, %u, %v) ...   ->   s_b * s_u * s_v * (V @ (U @ W^b)), reshaped to the result
    %w = mlg.weight(%b, %u, %v) {ref}   ->   V @ (U @ W^b), as the weight store holds it under `ref`
"""

from __future__ import annotations

from pimc.dialects import mlg
from pimc.interp.registry import impl


@impl(mlg.GenerateOp)
def generate(interp, op, *factors):
    weight = mlg.generate(op.levels, list(factors), op.scales, op.weight_shape())
    return weight.reshape(op.output.type.shape).astype(op.output.type.element.numpy_dtype())


@impl(mlg.IntegerWeightOp)
def integer_weight(interp, op, *factors):
    return interp.weight(op.ref).reshape(op.output.type.shape)

"""MLG layers in ONNX: a weight computed by multi-level generation imports as `mlg.generate` (docs/mlg.md).

    Tanh..Round..Sub (U) -> MatMul(U, Reshape(basis)) -> Reshape -> MatMul(V, .) -> Reshape -> Conv(x, .)
      ->  %w = mlg.generate(%basis, %u, %v) {bits = [3, 6, 3], levels = "intra-cross", scales = [...]}

Every node of a generation subgraph has constant inputs, so the importer folds them; at the weight's
first use `generated` walks back from it through shape-only nodes to the MatMuls that made it, reads
their folded operands as the factors, and recovers each factor's integer codes exactly: its bit width
q from its DoReFa quantizer (the constant n = 2^q - 1 that multiplies before Round) or, where an
exporter folded the quantizer away, as the smallest q whose grid holds every value; scale s = max|v| / n,
code = round(v / s), and every value must equal code * s to float32 rounding. The factors' product must
give back the folded weight. A weight computed by MatMul from anything else stays a materialised
weight, with a note; a quantized generation that breaks these rules is an error at its node.
"""

from __future__ import annotations

import numpy as np
import onnx

from pimc.diagnostics import error_at
from pimc.dialects import mlg
from pimc.dialects.nn_conv import WeightOp
from pimc.frontend.types import array_type

SHAPE_ONLY = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Cast"})
EXACT = 1e-6  # |v - code * s| <= EXACT * max|v|: float32 arithmetic, far below a 16-bit step (3e-5)
WEIGHT_MATCH = 1e-5  # the factors' product against the folded weight, relative to its largest element


class NotGenerated(Exception):
    """The computed weight is not an MLG generation; the message says why, for the note."""


def generated(imp, tensor):
    """The `mlg.generate` result for constant `tensor` if MLG generation computed it, else None."""
    producers = _producers(imp)
    top = _skip_shape_ops(producers, tensor.name)
    if top is not None and top.op_type == "Transpose" and _op_type(_skip_shape_ops(producers, top.input[0])) == "MatMul":
        imp.prepared.notes += (f"{imp.node.op_type} '{imp.node.name}': its weight is a transposed MatMul product, "
                               "not read as an MLG generation; imported as a materialised weight",)
        return None
    if _op_type(top) != "MatMul":
        return None
    try:
        levels, factors = _levels(imp, producers, top, tensor.const.shape)
        quantized = [_quantizer_bits(imp, producers, name) for name in factors.values()]
        if not any(quantized):
            codes = [_grid(imp, name, _smallest_bits(imp, name)) for name in factors.values()]
        else:
            codes = [_grid(imp, name, bits, layer=_layer(imp, role)) for (role, name), bits
                     in zip(factors.items(), quantized)]
    except NotGenerated as why:
        imp.prepared.notes += (f"{imp.node.op_type} '{imp.node.name}': its weight is computed by MatMul but {why}; "
                               "imported as a materialised weight",)
        return None
    return _emit(imp, tensor, levels, factors, codes)


def _op_type(node: onnx.NodeProto | None) -> str:
    return node.op_type if node is not None else ""


def _layer(imp, role: str) -> str:
    return f"{imp.node.op_type} '{imp.node.name}': malformed MLG generation subgraph: {role}"


def _producers(imp) -> dict[str, onnx.NodeProto]:
    known = getattr(imp, "mlg_producers", None)
    if known is None:
        known = {out: node for node in imp.prepared.graph.node for out in node.output if out}
        imp.mlg_producers = known
    return known


def _skip_shape_ops(producers, name: str) -> onnx.NodeProto | None:
    node = producers.get(name)
    while node is not None and node.op_type in SHAPE_ONLY:
        node = producers.get(node.input[0])
    return node


def _const(imp, name: str) -> np.ndarray:
    tensor = imp.tensors.get(name)
    if tensor is None or tensor.const is None:
        raise NotGenerated(f"'{name}' is not a constant")
    return tensor.const


def _levels(imp, producers, top, shape) -> tuple[str, dict[str, str]]:
    """The generation levels and each factor's tensor name, from the MatMul `top` that made the weight."""
    left, right = _const(imp, top.input[0]), _const(imp, top.input[1])
    if left.ndim == 3:
        if right.ndim != 3 or shape[0] != left.shape[0]:
            raise NotGenerated("its batched MatMul is not U (B_c x Ci x B_i) @ W^b (B_c x B_i x k*k)")
        return "intra", {"basis": top.input[1], "coeff_in": top.input[0]}
    if left.ndim != 2 or shape[0] != left.shape[0]:
        raise NotGenerated("its MatMul is not V (Co x B_c) @ W_c")
    inner = _skip_shape_ops(producers, top.input[1])
    if inner is not None and inner.op_type == "MatMul" and _const(imp, inner.input[0]).ndim == 3:
        return "intra-cross", {"basis": inner.input[1], "coeff_in": inner.input[0], "coeff_out": top.input[0]}
    return "cross", {"basis": top.input[1], "coeff_out": top.input[0]}


def _quantizer_bits(imp, producers, name: str) -> int | None:
    """q from the DoReFa quantizer that computed `name`: Round(Mul(., n)) with n = 2^q - 1; None without one,
    -1 if n is not of that form."""
    frontier, seen = [name], set()
    while frontier:
        node = producers.get(frontier.pop())
        if node is None or id(node) in seen or node.op_type in ("MatMul", "Tanh"):
            continue
        seen.add(id(node))
        if node.op_type == "Round":
            return _round_bits(imp, producers.get(node.input[0]))
        frontier.extend(i for i in node.input if i)
    return None


def _round_bits(imp, mul) -> int:
    scalars = [imp.tensors[i].const for i in (mul.input if mul is not None and mul.op_type == "Mul" else ())
               if i in imp.tensors and imp.tensors[i].const is not None and imp.tensors[i].const.size == 1]
    levels = float(scalars[-1].reshape(-1)[0]) if scalars else 0.0
    if levels < 1 or levels != round(levels) or (int(levels) + 1) & int(levels):
        return -1
    return (int(levels) + 1).bit_length() - 1


def _smallest_bits(imp, name: str) -> int:
    values = _const(imp, name).astype(np.float64)
    for bits in range(1, mlg.MAX_BITS + 1):
        if _codes(values, bits) is not None:
            return bits
    raise NotGenerated(f"'{name}' is not on a DoReFa-symmetric grid of 1 to {mlg.MAX_BITS} bits")


def _codes(values: np.ndarray, bits: int) -> tuple[np.ndarray, float] | None:
    """(odd integer codes, scale) with values = codes * scale to float32 rounding, or None."""
    top = float(np.max(np.abs(values)))
    n = mlg.code_limit(bits)
    if top == 0:
        return None
    scale = top / n
    codes = np.round(values / scale)
    exact = np.max(np.abs(values - codes * scale)) <= EXACT * top and np.all(codes % 2 == 1)
    return (codes.astype(np.int64), scale) if exact else None


def _grid(imp, name: str, bits: int | None, layer: str | None = None) -> tuple[np.ndarray, int, float]:
    """(codes, bits, scale) of factor `name`; with `layer` (a quantized generation) a mismatch is an error."""
    if layer is not None and bits is None:
        bits = _smallest_bits(imp, name)
    if bits is not None and not 1 <= bits <= mlg.MAX_BITS:
        raise error_at(imp.location, f"{layer} quantizer bits out of range: its levels are not 2^q - 1 with q in "
                                     f"[1, {mlg.MAX_BITS}]")
    found = _codes(_const(imp, name).astype(np.float64), bits)
    if found is None:
        if layer is None:
            raise NotGenerated(f"'{name}' is not on its {bits}-bit grid")
        raise error_at(imp.location, f"{layer} values are not {bits}-bit DoReFa-symmetric codes times one scale")
    return found[0], bits, found[1]


def _emit(imp, tensor, levels: str, factors: dict[str, str], codes: list):
    co, *rest = tensor.const.shape
    b_c = codes[0][0].shape[0]
    per_kernel = int(np.prod(rest)) if rest else 1
    kernel = tuple(rest[1:]) if len(rest) > 1 else ()
    ci = per_kernel // max(int(np.prod(kernel)), 1)
    b_i = codes[1][0].shape[-1] if "coeff_in" in factors else 0
    shapes = mlg.factor_shapes(levels, co, ci, kernel, b_i, b_c)
    arrays = []
    for (role, name), (array, bits, _), shape in zip(factors.items(), codes, shapes):
        if array.size != int(np.prod(shape)):
            raise error_at(imp.location, f"{_layer(imp, role)} has {array.size} elements, but a {co}x{ci} weight "
                                         f"needs {'x'.join(map(str, shape))}")
        arrays.append(array.reshape(shape).astype(np.int8 if bits <= 7 else np.int16 if bits <= 15 else np.int32))
    scales = [scale for _, _, scale in codes]
    weight = mlg.generate(levels, arrays, scales, (co, ci, *kernel))
    expected = tensor.const.astype(np.float64).reshape(weight.shape)
    if np.max(np.abs(weight - expected)) > WEIGHT_MATCH * max(float(np.max(np.abs(expected))), 1e-30):
        raise error_at(imp.location, f"{_layer(imp, 'the factors')}' product does not give the folded weight")
    values = [_factor_weight(imp, _root_name(imp, name, role, tensor.name), array)
              for (role, name), array in zip(factors.items(), arrays)]
    op = mlg.GenerateOp.build(values, [tensor.type], levels=levels, bits=[b for _, b, _ in codes], scales=scales)
    (result,) = imp.append(op)
    result.name_hint = tensor.name
    return result


def _factor_weight(imp, hint: str, array: np.ndarray):
    ref = imp.module.weights.add(hint, array)
    op = WeightOp.build([], [array_type(array)], ref=ref)
    (value,) = imp.append(op)
    value.name_hint = hint
    return value


def _root_name(imp, name: str, role: str, weight: str) -> str:
    """The initializer a factor was computed from (the trained parameter), else `<weight>.<role>`."""
    producers, frontier = _producers(imp), [name]
    while frontier:
        current = frontier.pop()
        if current in imp.prepared.constants:
            return current
        node = producers.get(current)
        if node is not None and node.op_type not in ("MatMul", "Constant"):
            frontier.extend(i for i in node.input[:1] if i)
    return f"{weight}.{role}"

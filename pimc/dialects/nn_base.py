"""What every `nn` op shares: result types follow from operands and attributes.

    %y = nn.add(%a, %b) : (tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>

An op's `infer_types` computes its result types, raising VerifyError with a
specific message when the operands or attributes do not fit together. The
importer builds ops through `create`, which uses it; the verifier compares it
with the types the op carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pimc.ir.core import Value
from pimc.ir.irdl import DeclaredOp, VerifyError
from pimc.ir.location import Location
from pimc.ir.types import ScalarType, TensorType

Shape = tuple[int, ...]


class NnOp(DeclaredOp):
    """Base of `nn` ops; subclasses implement `infer_types`."""

    def infer_types(self) -> list[TensorType]:
        raise NotImplementedError

    @classmethod
    def create(cls, operands: Sequence[Value], location: Location | None = None, **attributes: Any) -> NnOp:
        """Build the op with inferred result types; attributes equal to their default are left out."""
        defs = cls.definition.attributes
        kept = {k: v for k, v in attributes.items() if v is not None and defs[k].kind.coerce(v) != defs[k].default}
        probe = cls.build(list(operands), [], location, **kept)
        types = probe.infer_types()
        probe.operands = ()
        return cls(list(operands), types, probe.attributes, location=probe.location)

    def verify_(self) -> None:
        expected = self.infer_types()
        actual = [r.type for r in self.results]
        if actual != expected:
            raise VerifyError(
                f"result type {_types(actual)} does not match {_types(expected)} implied by its operands and attributes"
            )


def _types(types: Sequence[TensorType]) -> str:
    return ", ".join(map(str, types)) if types else "()"


def fmt(shape: Sequence[int]) -> str:
    """`1x3x8x8`; a scalar's empty shape is `[]`."""
    return "x".join(map(str, shape)) if shape else "[]"


def tensor_of(shape: Sequence[int], element: ScalarType) -> TensorType:
    return TensorType(tuple(int(d) for d in shape), element)


def require_rank(value: Value, name: str, rank: int | None = None, at_least: int = 0) -> Shape:
    """The static shape of `value`, checked to have `rank` (or at least `at_least`) dimensions."""
    shape = value.type.shape
    if None in shape:
        raise VerifyError(f"'{name}' must have a static shape, but is {value.type}")
    if rank is not None and len(shape) != rank:
        raise VerifyError(f"'{name}' must have rank {rank}, but has shape {fmt(shape)}")
    if len(shape) < at_least:
        raise VerifyError(f"'{name}' must have rank at least {at_least}, but has shape {fmt(shape)}")
    return shape


def same_element(*values: Value) -> ScalarType:
    """The common element type of `values`; differing ones are an error."""
    elements = [v.type.element for v in values]
    if len(set(elements)) > 1:
        raise VerifyError(f"operand element types {' and '.join(dict.fromkeys(map(str, elements)))} differ")
    return elements[0]


def broadcast(*shapes: Shape) -> Shape:
    """The numpy-style broadcast of `shapes` (ONNX multidirectional broadcasting)."""
    rank = max(len(s) for s in shapes)
    result = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise VerifyError(f"operand shapes {' and '.join(fmt(s) for s in shapes)} are not broadcastable")
        result.append(dims.pop() if dims else 1)
    return tuple(result)


def broadcasts_to(shape: Shape, target: Shape, what: str) -> None:
    """Unidirectional broadcasting: `shape` must stretch to `target` without changing it."""
    if len(shape) > len(target) or any(s not in (1, t) for s, t in zip(reversed(shape), reversed(target))):
        raise VerifyError(f"{what} shape {fmt(shape)} does not broadcast to {fmt(target)}")


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    """`axis` in [-rank, rank) as a non-negative index."""
    if not -rank <= axis < rank:
        raise VerifyError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank


def check_lengths(name: str, values: Sequence[int], length: int, minimum: int | None = None) -> None:
    """`values` has `length` entries, each at least `minimum` if given."""
    if len(values) != length:
        raise VerifyError(f"'{name}' must have {length} entries, but is {list(values)}")
    if minimum is not None and any(v < minimum for v in values):
        word = "positive" if minimum == 1 else "non-negative"
        raise VerifyError(f"'{name}' entries must be {word}, but are {list(values)}")


def window_output(size: int, kernel: int, stride: int, begin: int, end: int, dilation: int, ceil: bool = False) -> int:
    """Output length of a sliding window (conv, pool); ceil mode drops a last window that starts in the end padding."""
    span = size + begin + end - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    if not ceil:
        return span // stride + 1
    out = -(-span // stride) + 1
    return out - 1 if (out - 1) * stride >= size + begin else out

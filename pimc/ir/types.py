"""Types in MLIR spelling: `f32`, `i8`, `ui4`, `tensor<1x3x224x224xf32>`."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

_SCALAR = re.compile(r"(f16|bf16|f32|f64|index|none|(?:[su]?i)([1-9][0-9]*))")
_TENSOR = re.compile(r"tensor<((?:(?:[0-9]+|\?)x)*)([a-z0-9]+)>")
_FLOATS = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}


@dataclass(frozen=True, slots=True)
class ScalarType:
    """An element type: `f32`, `bf16`, `i8`, `si4`, `ui2`, `index`."""

    name: str

    def __post_init__(self) -> None:
        match = _SCALAR.fullmatch(self.name)
        if match is None or (match.group(2) and not 1 <= int(match.group(2)) <= 64):
            raise ValueError(f"'{self.name}' is not a scalar type")

    def __str__(self) -> str:
        return self.name

    @property
    def is_float(self) -> bool:
        return self.name in _FLOATS

    @property
    def is_integer(self) -> bool:
        return "i" in self.name and self.name not in ("index",)

    @property
    def is_unsigned(self) -> bool:
        return self.name.startswith("ui")

    @property
    def width(self) -> int:
        if self.is_float:
            return _FLOATS[self.name]
        return int(self.name.lstrip("sui")) if self.is_integer else 64

    @property
    def bounds(self) -> tuple[int, int]:
        """The smallest and largest value of an integer type: `ui8` -> (0, 255), `i8` -> (-128, 127)."""
        if self.is_unsigned or self.name == "i1":
            return 0, (1 << self.width) - 1
        return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1

    def numpy_dtype(self):
        """The narrowest numpy dtype that holds every value of this type."""
        import numpy as np

        if self.is_float:
            return np.dtype("float32" if self.name == "bf16" else f"float{self.width}")
        if self.name == "i1":
            return np.dtype(bool)
        bits = next(b for b in (8, 16, 32, 64) if b >= self.width)
        return np.dtype(f"{'u' if self.is_unsigned else ''}int{bits}")


@dataclass(frozen=True, slots=True)
class TensorType:
    """A ranked tensor; `None` is a dynamic dimension: `tensor<?x10xf32>`."""

    shape: tuple[int | None, ...]
    element: ScalarType

    def __str__(self) -> str:
        return _spelling(self)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return None not in self.shape

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)


@functools.lru_cache(maxsize=1 << 16)
def _spelling(tensor_type: TensorType) -> str:
    """`tensor<1x?x8xf32>`, spelled once per distinct type: printers and emitters ask for it again and again."""
    dims = "".join(("?" if d is None else str(d)) + "x" for d in tensor_type.shape)
    return f"tensor<{dims}{tensor_type.element}>"


Type = ScalarType | TensorType

f32 = ScalarType("f32")
i1 = ScalarType("i1")
i8 = ScalarType("i8")
i32 = ScalarType("i32")
i64 = ScalarType("i64")


def tensor(*shape: int | None, element: ScalarType | str = f32) -> TensorType:
    """`tensor(1, 3, element="i8")` is `tensor<1x3xi8>`."""
    if isinstance(element, str):
        element = ScalarType(element)
    return TensorType(tuple(shape), element)


@functools.lru_cache(maxsize=4096)
def parse_type(text: str) -> Type:
    """Parse a type spelled as MLIR spells it; raise ValueError if it is not one."""
    if not (text.startswith("tensor<") and text.endswith(">")):
        return ScalarType(text)
    match = _TENSOR.fullmatch(text)
    if match is None:
        raise ValueError(f"'{text}' has a malformed shape")
    dims = match.group(1).split("x")[:-1]
    try:
        element = ScalarType(match.group(2))
    except ValueError as error:
        raise ValueError(f"'{text}': {error}") from None
    return TensorType(tuple(None if d == "?" else int(d) for d in dims), element)

"""Attributes are plain immutable Python values.

An attribute is an `int`, `float`, `bool`, `str`, a `Type`, a `SymbolRef`, or a
tuple of attributes: `{strides = [1, 1], mode = "nearest", w = @main}`.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

from pimc.ir.types import ScalarType, TensorType


@dataclass(frozen=True, slots=True)
class SymbolRef:
    """A reference to a symbol by name: `@main`."""

    name: str

    def __str__(self) -> str:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.$-]*", self.name):
            return f"@{self.name}"
        return "@" + escape_string(self.name)


Attr = int | float | bool | str | ScalarType | TensorType | SymbolRef | tuple


def is_attr(value: object) -> bool:
    """Whether `value` is a well-formed attribute value."""
    if isinstance(value, tuple):
        return all(is_attr(v) for v in value)
    return isinstance(value, (int, float, str, ScalarType, TensorType, SymbolRef))


def format_float(value: float) -> str:
    """The shortest MLIR float literal that reads back as `value`; hex bits if not finite."""
    if not math.isfinite(value):
        return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016X} : f64"
    text = repr(value)
    if "." in text:
        return text
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}.0" + (f"e{exponent}" if exponent else "")


def float_from_bits(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


_PLAIN = re.compile(r'[ !#-\[\]-~]*')  # printable ASCII but `"` and `\`


def escape_string(text: str) -> str:
    """Quote as MLIR does: printable ASCII kept, `"` and `\\` escaped, other bytes as `\\XX`."""
    if _PLAIN.fullmatch(text):
        return f'"{text}"'
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:02X}")
    return '"' + "".join(out) + '"'


def unescape_string(quoted: str) -> str:
    """Inverse of `escape_string`; also reads `\\n` and `\\t`."""
    body, out, i = quoted[1:-1], bytearray(), 0
    if "\\" not in body:
        return body
    simple = {"n": b"\n", "t": b"\t", '"': b'"', "\\": b"\\"}
    while i < len(body):
        if body[i] != "\\":
            out += body[i].encode()
            i += 1
        elif body[i + 1] in simple:
            out += simple[body[i + 1]]
            i += 2
        else:
            out.append(int(body[i + 1 : i + 3], 16))
            i += 3
    return out.decode(errors="surrogateescape")


def format_attr(value: Attr) -> str:
    """The textual form of an attribute value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return escape_string(value)
    if isinstance(value, tuple):
        if all(type(v) is int for v in value):  # shapes, strides, rows: most of a module's attributes
            return "[" + ", ".join(map(str, value)) + "]"
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    return str(value)

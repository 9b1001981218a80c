"""IR -> text, in the uniform syntax or, with `generic=True`, MLIR's generic op syntax.

    %y = nn.relu(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32> loc("relu1")
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp
from pimc.ir.attributes import SymbolRef, escape_string, format_attr
from pimc.ir.core import Block, Operation, Value
from pimc.ir.location import UnknownLoc

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.$-]")


def sanitize_name(hint: str) -> str:
    """A name hint as a legal SSA name: `/layer1/Conv_output_0` -> `_layer1_Conv_output_0`."""
    return _NAME_CHARS.sub("_", hint)


@dataclass
class Printer:
    """Prints one module; SSA names come from name hints, made unique, else numbers."""

    generic: bool = False
    print_loc: bool = False
    _names: dict[Value, str] = field(default_factory=dict)
    _taken: set[str] = field(default_factory=set)
    _next_number: int = 0
    _lines: list[str] = field(default_factory=list)

    def print_module(self, module: ModuleOp) -> str:
        attrs = {k: v for k, v in module.attributes.items() if k != "sym_name"}
        header = "module" + (f" @{_symbol(module.sym_name)}" if module.sym_name else "")
        if attrs:
            header += " attributes " + _attr_dict(attrs)
        self._lines.append(header + " {")
        for op in module.body.ops:
            if isinstance(op, FuncOp):
                self._print_func(op)
            else:
                self._print_op(op, 1)
        self._lines.append("}")
        return "\n".join(self._lines) + "\n"

    def _print_func(self, func: FuncOp) -> None:
        self._names, self._taken, self._next_number = {}, set(), 0
        args = ", ".join(f"{self._name(a)}: {a.type}" for a in func.arguments)
        results = func.result_types
        header = f"  func.func @{_symbol(func.sym_name)}({args})"
        if results:
            header += " -> " + (str(results[0]) if len(results) == 1 else "(" + ", ".join(map(str, results)) + ")")
        extra = {k: v for k, v in func.attributes.items() if k not in ("sym_name", "result_types")}
        if extra:
            header += " attributes " + _attr_dict(extra)
        self._lines.append(header + " {")
        self._print_block_ops(func.body, 2)
        self._lines.append("  }")

    def _print_block_ops(self, block: Block, depth: int) -> None:
        for op in block.ops:
            self._print_op(op, depth)

    def _print_op(self, op: Operation, depth: int) -> None:
        indent = "  " * depth
        results = ", ".join(self._name(r) for r in op.results)
        name = escape_string(op.op_name) if self.generic else op.op_name
        line = f"{indent}{results + ' = ' if results else ''}{name}({', '.join(self._name(v) for v in op.operands)})"
        if op.regions:
            self._lines.append(line + " ({")
            self._print_regions(op, depth)
            line = indent + "})"
        if op.attributes:
            line += " " + _attr_dict(op.attributes)
        inputs = ", ".join(str(v.type) for v in op.operands)
        outputs = [str(r.type) for r in op.results]
        shown = outputs[0] if len(outputs) == 1 else "(" + ", ".join(outputs) + ")"
        line += f" : ({inputs}) -> {shown}"
        if self.print_loc and not isinstance(op.location, UnknownLoc):
            line += f" loc({op.location})"
        self._lines.append(line)

    def _print_regions(self, op: Operation, depth: int) -> None:
        for index, region in enumerate(op.regions):
            if index:
                self._lines.append("  " * depth + "}, {")
            block = region.block
            if block.args:
                args = ", ".join(f"{self._name(a)}: {a.type}" for a in block.args)
                self._lines.append("  " * depth + f"^bb0({args}):")
            self._print_block_ops(block, depth + 1)

    def _name(self, value: Value) -> str:
        name = self._names.get(value)
        if name is not None:
            return name
        hint = sanitize_name(value.name_hint) if value.name_hint else None
        if hint is None or hint.isdigit():
            while str(self._next_number) in self._taken:
                self._next_number += 1
            hint = str(self._next_number)
        candidate, suffix = hint, 0
        while candidate in self._taken:
            suffix += 1
            candidate = f"{hint}_{suffix}"
        self._taken.add(candidate)
        self._names[value] = "%" + candidate
        return "%" + candidate


def _attr_dict(attrs: dict) -> str:
    return "{" + ", ".join(f"{_key(k)} = {format_attr(v)}" for k, v in attrs.items()) + "}"


_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_$.-]*")


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else escape_string(key)


def _symbol(name: str) -> str:
    return str(SymbolRef(name))[1:]


def print_module(module: ModuleOp, generic: bool = False, print_loc: bool = False) -> str:
    return Printer(generic, print_loc).print_module(module)


def value_names(module: ModuleOp) -> dict[Value, str]:
    """Every value's SSA name as the printer spells it (it names values in this order), without the `%`."""
    names: dict[Value, str] = {}
    for func in module.funcs():
        printer = Printer()
        for value in [*func.arguments, *(r for op in func.walk() for r in op.results)]:
            names[value] = printer._name(value)[1:]
    return names


def attr_text(attrs: dict) -> str:
    """An attribute dictionary as the printer writes it: `{kernel = [3, 3], pads = [1, 1, 1, 1]}`."""
    return _attr_dict(attrs) if attrs else "{}"

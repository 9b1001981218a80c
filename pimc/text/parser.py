"""Text -> IR. lark parses (LALR) and calls `_Builder` as it reduces, so ops are built in text order.

    module @m { func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> { func.return(%x) : (tensor<2xf32>) -> () } }
"""

from __future__ import annotations

import functools
import gc
import re
import sys
from functools import cache

from lark import Lark, Token, Transformer, UnexpectedInput, v_args

from pimc.context import Context
from pimc.diagnostics import DiagnosticError, error_at
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp
from pimc.ir.attributes import Attr, SymbolRef, float_from_bits, unescape_string
from pimc.ir.core import Block, Operation, Region, Value
from pimc.ir.location import FileLoc, FusedLoc, NameLoc, UnknownLoc
from pimc.ir.types import parse_type
from pimc.text.grammar import grammar, syntax_error


@cache
def _attr_dict_parser() -> Lark:
    return grammar(_AttrBuilder(), "attr_dict")


@functools.lru_cache(maxsize=1 << 16)
def _attr_dict(text: str) -> tuple[tuple[str, Attr], ...]:
    """The entries of `{a = 1, b = [2, 3]}`; errors are placed relative to the text."""
    try:
        return _attr_dict_parser().parse(text)
    except UnexpectedInput as error:
        raise syntax_error(error, text, "", 0) from None


def parse_attr_dict(text: str) -> dict[str, Attr]:
    """`{a = 1, b = [2, 3]}` as a dict; DiagnosticError on a syntax error."""
    return dict(_attr_dict(text))


def parse_module(text: str, filename: str = "<stdin>", ctx: Context | None = None, line_offset: int = 0) -> ModuleOp:
    """Parse one module; raise DiagnosticError with file:line:col on any error."""
    if not text.strip():
        raise error_at(FileLoc(filename, line_offset + 1, 1), "expected 'module', but the input is empty")
    parser = grammar(_Builder(filename, ctx or Context(), line_offset))
    collecting = gc.isenabled()
    gc.disable()  # the parse allocates millions of objects and frees none: cycle collection is wasted work
    try:
        return parser.parse(text)
    except UnexpectedInput as error:
        raise syntax_error(error, text, filename, line_offset) from None
    except _TooDeep:
        line, col = _deepest_region(text)
        raise error_at(FileLoc(filename, line + line_offset, col),
                       f"regions nest deeper than {MAX_NESTING} levels, pimc's limit") from None
    finally:
        if collecting:
            gc.enable()


MAX_NESTING = 100  # regions inside regions; deeper IR is refused (every walk over the IR recurses per level)


class _TooDeep(Exception):
    """Raised by the builder when a region opens below MAX_NESTING others."""


def _deepest_region(text: str) -> tuple[int, int]:
    """(line, column) of the first region that opens below MAX_NESTING others."""
    depth = 0
    for match in re.finditer(r"\(\{|\}\)", text):
        depth += 1 if match.group() == "({" else -1
        if depth > MAX_NESTING:
            line = text.count("\n", 0, match.start()) + 1
            return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 2
    return 1, 1


def parse_file(path: str, ctx: Context | None = None) -> ModuleOp:
    return parse_module(read_text(path), path, ctx)


def read_text(path: str) -> str:
    """The file as text; bytes that are not UTF-8 are a diagnostic at their position."""
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as file:
            data = file.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        col = error.start - (before.rfind(b"\n") + 1) + 1
        byte = data[error.start]
        raise error_at(FileLoc(path, line, col), f"invalid UTF-8 byte 0x{byte:02x}; is this a binary file?") from None


@v_args(inline=True)
class _AttrBuilder(Transformer):
    """Builds attribute values and types; shared by the module parse and the attr_dict parse."""

    def attr_dict(self, *entries) -> tuple[tuple[str, Attr], ...]:
        seen = set()
        for entry in entries:
            if entry is None:
                continue
            (token, key), _ = entry
            if key in seen:
                raise error_at(FileLoc("", token.line, token.column), f"duplicate attribute '{key}'")
            seen.add(key)
        return tuple((key, value) for (_, key), value in filter(None, entries))

    def _unescape(self, token: Token) -> str:
        """A quoted string's contents; a malformed escape is an error at the string."""
        try:
            return unescape_string(token)
        except (ValueError, IndexError):
            raise error_at(self._loc(token), "malformed escape in string: use \\n, \\t, \\\", \\\\ or \\ and two hex "
                                             "digits of UTF-8") from None

    def _symbol(self, token: Token) -> str:
        text = token[1:]
        return self._unescape(Token(token.type, text, token.start_pos, token.line, token.column + 1)) \
            if text.startswith('"') else text

    def attr_entry(self, key: Token, value):
        return (key, self._unescape(key) if key.type == "STRING" else str(key)), value

    def int(self, token: Token) -> int:
        return int(token)

    def float(self, token: Token) -> float:
        return float(token)

    def hex_float(self, token: Token) -> float:
        return float_from_bits(int(token, 16))

    def string(self, token: Token) -> str:
        return self._unescape(token)

    def true(self) -> bool:
        return True

    def false(self) -> bool:
        return False

    def symbol(self, token: Token) -> SymbolRef:
        return SymbolRef(self._symbol(token))

    def array(self, *items) -> tuple:
        return tuple(i for i in items if i is not None)

    def type_attr(self, type_):
        return type_

    def type(self, token: Token):
        try:
            return parse_type(str(token))
        except ValueError as error:
            raise error_at(self._loc(token), str(error)) from None

    def _loc(self, token: Token) -> FileLoc:
        return FileLoc("", token.line, token.column)



class _Scope:
    """SSA names visible in one region, chained to the enclosing one unless isolated."""

    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.values: dict[str, Value] = {}

    def find(self, name: str) -> Value | None:
        scope = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        return None


@v_args(inline=True)
class _Builder(_AttrBuilder):
    """Builds IR bottom-up; children are built left to right, so headers open scopes before bodies."""

    def __init__(self, filename: str, ctx: Context, line_offset: int) -> None:
        super().__init__()
        self.filename, self.ctx, self.offset = filename, ctx, line_offset
        self.scope: _Scope | None = None
        self.depth = 0  # regions open around the current position

    def _loc(self, token: Token) -> FileLoc:
        return FileLoc(self.filename, token.line + self.offset, token.column)

    def _attributes(self, token: Token | None) -> dict:
        """The attributes an ATTR_DICT token spells, with errors placed in the file."""
        if token is None:
            return {}
        try:
            return dict(_attr_dict(str(token)))
        except DiagnosticError as error:
            inner = error.diagnostic.location
            where = FileLoc(self.filename, token.line + self.offset, token.column + inner.col - 1)
            raise error_at(where, error.diagnostic.message) from None

    def _define(self, token: Token, value: Value) -> None:
        name = token[1:]
        if self.scope.find(name) is not None:
            raise error_at(self._loc(token), f"redefinition of value '{token}'")
        self.scope.values[name] = value
        value.name_hint = None if name.isdigit() else name

    def _use(self, token: Token) -> Value:
        value = self.scope.find(token[1:])
        if value is None:
            raise error_at(self._loc(token), f"use of undefined value '{token}'")
        return value

    # ------------------------------------------------------------------ module and func

    def module_header(self, keyword: Token, symbol: Token | None, attrs: Token | None) -> ModuleOp:
        self.scope = _Scope(None)
        module = ModuleOp.empty(self._symbol(symbol) if symbol else None, self._attributes(attrs))
        module.span = self._loc(keyword)
        return module

    def module(self, module: ModuleOp, *ops: Operation) -> ModuleOp:
        for op in ops:
            module.body.append(op)
        return module

    def func_header(self, keyword: Token, symbol: Token, *rest) -> FuncOp:
        *args, results, attrs = rest
        args = [a for a in args if a is not None]
        func = FuncOp.create(self._symbol(symbol), [t for _, t in args], results or ())
        func.attributes.update(self._attributes(attrs))
        func.span = self._loc(keyword)
        self.scope = _Scope(self.scope)
        for (token, _), value in zip(args, func.arguments):
            self._define(token, value)
        return func

    def func(self, func: FuncOp, *ops: Operation) -> FuncOp:
        for op in ops:
            func.body.append(op)
        self.scope = self.scope.parent
        return func

    def arg(self, token: Token, type_):
        return token, type_

    def func_results(self, *types):
        return tuple(t for t in types if t is not None)

    # ------------------------------------------------------------------ ops

    def op(self, results, name, operands: Token, regions, attrs, signature: Token, location) -> Operation:
        token, op_name = name
        operands = [self._use(t) for t in _split(operands, VALUE_WORD)]
        input_types, result_types = self._signature(signature)
        where = self._loc(results[0] if results else token)
        if len(input_types) != len(operands):
            raise error_at(where, f"'{op_name}' has {len(operands)} operands but its type lists {len(input_types)}")
        for index, (value, declared) in enumerate(zip(operands, input_types)):
            if value.type != declared:
                raise error_at(where, f"operand #{index} of '{op_name}' has type {value.type}, but the op's type says {declared}")
        results = results or []
        if len(results) != len(result_types):
            raise error_at(where, f"'{op_name}' defines {len(results)} results but its type lists {len(result_types)}")
        op_class = self._op_class(token, op_name)
        op = op_class(operands, result_types, self._attributes(attrs), regions or (), location or UnknownLoc(), op_name)
        op.span = where
        for result_token, value in zip(results, op.results):
            self._define(result_token, value)
        return op

    def _signature(self, token: Token) -> tuple[list, list]:
        """`(t1, t2) -> t3` or `(...) -> (t3, t4)` into input and result types."""
        arrow = token.start_pos + token.index("->")
        inputs, results = [], []
        for word in _split(token, TYPE_WORD):
            try:
                parsed = parse_type(str(word))
            except ValueError as error:
                raise error_at(self._loc(word), str(error)) from None
            (inputs if word.start_pos < arrow else results).append(parsed)
        return inputs, results

    def _op_class(self, token: Token, op_name: str) -> type[Operation]:
        found = self.ctx.lookup(op_name)
        if found is not None:
            return found
        if self.ctx.allow_unregistered:
            return Operation
        hint = self.ctx.closest(op_name)
        suffix = f"; did you mean '{hint}'?" if hint else ""
        raise error_at(self._loc(token), f"unknown operation '{op_name}'{suffix}")

    def op_results(self, *tokens: Token) -> list[Token]:
        return list(tokens)

    def op_name(self, token: Token) -> tuple[Token, str]:
        return token, self._unescape(token) if token.type == "STRING" else str(token)

    def regions(self, *regions: Region) -> list[Region]:
        return list(regions)

    def region_open(self, *rest) -> Block:
        label, *args = rest
        block = Block(t for arg in args if arg is not None for _, t in [arg])
        self.scope = _Scope(self.scope)
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _TooDeep()
        for (token, _), value in zip((a for a in args if a is not None), block.args):
            self._define(token, value)
        return block

    def region(self, block: Block, *ops: Operation) -> Region:
        for op in ops:
            block.append(op)
        self.scope = self.scope.parent
        self.depth -= 1
        return Region([block])

    # ------------------------------------------------------------------ locations

    def loc(self, location):
        return location

    def name_loc(self, name: Token, child=None):
        return NameLoc(self._unescape(name), child)

    def file_loc(self, name: Token, line: Token, col: Token):
        return FileLoc(self._unescape(name), int(line), int(col))

    def unknown_loc(self):
        return UnknownLoc()

    def fused_loc(self, *locations):
        return FusedLoc(tuple(locations))

    def start(self, module: ModuleOp) -> ModuleOp:
        return module


VALUE_WORD = re.compile(r"%[A-Za-z0-9_.$-]+")
TYPE_WORD = re.compile(r"tensor<[^>\s]*>|[a-z][a-z0-9]*")


def _split(token: Token, word: re.Pattern) -> list[Token]:
    """The words of a one-line composite token, each a Token at its own column."""
    return [
        Token(token.type, m.group(), token.start_pos + m.start(), token.line, token.column + m.start())
        for m in word.finditer(token)
    ]


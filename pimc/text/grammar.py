"""The IR's grammar (ir.lark) as an LALR parser, and its syntax errors told in words.

    grammar(builder)                      # lark calls the builder at each reduction and builds no tree
    syntax_error(error, text, "m.pimc")   # m.pimc:3:7: error: expected SSA value or ')', but got '%'
"""

from __future__ import annotations

import re
from functools import cache

from lark import Lark, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from pimc.diagnostics import DiagnosticError, error_at
from pimc.ir.location import FileLoc

TOKEN_NAMES = {
    "VALUE": "SSA value", "OP_NAME": "op name", "SYMBOL": "symbol", "STRING": "string",
    "INT": "integer", "FLOAT": "float", "HEX": "hex literal", "TENSOR_TYPE": "type",
    "SCALAR_TYPE": "type", "BARE_ID": "attribute name", "BLOCK_ID": "block label",
    "MODULE": "'module'", "FUNC": "'func.func'", "$END": "end of file",
    "<END-OF-FILE>": "end of file", "OPERANDS": "operand list", "FN_TYPE": "type signature",
    "ATTR_DICT": "attribute dictionary",
}


def grammar(builder: Transformer | None = None, start: str = "start") -> Lark:
    """The LALR parser; with a builder, lark calls it at each reduction and builds no tree."""
    return Lark.open("ir.lark", rel_to=__file__, parser="lalr", cache=True, transformer=builder, start=start)


def syntax_error(error: UnexpectedInput, text: str, filename: str, offset: int = 0) -> DiagnosticError:
    """The diagnostic for lark's `error` in `text`, at its line (shifted by `offset`) and column: what was expected
    there, in words, and what came instead."""
    wanted = error.allowed if isinstance(error, UnexpectedCharacters) else error.expected
    at = text[error.pos_in_stream : error.pos_in_stream + 1] if getattr(error, "line", -1) > 0 else ""
    for terminal, (opener, shape) in COMPOSITE_SHAPES.items():
        if terminal in wanted and at == opener:
            return error_at(FileLoc(filename, error.line + offset, error.column), f"malformed {shape}")
    if isinstance(error, UnexpectedCharacters):
        where = FileLoc(filename, error.line + offset, error.column)
        word = re.match(r"\S{1,20}", text[error.pos_in_stream :])
        got = word.group() if word else text[error.pos_in_stream : error.pos_in_stream + 1]
        return error_at(where, f"expected {_expected(error.allowed)}, but got {got!r}")
    token = getattr(error, "token", None)
    if isinstance(error, UnexpectedEOF) or token is None or token.type in ("$END", "<END-OF-FILE>"):
        lines = text.split("\n")
        where = FileLoc(filename, len(lines) + offset, len(lines[-1]) + 1)
        return error_at(where, f"unexpected end of file; expected {_expected(error.expected)}")
    return error_at(FileLoc(filename, token.line + offset, token.column), f"expected {_expected(error.expected)}, but got '{token}'")


def _expected(terminals) -> str:
    names = sorted({TOKEN_NAMES.get(t) or _literal(t) for t in terminals} - {"", None})
    return " or ".join(names) if len(names) <= 6 else "one of " + ", ".join(names[:6]) + ", ..."


@cache
def _literal(terminal: str) -> str:
    """The text of a keyword or punctuation terminal, quoted; '' for pattern terminals."""
    for definition in grammar().terminals:
        if definition.name == terminal and definition.pattern.type == "str":
            return f"'{definition.pattern.value}'"
    return ""


COMPOSITE_SHAPES = {
    "ATTR_DICT": ("{", "attribute dictionary; expected '{name = value, ...}' on one line"),
    "OPERANDS": ("(", "operand list; expected '(%a, %b, ...)'"),
    "FN_TYPE": ("(", "type signature; expected '(type, ...) -> type' or '(type, ...) -> (type, ...)'"),
}

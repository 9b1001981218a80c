"""Options as frozen-dataclass fields, written as MLIR writes pass options: `name{key=value list=1,2}`.

Passes (`canonicalize,slice-weights{rows=64}`) and targets (`isaac{adc-bits=6}`) share this syntax.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from functools import cache
from typing import Any, Literal, get_args, get_origin

from lark import Lark, UnexpectedInput


class OptionError(Exception):
    """A spec names something unknown or gives a value of the wrong kind."""


def option_name(field_name: str) -> str:
    """Fields are snake_case, options kebab-case: `cell_bits` is `cell-bits`."""
    return field_name.replace("_", "-")


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def format_value(value: object) -> str:
    """An option value as a spec writes it; a string that is not a bare word is quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", value):
        return f'"{value}"'
    return str(value)


def spec_of(name: str, instance: Any) -> str:
    """`name{opt=value ...}` with every field but empty lists (their default), which parses back to an equal instance."""
    options = [f"{option_name(f.name)}={format_value(getattr(instance, f.name))}" for f in dataclasses.fields(instance)
               if getattr(instance, f.name) != ()]
    return name + ("{" + " ".join(options) + "}" if options else "")


@cache
def _grammar() -> Lark:
    return Lark.open("text/pipeline.lark", rel_to=__file__, parser="lalr", start="pipeline", cache=True)


def parse_specs(text: str, what: str) -> list[tuple[str, dict[str, list[str]]]]:
    """`'a,b{x=1 y=2,3}'` -> [('a', {}), ('b', {'x': ['1'], 'y': ['2', '3']})]; a bare `flag` is 'true'."""
    try:
        tree = _grammar().parse(text)
    except UnexpectedInput as error:
        raise OptionError(f"malformed {what} at column {error.column}: {text!r}") from None
    specs = []
    for spec in (c for c in tree.children if c is not None):
        name, *options = spec.children
        values = {}
        for option in (o for o in options if o is not None):
            key, *raw = option.children
            if str(key) in values:
                raise OptionError(f"{what} '{name}' sets option '{key}' twice: {text!r}")
            values[str(key)] = [str(v.children[0]) for v in raw if v is not None] or ["true"]
        specs.append((str(name), values))
    return specs


def convert_options(cls: type, owner: str, options: dict[str, list[str]]) -> dict[str, Any]:
    """Field values for `cls` from option text, typed by the fields' annotations."""
    fields = {option_name(f.name): f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, raw in options.items():
        if key not in fields:
            raise OptionError(f"{owner} has no option '{key}'{did_you_mean(key, fields)}")
        values[fields[key].name] = _convert(f"option '{key}' of {owner}", hints[fields[key].name], raw)
    return values


def _convert(where: str, hint: object, raw: list[str]) -> object:
    if get_origin(hint) is tuple:
        element = get_args(hint)[0]
        return tuple(_convert_one(where, element, item) for item in raw)
    if len(raw) != 1:
        raise OptionError(f"{where} takes one value, got {len(raw)}")
    return _convert_one(where, hint, raw[0])


def _convert_one(where: str, hint: object, text: str) -> object:
    if get_origin(hint) is Literal:
        if text not in get_args(hint):
            raise OptionError(f"{where} must be one of {', '.join(get_args(hint))}, got '{text}'")
        return text
    if hint is bool:
        if text not in ("true", "false", "1", "0"):
            raise OptionError(f"{where} must be true or false, got '{text}'")
        return text in ("true", "1")
    if hint in (int, float):
        try:
            value = hint(text)
        except ValueError:
            raise OptionError(f"{where} must be {'an integer' if hint is int else 'a number'}, got '{text}'") from None
        if not math.isfinite(value):
            raise OptionError(f"{where} must be a finite number, got '{text}'")
        return value
    return text.strip('"')

"""Options as frozen-dataclass fields, written as MLIR writes pass options: `name{key=value list=1,2}`.

Passes (`canonicalize,slice-weights{rows=64}`) and targets (`isaac{adc-bits=6}`) share this syntax and one
declaration, `param`: a default, a unit, a meaning and bounds, checked by `check_options` with one message form:

    rows: int = param(128, "rows", "crossbar rows", 1, 65536)
    rows = 0 is out of range: crossbar rows, in rows; valid: an integer from 1 to 65536
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from dataclasses import field
from functools import cache
from typing import Any, Literal, get_args, get_origin

from lark import Lark, UnexpectedInput


class OptionError(Exception):
    """A spec names something unknown or gives a value of the wrong kind."""


def param(default: Any, unit: str, doc: str, low: float | None = None, high: float | None = None,
          section: str = "") -> Any:
    """An option: `adc_bits: int = param(8, "bits", "ADC resolution", 1, 16)`; unit "-" for none. `section`
    groups a target's options for listing (`TargetConfig.options`)."""
    return field(default=default, metadata={"unit": unit, "doc": doc, "low": low, "high": high, "section": section})


def check_options(instance: Any) -> None:
    """Check every option of a dataclass instance against its declaration, coercing an int to a float where a
    float is declared (and a list to a tuple where a tuple is); OptionError on the first that does not fit."""
    hints = typing.get_type_hints(type(instance))
    for spec in dataclasses.fields(instance):
        value = _checked(spec, hints[spec.name], getattr(instance, spec.name))
        object.__setattr__(instance, spec.name, value)


def meaning(meta: dict) -> str:
    """An option's meaning and unit: `ADC resolution, in bits`."""
    return meta.get("doc", "") + (f", in {meta['unit']}" if meta.get("unit", "-") != "-" else "")


def valid(hint: object, meta: dict) -> str:
    """The values an option takes: `an integer from 4 to 10`, `offset or differential`, ..."""
    if get_origin(hint) is Literal:
        return " or ".join(get_args(hint))
    if hint is bool:
        return "true or false"
    if hint is str:
        return "text"
    if get_origin(hint) is tuple:
        kinds = {int: "integers", float: "numbers", str: "names"}[get_args(hint)[0]]
        return f"a comma-separated list of {kinds}{_bounds(meta)}"
    return ("an integer" if hint is int else "a number") + _bounds(meta)


def _bounds(meta: dict) -> str:
    low, high = meta.get("low"), meta.get("high")
    if low is not None and high is not None:
        return f" from {low:g} to {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    return f" of at most {high:g}" if high is not None else ""


def _checked(spec: dataclasses.Field, hint: object, value: Any) -> Any:
    meta = spec.metadata
    if get_origin(hint) is tuple:
        items = tuple(value) if isinstance(value, (list, tuple)) else ()
        checked = [_checked_one(get_args(hint)[0], meta, item) for item in items]
        empty_ok = spec.default == ()  # an empty list is valid only where it is the default
        problem = next((p for _, p in checked if p), None) if items or empty_ok else "not valid"
        value = tuple(v for v, _ in checked) if items else value
    else:
        value, problem = _checked_one(hint, meta, value)
    if problem:
        raise OptionError(f"{option_name(spec.name)} = {format_value(value)} is {problem}: {meaning(meta)}; "
                          f"valid: {valid(hint, meta)}")
    return value


def _checked_one(hint: object, meta: dict, value: Any) -> tuple[Any, str | None]:
    """One value, coerced; and what is wrong with it: 'not valid', 'out of range' or nothing."""
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    kind_ok = (
        value in get_args(hint) if get_origin(hint) is Literal
        else isinstance(value, bool) if hint is bool
        else isinstance(value, hint) and not isinstance(value, bool)
    )
    if not kind_ok or (hint is float and not math.isfinite(value)):
        return value, "not valid"
    low, high = meta.get("low"), meta.get("high")
    if (low is not None and value < low) or (high is not None and value > high):
        return value, "out of range"
    return value, None


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

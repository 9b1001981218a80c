"""A target's configuration: a frozen dataclass whose fields carry a unit, a valid range and a meaning.

    isaac{xbar-rows=256 adc-bits=6}      # on the command line (--target), options as passes take them
    adc-bits = 6                         # in a TOML file (--target-config), one key per option
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args, get_origin

from pimc.diagnostics import UserError
from pimc.options import format_value, option_name


class ConfigError(UserError):
    """A configuration value is of the wrong kind or out of its range."""


def param(default: Any, unit: str, doc: str, low: float | None = None, high: float | None = None) -> Any:
    """A configuration field: `adc_bits: int = param(8, "bits", "ADC resolution", 1, 16)`."""
    return field(default=default, metadata={"unit": unit, "doc": doc, "low": low, "high": high})


@dataclass(frozen=True)
class TargetConfig:
    """Base of every target's configuration; checks each field when it is made."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    derived: ClassVar[dict[str, tuple[str, str]]] = {}  # property -> (unit, meaning)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for spec in dataclasses.fields(self):
            value = _checked(spec, hints[spec.name], getattr(self, spec.name))
            object.__setattr__(self, spec.name, value)
        self.check()

    def check(self) -> None:
        """Constraints between fields; raise ConfigError."""

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(option, value, unit, valid range, meaning) for every parameter."""
        hints = typing.get_type_hints(type(self))
        table = []
        for spec in dataclasses.fields(self):
            meta = spec.metadata
            table.append((option_name(spec.name), format_value(getattr(self, spec.name)), meta["unit"],
                          _valid(hints[spec.name], meta), meta["doc"]))
        for prop, (unit, doc) in self.derived.items():
            table.append((option_name(prop), format_value(getattr(self, prop)), unit, "derived", doc))
        return table


def _checked(spec: dataclasses.Field, hint: object, value: Any) -> Any:
    """The value, coerced from int to float where a float is declared (and a TOML array to a tuple where a tuple
    is); ConfigError if it does not fit."""
    meta = spec.metadata
    if get_origin(hint) is tuple:
        items = tuple(value) if isinstance(value, (list, tuple)) else ()
        checked = [_checked_one(get_args(hint)[0], meta, item) for item in items]
        problem = next((p for _, p in checked if p), None) if items else "not valid"
        value = tuple(v for v, _ in checked) if items else value
    else:
        value, problem = _checked_one(hint, meta, value)
    if problem:
        raise ConfigError(f"{option_name(spec.name)} = {format_value(value)} is {problem}: {_meaning(meta)}; "
                          f"valid: {_valid(hint, meta)}")
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
    low, high = meta["low"], meta["high"]
    if (low is not None and value < low) or (high is not None and value > high):
        return value, "out of range"
    return value, None


def _meaning(meta: dict) -> str:
    return meta["doc"] + (f", in {meta['unit']}" if meta["unit"] != "-" else "")


def _valid(hint: object, meta: dict) -> str:
    if get_origin(hint) is Literal:
        return " or ".join(get_args(hint))
    if hint is bool:
        return "true or false"
    if hint is str:
        return "a string"
    if get_origin(hint) is tuple:
        kinds = "integers" if get_args(hint)[0] is int else "numbers"
        return f"a comma-separated list of {kinds} from {meta['low']:g} to {meta['high']:g}"
    kind = "an integer" if hint is int else "a number"
    return f"{kind} from {meta['low']:g} to {meta['high']:g}"

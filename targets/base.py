"""A target's configuration: a frozen dataclass whose fields carry a unit, a valid range and a meaning.

    isaac{xbar-rows=256 adc-bits=6}      # on the command line (--target), options as passes take them
    adc-bits = 6                         # in a TOML file (--target-config), one key per option
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar

from pimc.diagnostics import UserError
from pimc.options import OptionError, check_options, format_value, option_name, param, valid

__all__ = ["ConfigError", "TargetConfig", "param"]


class ConfigError(UserError):
    """A configuration value is of the wrong kind or out of its range."""


@dataclasses.dataclass(frozen=True)
class TargetConfig:
    """Base of every target's configuration; checks each field when it is made."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    derived: ClassVar[dict[str, tuple[str, str]]] = {}  # property -> (unit, meaning)

    def __post_init__(self) -> None:
        try:
            check_options(self)
        except OptionError as error:
            raise ConfigError(str(error)) from None
        self.check()

    def check(self) -> None:
        """Constraints between fields; raise ConfigError."""

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        """The fields in the order `pimc targets` and the reports list them: by section (the `section` a field's
        first declaration names, else that of the field before it), sections in the order they first appear,
        fields as declared within one."""
        declared = {}  # field -> the section its first declaration names
        for base in reversed(cls.__mro__):
            for spec in getattr(base, "__dataclass_fields__", {}).values():
                declared.setdefault(spec.name, spec.metadata.get("section", ""))
        sections: list[str] = []
        keyed = []
        for spec in dataclasses.fields(cls):
            section = declared[spec.name] or (keyed[-1][1] if keyed else "")
            if section not in sections:
                sections.append(section)
            keyed.append((spec, section))
        return [spec for spec, section in sorted(keyed, key=lambda item: sections.index(item[1]))]

    def as_dict(self) -> dict[str, Any]:
        """Every option's value by field name, in listing order (the reports' `config`)."""
        values = dataclasses.asdict(self)
        return {spec.name: values[spec.name] for spec in self.options()}

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(option, value, unit, valid range, meaning) for every parameter."""
        hints = typing.get_type_hints(type(self))
        table = []
        for spec in self.options():
            meta = spec.metadata
            table.append((option_name(spec.name), format_value(getattr(self, spec.name)), meta["unit"],
                          valid(hints[spec.name], meta), meta["doc"]))
        for prop, (unit, doc) in self.derived.items():
            table.append((option_name(prop), format_value(getattr(self, prop)), unit, "derived", doc))
        return table

"""Targets, one folder each, declared by its `TARGET` (targets/target.py); named on the command line as
`isaac{adc-bits=6}`."""

from __future__ import annotations

import importlib
import re
import tomllib

from pimc.options import OptionError, convert_options, did_you_mean, option_name, parse_specs
from pimc.targets.base import ConfigError, TargetConfig
from pimc.targets.target import Target

TARGETS = {  # name -> the module whose TARGET declares it
    "isaac": "pimc.targets.isaac",
    "raella": "pimc.targets.raella",
    "epim": "pimc.targets.epim",
    "flexspim": "pimc.targets.flexspim",
    "mlg": "pimc.targets.mlg",
}


def target(name: str) -> Target:
    if name not in TARGETS:
        raise ConfigError(f"unknown target '{name}'{did_you_mean(name, TARGETS)} (targets: {', '.join(TARGETS)})")
    return importlib.import_module(TARGETS[name]).TARGET


def config_class(name: str) -> type[TargetConfig]:
    return target(name).config


def load_config(spec: str, config_file: str | None = None) -> TargetConfig:
    """The configuration `spec` names: defaults, then the TOML file's values, then the spec's options."""
    try:
        specs = parse_specs(spec, "target")
    except OptionError as error:
        raise ConfigError(str(error)) from None
    if len(specs) != 1:
        raise ConfigError(f"expected one target, such as 'isaac{{adc-bits=6}}', got {spec!r}")
    name, options = specs[0]
    cls = config_class(name)
    values = _from_toml(cls, config_file) if config_file else {}
    try:
        values.update(convert_options(cls, f"target '{name}'", options))
    except OptionError as error:
        raise ConfigError(str(error)) from None
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"target '{name}': {error}") from None


def _from_toml(cls: type[TargetConfig], path: str) -> dict:
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        where = re.search(r" \(at line (\d+), column (\d+)\)", str(error))
        message = str(error)[: where.start()] if where else str(error)
        position = f":{where.group(1)}:{where.group(2)}" if where else ""
        raise ConfigError(f"{path}{position}: {message[0].lower()}{message[1:]}") from None
    fields = {option_name(f): f for f in cls.__dataclass_fields__}
    unknown = [key for key in table if key not in fields]
    if unknown:
        raise ConfigError(f"{path}: target '{cls.name}' has no option '{unknown[0]}'{did_you_mean(unknown[0], fields)}")
    return {fields[key]: value for key, value in table.items()}

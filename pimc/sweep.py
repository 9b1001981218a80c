"""A design space written as target specs with several values per option, expanded into points.

    expand(["isaac{adc-bits=4..8 xbar-rows=128,256}", "raella"])
    # [Point("isaac{adc-bits=4 xbar-rows=128}", {"adc-bits": "4", "xbar-rows": "128"}), ..., Point("raella", {})]
    expand_noise("read=0,0.04 prog=0,0.02", NoiseConfig)
    # [Point("read=0 prog=0", {"read": "0", "prog": "0"}), ..., Point("read=0.04 prog=0.02", ...)]

A value list `a,b,c` gives one point per value, a range `a..b` one per integer from a to b, and the
points are the cartesian product over a spec's options, in the order written. An option that takes
a list (RAELLA's `spec-widths=3,3,2`) takes the whole list as one value. A point's id is a hash of
everything its result depends on, so a rerun finds the results it already has.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import typing
from dataclasses import dataclass
from typing import get_origin

from pimc.diagnostics import UserError
from pimc.options import OptionError, did_you_mean, option_name, parse_specs
from pimc.targets.noise import spec_error

_RANGE = re.compile(r"(?<![\w.])(-?\d+)\.\.(-?\d+)(?![\w.])")
_OTHER_RANGE = re.compile(r"[^\s=,{}]*\.\.[^\s=,{}]*")  # what is left of `..` once the integer ranges are listed


@dataclass(frozen=True)
class Point:
    """One configuration of the space: the spec that compiles it and the option values it varies."""

    spec: str
    target: str
    options: dict[str, str]


def expand(specs: list[str], config_class) -> list[Point]:
    """Every point of the specs' spaces, in order; `config_class(name)` gives a target's configuration class."""
    points = []
    for text in specs:
        try:
            parsed = parse_specs(_expand_ranges(text, "--target"), "target")
        except OptionError as error:
            raise UserError(f"--target {text!r}: {error}") from None
        if not parsed:
            raise UserError(f"--target {text!r}: names no target")
        for name, options in parsed:
            points.extend(_points(name, options, config_class(name), f"target '{name}'"))
    return _once(points)


def expand_noise(text: str, noise_class) -> list[Point]:
    """Every point of a noise space (`--noise`: options of `noise_class`, without a name or braces), in order; a
    point's spec is its options as `--noise` takes them."""
    expanded = _expand_ranges(text, "--noise")
    try:
        (_, options), = parse_specs(f"noise{{{expanded}}}", "--noise")
    except OptionError as error:  # worded as parse_noise words it
        raise UserError(f"--noise {text!r}: {spec_error(error, expanded)}") from None
    points = _points("noise", options, noise_class, f"--noise {text!r}: the noise model")
    return _once([Point(" ".join(f"{k}={v}" for k, v in p.options.items()), "noise", p.options) for p in points])


def _once(points: list[Point]) -> list[Point]:
    if len({p.spec for p in points}) != len(points):
        raise UserError("the sweep lists the same point twice; give each option's values once")
    return points


def _expand_ranges(text: str, flag: str) -> str:
    def listed(match: re.Match) -> str:
        low, high = int(match.group(1)), int(match.group(2))
        if high < low:
            raise UserError(f"{flag} {text!r}: the range {match.group(0)} is empty (write low..high)")
        return ",".join(str(v) for v in range(low, high + 1))

    expanded = _RANGE.sub(listed, text)
    other = _OTHER_RANGE.search(expanded)
    if other:
        raise UserError(f"{flag} {text!r}: the range {other.group(0)} is not of whole numbers (low..high counts "
                        "integers); list the values instead, as a,b,c")
    return expanded


def _points(name: str, options: dict[str, list[str]], cls, owner: str) -> list[Point]:
    fields = {option_name(f.name): f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    choices = []
    for key, values in options.items():
        if key not in fields:
            raise UserError(f"{owner} has no option '{key}'{did_you_mean(key, fields)}")
        whole_list = get_origin(hints[fields[key].name]) is tuple
        choices.append([",".join(values)] if whole_list else values)
    points = []
    for chosen in itertools.product(*choices):
        values = dict(zip(options, chosen))
        body = " ".join(f"{key}={value}" for key, value in values.items())
        points.append(Point(f"{name}{{{body}}}" if body else name, name, values))
    return points


def file_digest(path: str) -> str:
    """The SHA-256 of a file's bytes, '' for no file."""
    if not path:
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def point_id(point: Point, inputs: dict) -> str:
    """12 hex digits naming the point and everything else its result depends on (`inputs`: content hashes
    and options)."""
    key = json.dumps({"spec": point.spec, **inputs}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def pareto(rows: list[dict], cost: str, merit: str) -> list[dict]:
    """The rows no other row beats: lower or equal `cost` and higher or equal `merit`, one of them strictly."""
    usable = [r for r in rows if r.get(cost) is not None and r.get(merit) is not None]
    front = [r for r in usable if not any(
        o[cost] <= r[cost] and o[merit] >= r[merit] and (o[cost] < r[cost] or o[merit] > r[merit]) for o in usable)]
    return sorted(front, key=lambda r: (r[cost], -r[merit]))

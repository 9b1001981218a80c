"""Calibration ranges kept in a file, so that compiles sharing a float model and calibration inputs calibrate once.

    {"format": "pimc-calibration-1",
     "key": {"module": "3f2a...", "calibration": "sha256:9c1e...", "samples": 16},
     "ranges": {"x": [-0.42, 2.8], "_features_features.2_Relu_output_0": [0.0, 6.1], ...}}

`pimc compile` writes `calibration.json` beside its program; `--calib-ranges FILE` (quantize's `ranges`
option) reads one back instead of running the calibration. The key is what the ranges depend on: the
module that quantize sees (its text without the module's own attributes, and every weight it names, so
an epitome fold or a retrained weight changes it), the calibration inputs (the .npz file's contents, or
the seed of the normal samples) and how many of them were used. A file whose key differs is refused.
Ranges are keyed by the values' SSA names as the printer spells them.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from pimc.diagnostics import UserError
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp
from pimc.ir.core import Value
from pimc.ir.types import TensorType
from pimc.text.printer import print_module, value_names
from pimc.weights import used_refs

FORMAT = "pimc-calibration-1"


def calibration_key(module: ModuleOp, calib: str, samples: int, seed: int) -> dict:
    """What the observed ranges of `module` on these calibration inputs depend on."""
    text = print_module(module).split("\n", 1)[1]  # without the header: its `weights` names a file, not content
    digest = hashlib.sha256(text.encode())
    for ref in sorted(used_refs(module)):
        array = np.ascontiguousarray(module.weights[ref])
        digest.update(f"{ref}:{array.dtype.str}:{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    inputs = f"sha256:{_file_digest(calib)}" if calib else f"normal(seed={seed})"
    return {"module": digest.hexdigest(), "calibration": inputs, "samples": samples}


def save_ranges(path: str, key: dict, module: ModuleOp, func: FuncOp, ranges: dict[Value, list[float]]) -> None:
    """Write `ranges` of `func`'s values to `path` under `key`; strict JSON, in the function's value order."""
    names, order = value_names(module), _order(func)
    table = {names[value]: [float(low), float(high)] for value, (low, high) in
             sorted(ranges.items(), key=lambda item: order[item[0]])}
    rows = ",\n".join(f"  {json.dumps(name)}: {json.dumps(pair, allow_nan=False)}" for name, pair in table.items())
    with open(path, "w") as file:  # one tensor per line
        file.write(f'{{"format": "{FORMAT}",\n "key": {json.dumps(key)},\n "ranges": {{\n{rows}\n }}\n}}\n')


def load_ranges(path: str, key: dict, module: ModuleOp, func: FuncOp, wanted: set[Value]) -> dict[Value, list[float]]:
    """The ranges `path` holds for the wanted values; UserError if it is not a calibration file, was made for
    another module or other calibration inputs, or lacks a wanted value."""
    try:
        with open(path) as file:
            data = json.load(file)
    except OSError as error:
        raise UserError(f"--calib-ranges '{path}': cannot read it ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}:{error.colno}: not a calibration file: {error.msg}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("ranges"), dict):
        raise UserError(f"{path}: not a calibration file (expected \"format\": \"{FORMAT}\", as `pimc compile` writes)")
    stored = data.get("key", {})
    for field, meaning in (("module", "another model (or other options before quantize)"),
                           ("calibration", "other calibration inputs"), ("samples", "another number of samples")):
        if stored.get(field) != key[field]:
            raise UserError(f"{path}: these ranges were made for {meaning}: its {field} is {_short(stored.get(field))}, "
                            f"this compile's is {_short(key[field])}")
    names = value_names(module)
    ranges = {}
    floats = [v for v in wanted if isinstance(v.type, TensorType) and v.type.element.is_float]  # what calibration observes
    for value in sorted(floats, key=_order(func).__getitem__):
        entry = data["ranges"].get(names[value])
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, (int, float)) for v in entry)):
            raise UserError(f"{path}: no range [low, high] for tensor '{names[value]}'")
        ranges[value] = [float(entry[0]), float(entry[1])]
    return ranges


def _short(value) -> str:
    """A key field as an error shows it: a digest cut to its first 20 characters."""
    text = str(value)
    return f"'{text}'" if len(text) <= 24 else f"'{text[:20]}...'"


def _order(func: FuncOp) -> dict[Value, int]:
    values = [*func.arguments, *(r for op in func.walk() for r in op.results)]
    return {value: index for index, value in enumerate(values)}


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

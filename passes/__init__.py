"""The shared passes: pass name -> its class, imported only when the pass is asked for.

A target's own passes live in its folder and are declared by its TARGET; `pimc.targets.passes.all_passes()`
gives every pass a pipeline may name."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pimc.pass_manager import ModulePass

_MODULES = {
    "canonicalize": ("pimc.passes.canonicalize", "Canonicalize"),
    "quantize": ("pimc.passes.quantize", "Quantize"),
    "lower-to-xbar": ("pimc.passes.lower_to_xbar", "LowerToXbar"),
    "slice-weights": ("pimc.passes.slice_weights", "SliceWeights"),
    "slice-inputs": ("pimc.passes.slice_inputs", "SliceInputs"),
    "place-tiles": ("pimc.passes.place_tiles", "PlaceTiles"),
    "pack-groups": ("pimc.passes.pack_groups", "PackGroups"),
    "quantize-snn": ("pimc.passes.quantize_snn", "QuantizeSnn"),
}


def _loader(module: str, cls: str) -> Callable[[], type[ModulePass]]:
    return lambda: getattr(importlib.import_module(module), cls)


PASSES: dict[str, Callable[[], type[ModulePass]]] = {name: _loader(*where) for name, where in _MODULES.items()}

"""The pass registry: pass name -> its class, imported only when the pass is asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pimc.pass_manager import ModulePass

_MODULES = {
    "canonicalize": ("pimc.passes.canonicalize", "Canonicalize"),
    "quantize": ("pimc.passes.quantize", "Quantize"),
    "lower-to-xbar": ("pimc.passes.lower_to_xbar", "LowerToXbar"),
    "adaptive-slicing": ("pimc.passes.adaptive_slicing", "AdaptiveSlicing"),
    "center-offset": ("pimc.passes.center_offset", "CenterOffset"),
    "slice-weights": ("pimc.passes.slice_weights", "SliceWeights"),
    "slice-inputs": ("pimc.passes.slice_inputs", "SliceInputs"),
    "place-tiles": ("pimc.passes.place_tiles", "PlaceTiles"),
    "emit-program": ("pimc.passes.emit_program", "EmitProgram"),
    "pack-groups": ("pimc.passes.pack_groups", "PackGroups"),
    "fold-epitome": ("pimc.passes.fold_epitome", "FoldEpitome"),
    "design-epitomes": ("pimc.passes.design_epitomes", "DesignEpitomes"),
    "fold-mlg": ("pimc.targets.mlg.fold_mlg", "FoldMlg"),
    "integer-mlg": ("pimc.targets.mlg.integer_mlg", "IntegerMlg"),
    "lower-mlg": ("pimc.targets.mlg.lower_mlg", "LowerMlg"),
    "quantize-snn": ("pimc.passes.quantize_snn", "QuantizeSnn"),
}


def _loader(module: str, cls: str) -> Callable[[], type[ModulePass]]:
    return lambda: getattr(importlib.import_module(module), cls)


PASSES: dict[str, Callable[[], type[ModulePass]]] = {name: _loader(*where) for name, where in _MODULES.items()}

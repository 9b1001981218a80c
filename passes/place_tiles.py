"""place-tiles: give every crossbar MVM a tile, an IMA and a crossbar on the chip, layer by layer.

    %m = xbar.mvm(%p) {weights = "conv1.matrix", rows = [0, 9], cols = [0, 16], ...}
  ->
    %m = xbar.mvm(%p) {..., tile = 0, ima = 0, xbar = 0}

Each layer (the MVMs of one weight matrix) starts on a fresh IMA, so that its crossbars share
the IMA's input buffer; IMAs fill tiles in order, tiles fill chips. A model that needs more
than `chips` chips is an error that says how many it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pimc.diagnostics import op_error
from pimc.dialects import xbar
from pimc.dialects.builtin import ModuleOp
from pimc.pass_manager import ModulePass


@dataclass(frozen=True)
class PlaceTiles(ModulePass):
    """Assign every crossbar MVM a chip, tile, IMA and crossbar, one layer per run of whole IMAs."""

    name = "place-tiles"
    rows: int = field(default=128, metadata={"doc": "crossbar rows: an MVM may use no more"})
    cols: int = field(default=128, metadata={"doc": "crossbar columns (cells): an MVM may use no more"})
    xbars_per_ima: int = field(default=8, metadata={"doc": "crossbars per IMA"})
    imas_per_tile: int = field(default=12, metadata={"doc": "IMAs per tile"})
    tiles: int = field(default=168, metadata={"doc": "tiles per chip"})
    chips: int = field(default=1, metadata={"doc": "chips the model may span"})

    def __post_init__(self) -> None:
        for option in ("rows", "cols", "xbars_per_ima", "imas_per_tile", "tiles", "chips"):
            if getattr(self, option) < 1:
                raise ValueError(f"{option.replace('_', '-')} = {getattr(self, option)} must be at least 1")

    def apply(self, module: ModuleOp) -> None:
        layers: dict[str, list[xbar.MvmOp]] = {}
        for op in module.walk():
            if isinstance(op, xbar.MvmOp):
                self._check_fits(op)
                layers.setdefault(op.weights, []).append(op)
        needed = sum(math.ceil(len(mvms) / self.xbars_per_ima) for mvms in layers.values())
        crossbars = sum(map(len, layers.values()))
        per_chip = self.tiles * self.imas_per_tile
        ima = 0
        for mvms in layers.values():
            for index, op in enumerate(mvms):
                slot = ima + index // self.xbars_per_ima
                if slot >= per_chip * self.chips:
                    raise op_error(op, self._too_small(needed, crossbars))
                chip, within = divmod(slot, per_chip)
                placement = {"chip": chip} if self.chips > 1 else {}
                placement.update(tile=within // self.imas_per_tile, ima=within % self.imas_per_tile,
                                 xbar=index % self.xbars_per_ima)
                op.attributes.update(placement)
            ima += math.ceil(len(mvms) / self.xbars_per_ima)
        module.attributes.update(crossbars=crossbars, imas=ima,
                                 tiles=math.ceil(ima / self.imas_per_tile))

    def _too_small(self, imas: int, crossbars: int) -> str:
        per_chip = self.tiles * self.imas_per_tile
        chips = math.ceil(imas / per_chip)
        return (f"does not fit: the model needs {imas} IMAs ({crossbars} crossbars), but {self.chips} chip(s) of "
                f"{self.tiles} tiles x {self.imas_per_tile} IMAs hold {per_chip * self.chips}; "
                f"it fits on {chips} chips (place-tiles{{chips={chips}}})")

    def _check_fits(self, op: xbar.MvmOp) -> None:
        (r0, r1), (c0, c1) = op.rows, op.cols
        if r1 - r0 > self.rows:
            raise op_error(op, f"rows {[r0, r1]} exceed crossbar height {self.rows}; run slice-weights first")
        if (c1 - c0) * op.bit_slices > self.cols:
            raise op_error(op, f"{c1 - c0} weights of {op.bit_slices} cells exceed crossbar width {self.cols}; "
                               "run slice-weights first")

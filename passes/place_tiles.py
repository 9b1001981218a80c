"""place-tiles: give every crossbar MVM a tile, an IMA and a crossbar on the chip, layer by layer.

    %m = xbar.mvm(%p) {weights = "conv1.matrix", rows = [0, 9], cols = [0, 16], ...}
  ->
    %m = xbar.mvm(%p) {..., tile = 0, ima = 0, xbar = 0}

Each layer (the MVMs of one weight matrix) starts on a fresh IMA, so that its crossbars share
the IMA's input buffer; IMAs fill tiles in order, tiles fill chips. A model that needs more
than `chips` chips is an error that says how many it needs.

With `duplicate`, spare IMAs then hold copies of the layers that limit the pipeline, as ISAAC
and RAELLA's mapper balance it. A layer of V input vectors (its MVM input's rows) in d copies
takes V / d steps. While the slowest layer (the first in program order on a tie) has fewer
copies than vectors and its ceil(crossbars / xbars-per-ima) IMAs still fit, it gets one more
copy; once it cannot grow, duplication stops. Copies take fresh IMAs after the whole first
placement, layer by layer, each laid out as the first copy is, and each MVM lists where its
crossbar sits in copies 2..d:

    %m = xbar.mvm(%p) {..., tile = 0, ima = 0, xbar = 0, replicas = [[0, 2, 0], [0, 3, 0]]}

The contract for emitters: copy 0 is the primary placement and copy c, for 1 <= c < d,
is `replicas[c - 1]`. A layer's V vectors are split into d contiguous ranges, copy c taking
vectors [c * V // d, (c + 1) * V // d): sizes differ by at most one, and none is empty.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from fractions import Fraction

from pimc.diagnostics import op_error
from pimc.dialects import xbar
from pimc.dialects.builtin import ModuleOp
from pimc.options import param
from pimc.pass_manager import ModulePass


@dataclass(frozen=True)
class PlaceTiles(ModulePass):
    """Assign every crossbar MVM a chip, tile, IMA and crossbar, one layer per run of whole IMAs."""

    name = "place-tiles"
    needs = ("xbar.mvm",)
    made_by = "lower-to-xbar"
    rows: int = param(128, "rows", "crossbar height: an MVM may use no more", 1)
    cols: int = param(128, "columns", "crossbar width (cells): an MVM may use no more", 1)
    xbars_per_ima: int = param(8, "-", "crossbars per IMA", 1)
    imas_per_tile: int = param(12, "-", "IMAs per tile", 1)
    tiles: int = param(168, "-", "tiles per chip", 1)
    chips: int = param(1, "-", "chips the model may span", 1)
    duplicate: bool = param(False, "-", "copy the slowest layers into spare IMAs to balance the pipeline")

    def apply(self, module: ModuleOp) -> None:
        layers: dict[str, list[xbar.MvmOp]] = {}
        for op in module.walk():
            if isinstance(op, xbar.MvmOp):
                self._check_fits(op)
                layers.setdefault(op.weights, []).append(op)
        sizes = [math.ceil(len(mvms) / self.xbars_per_ima) for mvms in layers.values()]
        needed, crossbars = sum(sizes), sum(map(len, layers.values()))
        capacity = self.tiles * self.imas_per_tile * self.chips
        ima = 0
        for mvms, size in zip(layers.values(), sizes):
            for index, op in enumerate(mvms):
                if ima + index // self.xbars_per_ima >= capacity:
                    raise op_error(op, self._too_small(needed, crossbars))
                op.attributes.update(self._place(ima, index))
            ima += size
        vectors = [max(op.input.type.shape[0] for op in mvms) for mvms in layers.values()]
        copies = self._copies(vectors, sizes, capacity - needed) if self.duplicate else [1] * len(sizes)
        for mvms, size, count in zip(layers.values(), sizes, copies):
            self._replicate(mvms, range(ima, ima + size * (count - 1), size))
            ima += size * (count - 1)
        placed = sum(len(mvms) * count for mvms, count in zip(layers.values(), copies))
        module.attributes.update(crossbars=crossbars, placed_crossbars=placed)
        module.attributes.pop("duplicated_crossbars", None)
        if placed > crossbars:
            module.attributes.update(duplicated_crossbars=placed - crossbars)
        module.attributes.update(imas=ima, tiles=math.ceil(ima / self.imas_per_tile))

    def _place(self, start: int, index: int) -> dict[str, int]:
        """Where crossbar `index` of a layer copy whose IMAs start at IMA `start` (counted over all chips) sits."""
        chip, within = divmod(start + index // self.xbars_per_ima, self.tiles * self.imas_per_tile)
        placement = {"chip": chip} if self.chips > 1 else {}
        placement.update(tile=within // self.imas_per_tile, ima=within % self.imas_per_tile, xbar=index % self.xbars_per_ima)
        return placement

    def _replicate(self, mvms: list[xbar.MvmOp], starts: range) -> None:
        """List on each MVM of a layer where it sits in the copies whose IMAs begin at `starts`."""
        for index, op in enumerate(mvms):
            op.attributes.pop("replicas", None)
            if starts:
                op.attributes["replicas"] = tuple(tuple(self._place(start, index).values()) for start in starts)

    @staticmethod
    def _copies(vectors: list[int], sizes: list[int], spare: int) -> list[int]:
        """Copies per layer: grow the slowest layer (vectors / copies) while it has vectors and IMAs to spare."""
        copies = [1] * len(vectors)
        slowest = [(-Fraction(count), layer) for layer, count in enumerate(vectors)]
        heapq.heapify(slowest)
        while slowest:
            layer = slowest[0][1]
            if copies[layer] >= vectors[layer] or sizes[layer] > spare:
                break
            copies[layer] += 1
            spare -= sizes[layer]
            heapq.heapreplace(slowest, (-Fraction(vectors[layer], copies[layer]), layer))
        return copies

    def _too_small(self, imas: int, crossbars: int) -> str:
        per_chip = self.tiles * self.imas_per_tile
        chips = math.ceil(imas / per_chip)
        return (f"does not fit: the model needs {imas} IMAs ({crossbars} crossbars), but {self.chips} chip(s) of "
                f"{self.tiles} tiles x {self.imas_per_tile} IMAs hold {per_chip * self.chips}; "
                f"it fits on {chips} chips (the option chips={chips}, of place-tiles and of the targets)")

    def _check_fits(self, op: xbar.MvmOp) -> None:
        (r0, r1), (c0, c1) = op.rows, op.cols
        if r1 - r0 > self.rows:
            raise op_error(op, f"rows {[r0, r1]} exceed crossbar height {self.rows}; run slice-weights first")
        if (c1 - c0) * op.bit_slices > self.cols:
            raise op_error(op, f"{c1 - c0} weights of {op.bit_slices} cells exceed crossbar width {self.cols}; "
                               "run slice-weights first")

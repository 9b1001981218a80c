"""center-offset: hold every xbar.mvm's weights as per-filter centers plus signed offsets (RAELLA's Center+Offset).

    %m = xbar.mvm(%p) {weights = "fc.matrix", ..., weight_bits = 8}
  ->
    %m = xbar.mvm(%p) {weights = "fc.matrix", ..., weight_bits = 8, weight_slices = [4, 4], centers = "fc.matrix_centers"}

Filter (column) n of the weight matrix keeps a center c_n, applied digitally as c_n x sum(inputs), and
its offsets w - c_n sit in the cells as sign-magnitude slices, one differential 2T2R pair per slice
(targets/raella/centers.py). c_n minimises sum_j |sum_i s_j(w_in - c_n)|, the slice column sums
an all-ones input drives, so positive and negative slices cancel and column sums stay near zero
for a low-resolution signed ADC. The slices are the MVM's `weight_slices` (adaptive-slicing), else
`weight-bits / cell-bits` even ones. What the MVM computes is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.dialects import xbar
from pimc.dialects.builtin import ModuleOp
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.targets.raella.centers import choose_centers
from pimc.threads import in_order, usable_cpus


@dataclass(frozen=True)
class CenterOffset(ModulePass):
    """Give every xbar.mvm per-column centers, chosen so that its signed offset slices cancel in each column."""

    name = "center-offset"
    cell_bits: int = param(4, "bits", "weight slice width where the MVM has no weight_slices", 1, 8)

    def apply(self, module: ModuleOp) -> None:
        mvms = [op for op in module.walk() if isinstance(op, xbar.MvmOp)]
        slicings = [(op.weights, op.weight_slices or xbar.even_slices(op.weight_bits, self.cell_bits)) for op in mvms]
        layers = list(dict.fromkeys(slicings))  # (weights, slices), shared by a layer's MVMs

        def centers(layer: tuple[str, tuple[int, ...]]) -> np.ndarray:
            return choose_centers(module.weights[layer[0]], layer[1]).astype(np.int32)

        chosen = {layer: module.weights.add(f"{layer[0]}_centers", found)  # layers side by side, added in order
                  for layer, found in zip(layers, in_order(centers, layers, usable_cpus()))}
        for op, (weights, widths) in zip(mvms, slicings):
            op.attributes["weight_slices"] = widths
            op.attributes["centers"] = chosen[weights, widths]

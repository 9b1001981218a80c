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

from pimc.dialects import xbar
from pimc.dialects.builtin import ModuleOp
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.targets.raella.centers import choose_centers


@dataclass(frozen=True)
class CenterOffset(ModulePass):
    """Give every xbar.mvm per-column centers, chosen so that its signed offset slices cancel in each column."""

    name = "center-offset"
    cell_bits: int = param(4, "bits", "weight slice width where the MVM has no weight_slices", 1, 8)

    def apply(self, module: ModuleOp) -> None:
        chosen: dict[tuple, str] = {}  # (weights, slices) -> centers ref, shared by a layer's MVMs
        for op in module.walk():
            if not isinstance(op, xbar.MvmOp):
                continue
            widths = op.weight_slices or xbar.even_slices(op.weight_bits, self.cell_bits)
            key = (op.weights, widths)
            if key not in chosen:
                centers = choose_centers(module.weights[op.weights], widths).astype("int32")
                chosen[key] = module.weights.add(f"{op.weights}_centers", centers)
            op.attributes["weight_slices"] = widths
            op.attributes["centers"] = chosen[key]

"""slice-inputs: record on every xbar.mvm the input bits its DACs apply per step, most significant first.

    %m = xbar.mvm(%p) {weights = "fc.matrix", rows = [0, 64], ...} : (tensor<1x64xui8>) -> tensor<1x10xi32>
  ->
    %m = xbar.mvm(%p) {..., input_slices = [2, 3, 3]}     (dac-bits=3: 8 bits in 3 DAC steps)

Each slice is one pass of the input through the crossbar; its partial sums are shifted by the
bits below it and added. With `dac-bits` the slices are as wide as the DAC
and the narrow one, if any, is the most significant (`even_slices`); `widths` gives them outright.
With `speculate`, a column whose conversion of a slice hits an ADC rail is recomputed from that
slice's bits one at a time (RAELLA's speculation and recovery, docs/isa.md). With `signed-planes`,
an input with a zero point z drives max(code - z, 0) and max(z - code, 0) in two passes.
Signed inputs are rejected until an encoding splits them into positive and negative planes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pimc.diagnostics import op_error
from pimc.dialects import xbar
from pimc.dialects.builtin import ModuleOp
from pimc.options import param
from pimc.pass_manager import ModulePass


@dataclass(frozen=True)
class SliceInputs(ModulePass):
    """Set every xbar.mvm's input_slices: the input bits applied per DAC step, most significant first."""

    name = "slice-inputs"
    needs = ("xbar.mvm",)
    made_by = "lower-to-xbar"
    dac_bits: int = param(1, "bits", "input bits a DAC applies per step", 1, 16)
    widths: tuple[int, ...] = param((), "bits", "explicit slice widths, most significant first, summing to the "
                                    "input's precision", 1)
    speculate: bool = param(False, "-", "the slices are speculative: columns that hit an ADC rail are recomputed "
                            "from 1-bit slices (RAELLA)")
    signed_planes: bool = param(False, "-", "an MVM whose input has a zero point takes code - zero point as a "
                                "positive and a negative plane, each sliced alike (RAELLA's signed inputs)")

    def apply(self, module: ModuleOp) -> None:
        for op in module.walk():
            if isinstance(op, xbar.MvmOp):
                op.attributes["input_slices"] = self._slices(op)
                if self.speculate:
                    op.attributes["speculate"] = True
                if self.signed_planes and op.input_zero_point:
                    op.attributes["signed_planes"] = True

    def _slices(self, op: xbar.MvmOp) -> tuple[int, ...]:
        element = op.input.type.element
        if element.bounds[0] < 0:
            raise op_error(op, f"has {element} inputs: signed inputs need positive and negative planes")
        if not self.widths:
            return xbar.even_slices(element.width, self.dac_bits)
        if sum(self.widths) != element.width:
            raise op_error(op, f"widths {list(self.widths)} sum to {sum(self.widths)} bits, "
                               f"but its {element} inputs have {element.width}")
        return self.widths

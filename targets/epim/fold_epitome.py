"""fold-epitome: replace conv weights by their least-squares epitome of a given shape (EPIM; docs/epitome.md).

    %y = nn.conv2d(%x, %w, %b) : (tensor<1x6x8x8xf32>, tensor<8x6x3x3xf32>, tensor<8xf32>) -> tensor<1x8x6x6xf32>
  ->   (shape=4,3 patch=2,3 stride=1,3)
    %e = nn.weight() {ref = "w_epitome"} : () -> tensor<4x3x3x3xf32>
    %y = ep.conv2d(%x, %e, %b) {patch = [2, 3], stride = [1, 3], projection_error = 0.83} : (...) -> tensor<1x8x6x6xf32>

Each epitome element is the mean of the weights sampled from it (`ep.project`), which is the
least-squares optimum. `projection_error` records ||W - materialize(E)|| / ||W||: 0 exactly when W
already had the structure. Only group-1 convs with a constant weight at least as large as the epitome
fold. A conv named in `layers` that cannot fold is an error; with every conv selected (the default),
such a conv stays nn.conv2d and a note on stderr says why.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import numpy as np

from pimc.diagnostics import Diagnostic, DiagnosticError, op_error
from pimc.dialects import ep
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_canonicalize import constant, new_weight
from pimc.dialects.nn_conv import Conv2dOp, WeightOp
from pimc.ir.location import names_of
from pimc.options import format_value, param
from pimc.pass_manager import ModulePass
from pimc.text.printer import value_names


@dataclass(frozen=True)
class FoldEpitome(ModulePass):
    """Fold conv weights into epitomes: each epitome element is the mean of the weights sampled from it."""

    name = "fold-epitome"
    shape: tuple[int, ...] = param((), "-", "the epitome's output and input channels, Co_E,Ci_E (required)")
    patch: tuple[int, ...] = param((), "-", "patch sizes beta_o,beta_i (default: shape)")
    stride: tuple[int, ...] = param((), "-", "patch start strides sigma_o,sigma_i (default: patch)")
    layers: tuple[str, ...] = param((), "-", "convs to fold, by ONNX node or SSA value name (default: every conv)")
    divisors: tuple[int, ...] = param((), "-", "instead of shape: each conv's epitome is ceil(Co/d_o) x "
                                      "ceil(Ci/d_i), d_o,d_i")

    def check(self) -> None:
        if not self.shape and not self.divisors:
            raise ValueError("shape is required: the epitome's output and input channels, e.g. shape=16,8")
        if self.divisors and (self.shape or self.patch or self.stride):
            raise ValueError("divisors gives each conv its own plain-repeat epitome: it takes no shape, patch or stride")
        _check("shape", self.shape, 1, "two positive integers, the epitome's output and input channels Co_E,Ci_E")
        _check("divisors", self.divisors, 1, "two positive integers, the output and input channel divisors d_o,d_i")
        _check("patch", self.patch, 1, "two positive integers, the patch's output and input channels")
        _check("stride", self.stride, 0, "two non-negative integers, the patch starts' output and input strides")
        if self.patch and self.shape and (self.patch[0] > self.shape[0] or self.patch[1] > self.shape[1]):
            raise ValueError(f"patch = {format_value(self.patch)} is larger than the epitome, shape = "
                             f"{format_value(self.shape)}")

    def apply(self, module: ModuleOp) -> None:
        convs = [op for op in module.walk() if isinstance(op, Conv2dOp)]
        for op in self._selected(module, convs) if self.layers else convs:
            reason = self._obstacle(op)
            if reason is None:
                self._fold(op)
            elif self.layers:
                raise op_error(op, f"cannot be folded into an epitome: {reason}")
            else:
                note = dataclasses.replace(op_error(op, f"is not folded: {reason}").diagnostic, severity="note")
                print(note.render("fold-epitome"), file=sys.stderr)

    def _selected(self, module: ModuleOp, convs: list[Conv2dOp]) -> list[Conv2dOp]:
        """The convs `layers` names, by any of their ONNX node names or their SSA value name."""
        printed = value_names(module)
        names = {op: (*names_of(op.location), printed[op.output]) for op in convs}
        chosen = []
        for wanted in self.layers:
            found = [op for op in convs if wanted.removeprefix("%") in names[op]]
            if not found:
                listed = ", ".join(names[op][0] for op in convs) or "none"
                message = f"fold-epitome: no nn.conv2d is named '{wanted}'; the convs: {listed}"
                raise DiagnosticError(Diagnostic(message))
            chosen += found
        return [op for op in convs if op in chosen]

    def _obstacle(self, op: Conv2dOp) -> str | None:
        """Why `op` cannot fold, or None."""
        co, ci = op.weight.type.shape[:2]
        shape = self._shape(op)
        if op.group != 1:
            return f"group {op.group}; fold-epitome folds group-1 convs only"
        if not isinstance(getattr(op.weight, "op", None), WeightOp):
            return "its weight is not a constant (nn.weight)"
        if co < shape[0] or ci < shape[1]:
            return f"the epitome {shape[0]}x{shape[1]} is larger than its weight's {co}x{ci} channels"
        return None

    def _shape(self, op: Conv2dOp) -> tuple[int, int]:
        if not self.divisors:
            return self.shape
        co, ci = op.weight.type.shape[:2]
        return -(-co // self.divisors[0]), -(-ci // self.divisors[1])

    def _fold(self, op: Conv2dOp) -> None:
        shape = self._shape(op)
        patch = self.patch or shape
        stride = self.stride or patch
        weight = constant(op.weight)
        element = op.weight.type.element
        epitome = ep.project(weight, shape, patch, stride).astype(element.numpy_dtype())
        residual = weight.astype(np.float64) - ep.materialize(epitome, *weight.shape[:2], patch, stride)
        norm = np.linalg.norm(weight.astype(np.float64))
        error = float(np.linalg.norm(residual) / norm) if norm > 0 else 0.0
        stored = new_weight(op, f"{op.weight.op.ref}_epitome", epitome, element)
        operands = [op.input, stored.result] + ([op.bias] if op.bias is not None else [])
        folded = ep.Conv2dOp.build(operands, [op.output.type], op.location, **op.attributes, patch=patch,
                                   stride=stride, projection_error=error)
        op.parent.insert_before(stored, op)
        op.parent.insert_before(folded, op)
        old = op.weight
        op.output.replace_all_uses_with(folded.output)
        op.erase()
        if not old.has_uses():
            old.op.erase()


def _check(option: str, values: tuple[int, ...], minimum: int, what: str) -> None:
    if values and (len(values) != 2 or min(values) < minimum):
        raise ValueError(f"{option} = {format_value(values)} must be {what}")

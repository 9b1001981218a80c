"""integer-mlg: give each generated weight its integer form, which `quantize` keeps, and count the model's memory.

    %w = mlg.generate(%b, %u, %v) {levels = "intra-cross", bits = [3, 6, 3], scales = [s_b, s_u, s_v]}
  ->
    %wi = mlg.weight(%b, %u, %v) {ref = "conv2.w", levels = "intra-cross", bits = [3, 6, 3], scales = [...]}
    %w = q.dequantize(%wi) {scale = s_b*s_u*s_v}

mlg.weight is the exact integer product V @ (U @ W^b), stored at the bits its values need; `quantize` keeps a
dequantized integer weight and its scale (docs/quantize.md), so the layer computes with exactly the generated
weight, and `lower-mlg` later maps it in stages from the factors it keeps. The model's memory ratio (paper
Eq. 4, model_base's bookkeeping: `memory.py`) is counted here, on the float model, into the module attributes
`mlg_memory_ratio` and `mlg_memory_bits` ([with MLG, at fp32]) and a note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pimc.dialects import mlg, q
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_canonicalize import constant
from pimc.dialects.nn_conv import WeightOp
from pimc.ir.types import ScalarType, TensorType
from pimc.pass_manager import ModulePass
from pimc.targets.mlg.memory import Memory, model_memory
from pimc.targets.mlg.stages import signed_bits


@dataclass(frozen=True)
class IntegerMlg(ModulePass):
    """Replace every mlg.generate by its dequantized integer weight, an mlg.weight."""

    name = "integer-mlg"

    def apply(self, module: ModuleOp) -> None:
        generators = [op for op in module.walk() if isinstance(op, mlg.GenerateOp)]
        if not generators:
            return
        memory = model_memory(module)
        module.attributes["mlg_memory_ratio"] = round(memory.ratio, 6)
        module.attributes["mlg_memory_bits"] = (memory.bits, memory.reference)
        module.notes = (*getattr(module, "notes", ()), memory_note(memory, len(generators)))
        for op in generators:
            self._replace(module, op)

    @staticmethod
    def _replace(module: ModuleOp, op: mlg.GenerateOp) -> None:
        codes = [constant(f) for f in op.factors]
        weight = mlg.integer_weight(op.levels, codes, op.weight_shape()[0]).reshape(op.output.type.shape)
        element = ScalarType(f"i{signed_bits(weight)}")
        basis = op.named()["basis"].op
        hint = f"{basis.ref.removesuffix('.basis')}.w" if isinstance(basis, WeightOp) else "mlg.w"
        ref = module.weights.add(hint, weight.astype(element.numpy_dtype()))
        extra = {key: getattr(op, key) for key in ("weight_error", "output_error") if getattr(op, key) is not None}
        ints = mlg.IntegerWeightOp.build(list(op.factors), [TensorType(op.output.type.shape, element)], op.location,
                                         ref=ref, levels=op.levels, bits=op.bits, scales=op.scales, **extra)
        ints.output.name_hint = ref
        real = q.DequantizeOp.build([ints.output], [op.output.type], op.location, scale=math.prod(op.scales))
        real.output.name_hint = op.output.name_hint
        for new in (ints, real):
            op.parent.insert_before(new, op)
        op.output.replace_all_uses_with(real.output)
        op.erase()


def memory_note(memory: Memory, generated: int) -> str:
    return (f"MLG memory ratio {memory.ratio:.4f} ({memory.bits / 8e6:.3f} MB of {memory.reference / 8e6:.3f} MB at "
            f"fp32; {generated} generated weights at their factors' bits, other convs, BatchNorm and biases at fp32, "
            "the classifier at 8 bits: docs/mlg.md)")

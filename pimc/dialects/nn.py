"""The `nn` dialect: ONNX-level tensor ops, normalized so that passes see one form of each.

    %c1 = nn.conv2d(%x, %w1, %b1) {pads = [1, 1, 1, 1]} : (tensor<1x2x4x4xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>

Ops are declared in `nn_conv` (weights and windows), `nn_elementwise` and
`nn_tensor`; their canonicalization patterns live in `nn_canonicalize`
(applied by `pimc.dialects.canonicalize`).
"""

from __future__ import annotations

from pimc.dialects import nn_conv, nn_elementwise, nn_tensor
from pimc.dialects.nn_base import NnOp
from pimc.dialects.nn_conv import (
    AveragePoolOp, Conv2dOp, ConvTranspose2dOp, GemmOp, GlobalAveragePoolOp, LrnOp, MatMulOp, MaxPoolOp, WeightOp,
)
from pimc.dialects.nn_elementwise import (
    AddOp, CastOp, ClipOp, DivOp, ErfOp, HardSigmoidOp, HardSwishOp, LeakyReluOp, MulOp, NegOp, PowOp, PReluOp,
    ReluOp, SigmoidOp, SoftmaxOp, SqrtOp, SubOp, SumOp, TanhOp,
)
from pimc.dialects.nn_tensor import (
    ConcatOp, FlattenOp, GatherOp, PadOp, ReduceMeanOp, ReshapeOp, ResizeOp, ShapeOnlyOp, SliceOp, SplitOp,
    SqueezeOp, TransposeOp, UnsqueezeOp,
)

OPS: tuple[type[NnOp], ...] = nn_conv.OPS + nn_elementwise.OPS + nn_tensor.OPS

__all__ = [
    "OPS", "NnOp", "ShapeOnlyOp", "AddOp", "AveragePoolOp", "CastOp", "ClipOp", "ConcatOp", "Conv2dOp",
    "ConvTranspose2dOp", "DivOp", "ErfOp", "FlattenOp", "GatherOp", "GemmOp", "GlobalAveragePoolOp",
    "HardSigmoidOp", "HardSwishOp", "LeakyReluOp", "LrnOp", "MatMulOp", "MaxPoolOp", "MulOp", "NegOp", "PadOp",
    "PowOp", "PReluOp", "ReduceMeanOp", "ReluOp", "ReshapeOp", "ResizeOp", "SigmoidOp", "SliceOp", "SoftmaxOp",
    "SplitOp", "SqrtOp", "SqueezeOp", "SubOp", "SumOp", "TanhOp", "TransposeOp", "UnsqueezeOp", "WeightOp",
]

"""numpy semantics of the `ep` dialect: an epitome conv is the conv of its materialised weight.

    %y = ep.conv2d(%x, %e) ...   ->   nn.conv2d(%x, materialize(%e, Co, Ci / group, patch, stride))
    %w = ep.materialize(%e) ...  ->   materialize(%e, Co, Ci, patch, stride)
"""

from __future__ import annotations

from pimc.dialects import ep
from pimc.interp import nn_ops
from pimc.interp.registry import impl


@impl(ep.Conv2dOp)
def conv2d(interp, op, x, epitome, b=None):
    co, ci, _, _ = op.weight_shape()
    return nn_ops.conv2d(interp, op, x, ep.materialize(epitome, co, ci, op.patch, op.stride), b)


@impl(ep.MaterializeOp)
def materialize(interp, op, epitome):
    co, ci = op.output.type.shape[:2]
    return ep.materialize(epitome, co, ci, op.patch, op.stride)

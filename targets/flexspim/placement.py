"""Layers of an integer snn network, their operand shapes, stationary operand and macros.

    conv2 16x8x3x3 w8 v16: weights 9,216 b, membranes 4,096 b -> OS (HS-min), channels 0:16 on macro 0, shape 1x16

A layer is a synapse (conv2d or affine, an FC being a 1x1 conv on a 1x1 map) with its neuron, or a readout.
HS-min keeps the operand with the smaller footprint in the macros (weights Co*Ci*k^2*b_W bits, membranes
Co*H*W*b_V bits); `layer-stationary` overrides it per layer. The Co membranes of one output position sit side by
side, each an N_R x N_C block of bit cells with N_C = min(b_V, cols // Co) and N_R = ceil(b_V / N_C); a weight lies
in its membrane's N_C columns, ceil(b_W / N_C) rows deep, since the in-memory adder works column by column. An
accumulation drives Co * N_C columns and the others stand by. Besides its stationary operand, a macro holds one
block of the streamed operand per channel (the membrane or weight that the accumulation adds in). Layers are
packed into the macros in order, whole output channels at a time, a layer spilling over as many macros as it
needs; more than `macros` is an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pimc.diagnostics import UserError
from pimc.dialects import snn
from pimc.dialects.nn_conv import WeightOp


@dataclass
class LayerPlan:
    name: str
    kind: str  # "conv" or "fc"
    in_shape: tuple[int, ...]  # the synapse's input per timestep, batch dropped (after routing)
    out_shape: tuple[int, ...]
    weight: np.ndarray  # integer, Co x Ci x kh x kw (fc: Co x K x 1 x 1)
    bias: np.ndarray | None
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    routing: list[dict]  # {"op": "sum_pool", "kernel", "strides", "pads"} or {"op": "flatten"}
    weight_bits: int
    vmem_bits: int
    overflow: str
    threshold: int
    reset: str
    compare: str
    readout: bool
    stationary: str = "ws"
    macros: list[int] = field(default_factory=list)
    channels: list[tuple[int, int]] = field(default_factory=list)  # the output channels lo:hi each macro holds
    operand_cols: int = 1
    resident: bool = True  # the stationary operand stays in the macros across timesteps

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    @property
    def neurons(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def weight_footprint(self) -> int:
        return int(self.weight.size) * self.weight_bits

    @property
    def vmem_footprint(self) -> int:
        return self.neurons * self.vmem_bits

    @property
    def stationary_bits(self) -> int:
        return self.weight_footprint if self.stationary == "ws" else self.vmem_footprint

    @property
    def operand_rows(self) -> int:
        """N_R of a membrane operand: bit rows per membrane."""
        return math.ceil(self.vmem_bits / self.operand_cols)

    @property
    def weight_rows(self) -> int:
        """Bit rows per weight, in its membrane's N_C columns."""
        return math.ceil(self.weight_bits / self.operand_cols)

    @property
    def channel_cells(self) -> int:
        """Bit cells one output channel takes in a macro: its stationary operand and one block of the streamed one."""
        membrane, weight = self.operand_rows * self.operand_cols, self.weight_rows * self.operand_cols
        positions, taps = self.neurons // self.out_channels, self.weight.size // self.out_channels
        return taps * weight + membrane if self.stationary == "ws" else positions * membrane + weight

    def column_groups(self, lo: int, hi: int, cols: int) -> int:
        """Array rows one row operation takes for channels lo:hi: more than one when they are wider than the array."""
        return math.ceil((hi - lo) * self.operand_cols / cols)

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "in_shape": list(self.in_shape),
                "out_shape": list(self.out_shape),
                "weight_shape": list(self.weight.shape), "bias": self.bias is not None, "strides": list(self.strides),
                "pads": list(self.pads), "routing": self.routing, "weight_bits": self.weight_bits,
                "vmem_bits": self.vmem_bits, "overflow": self.overflow, "threshold": self.threshold,
                "reset": self.reset, "compare": self.compare, "readout": self.readout, "stationary": self.stationary,
                "macros": self.macros, "channels": [list(c) for c in self.channels], "resident": self.resident,
                "operand_shape": [self.operand_rows, self.operand_cols], "weight_rows": self.weight_rows,
                "weight_footprint_bits": self.weight_footprint, "vmem_footprint_bits": self.vmem_footprint}


def layers(module) -> list[LayerPlan]:
    """The layers of an integer (stage "snn-int") module, in order."""
    plans, routing, synapse = [], [], None
    weights = module.weights
    for op in module.funcs()[0].body.ops:
        if isinstance(op, snn.SumPool2dOp):
            routing.append({"op": "sum_pool", "kernel": list(op.kernel), "strides": list(op.strides),
                            "pads": list(op.pads)})
        elif isinstance(op, snn.FlattenOp):
            routing.append({"op": "flatten"})
        elif isinstance(op, (snn.Conv2dOp, snn.AffineOp)):
            synapse = op
        elif isinstance(op, (snn.IfOp, snn.IntegrateOp)):
            plans.append(_plan(synapse, op, routing, weights))
            routing, synapse = [], None
    return plans


def _plan(syn, neuron, routing: list[dict], weights) -> LayerPlan:
    weight = weights[syn.weight.op.ref].astype(np.int64)
    conv = isinstance(syn, snn.Conv2dOp)
    if not conv:
        weight = weight[:, :, None, None]
    elif syn.group != 1 or tuple(syn.dilations) != (1, 1):
        raise UserError(f"layer '{syn.output.name_hint}': grouped or dilated convolutions are not supported by "
                        "flexspim")
    bias = weights[syn.bias.op.ref].astype(np.int64) if syn.bias is not None else None
    readout = isinstance(neuron, snn.IntegrateOp)
    return LayerPlan(
        name=syn.output.name_hint, kind="conv" if conv else "fc", in_shape=syn.input.type.shape[1:],
        out_shape=syn.output.type.shape[1:], weight=weight, bias=bias,
        strides=tuple(syn.strides) if conv else (1, 1), pads=tuple(syn.pads) if conv else (0, 0, 0, 0),
        routing=list(routing), weight_bits=syn.weight.type.element.width, vmem_bits=neuron.vmem_bits,
        overflow=neuron.overflow, threshold=0 if readout else int(neuron.threshold),
        reset="none" if readout else neuron.reset, compare="none" if readout else neuron.compare, readout=readout)


def place(plans: list[LayerPlan], config, spill: bool = False) -> list[LayerPlan]:
    """Choose each layer's stationary operand and operand shape, and pack its output channels into macros.

    A model that needs more macros than the target has is an error, unless `spill`: then a layer that does not fit
    runs on the last macro and reloads its stationary operand every timestep (how a weight-stationary-only mapping
    runs a model whose weights exceed the macros)."""
    overrides = config.per_layer(config.layer_stationary, len(plans), "layer-stationary")
    capacity, cursor, first_out = config.macro_bits, (0, config.macro_bits), None
    for plan, override in zip(plans, overrides):
        plan.stationary = _stationary(plan, config.stationary, override)
        plan.operand_cols = max(1, min(plan.vmem_bits, config.array_cols // min(plan.out_channels, config.array_cols)))
        if plan.channel_cells > capacity and not spill:
            operand = "weights" if plan.stationary == "ws" else "membranes"
            raise UserError(f"layer '{plan.name}' does not fit a macro: one output channel's {operand} take "
                            f"{plan.channel_cells:,} bit cells, but a {config.array_rows}x{config.array_cols} macro "
                            f"has {capacity:,} (keep its other operand stationary with layer-stationary, or use larger "
                            "arrays)")
        after = _pack(plan, cursor, capacity) if plan.channel_cells <= capacity else None
        if after is not None and (after[0] < config.macros or not spill):
            cursor, plan.resident = after, True
            first_out = first_out or (plan.name if after[0] >= config.macros else None)
            continue
        plan.macros, plan.channels, plan.resident = [config.macros - 1], [(0, plan.out_channels)], False
    if first_out is not None:
        needed = cursor[0] + 1
        raise UserError(f"the model does not fit: from layer '{first_out}' on, its stationary operands need {needed} "
                        f"macros of {config.array_rows}x{config.array_cols} bit cells, but the target has "
                        f"{config.macros} (set flexspim{{macros={needed}}})")
    return plans


def _pack(plan: LayerPlan, cursor: tuple[int, int], capacity: int) -> tuple[int, int]:
    """Whole output channels of `plan` into the macros from `cursor` (macro, free cells) on; the cursor after."""
    macro, free = cursor
    plan.macros, plan.channels = [], []
    lo, cells = 0, plan.channel_cells
    while lo < plan.out_channels:
        count = min(plan.out_channels - lo, free // cells)
        if count == 0:
            macro, free = macro + 1, capacity
            continue
        plan.macros.append(macro)
        plan.channels.append((lo, lo + count))
        lo, free = lo + count, free - count * cells
    return macro, free


def _stationary(plan: LayerPlan, rule: str, override: int) -> str:
    if override == 1 or (override == 0 and rule == "ws"):
        return "ws"
    if override == 2 or (override == 0 and rule == "os"):
        return "os"
    return "ws" if plan.weight_footprint <= plan.vmem_footprint else "os"

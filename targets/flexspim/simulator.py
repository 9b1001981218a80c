"""Runs a FlexSpIM program on integer state, event by event, layer first within each timestep.

    acc conv1 ch=0:8   for each input event (c, y, x, n): V[0:8, oy, ox] += n * W[0:8, c, ky, kx]

`run_batch` runs N samples side by side (each with its own membranes), as N runs of `run` would.

An input event at (c, y, x) reaches output (oy, ox) = ((y + pad_top - ky) / sh, (x + pad_left - kx) / sw) for
every kernel tap whose division is exact and inside the map; an FC layer is a 1x1 conv on a 1x1 map. Sum pools
before a layer remap addresses (events gain a count). After a layer's events, `clamp` saturates or wraps the
b_V-bit membranes, `fire` compares with the threshold and `reset` subtracts it or zeroes. Counts per layer feed
the cost model: events received, SOPs (one weight into one membrane), row operations, streamed bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pimc.targets.flexspim.placement import LayerPlan
from pimc.targets.flexspim.program import Program


@dataclass
class LayerStats:
    events: int = 0  # input events, counted with multiplicity
    sops: int = 0
    row_ops: int = 0  # (event, tap) pairs inside the map: the row operations of each macro holding the layer
    spikes: int = 0
    active_steps: int = 0  # timesteps in which the layer received events
    active_channels: int = 0  # input channels with events, summed over timesteps


@dataclass
class Simulator:
    program: Program
    record: bool = False  # keep each layer's accumulation, membranes and spikes per timestep (one sample runs)
    stats: list[LayerStats] = field(init=False)
    trace: list[dict] = field(init=False)

    def __post_init__(self) -> None:
        self.stats = [LayerStats() for _ in self.program.plans]
        self.trace = [{"delta": [], "spikes": [], "vmem": []} for _ in self.program.plans]

    def run(self, events: np.ndarray) -> np.ndarray:
        """The readout after T timesteps (or the last layer's spike counts) for events T x C x H x W, from rest."""
        return self.run_batch(events[None])[0]

    def run_batch(self, events: np.ndarray) -> np.ndarray:
        """`run` on N samples at once, events N x T x C x H x W: each sample has its own membranes, and the
        counts add up as N runs would."""
        if self.record and len(events) != 1:
            raise ValueError("a recording simulator runs one sample at a time")
        plans = self.program.plans
        vmem = [np.zeros((len(events), *p.out_shape), np.int64) for p in plans]
        by_layer = {}
        for instruction in self.program.instructions:
            by_layer.setdefault(instruction.layer, []).append(instruction)
        counts = np.zeros((len(events), *plans[-1].out_shape), np.int64)
        for frame in np.swapaxes(events, 0, 1):
            inbox = frame.astype(np.int64)
            for index, plan in enumerate(plans):
                state = _Step(plan, vmem[index], self.stats[index], inbox)
                for instruction in by_layer[index]:
                    state.execute(instruction)
                if self.record:
                    trace = self.trace[index]
                    trace["delta"].append(state.delta[0])
                    trace["spikes"].append(state.spikes[0].copy())
                    trace["vmem"].append(vmem[index][0].copy())
                inbox = state.spikes
            counts = vmem[-1].copy() if plans[-1].readout else counts + inbox
        return counts


class _Step:
    """One layer in one timestep, for a batch of samples: membranes, spikes and deltas are B x out_shape."""

    def __init__(self, plan: LayerPlan, vmem: np.ndarray, stats: LayerStats, inbox: np.ndarray) -> None:
        self.plan, self.vmem, self.stats, self.inbox = plan, vmem, stats, inbox
        self.delta = np.zeros_like(vmem)
        self.spikes = np.zeros(vmem.shape, np.int64)
        self.events = None
        self.counted = False  # row operations are counted at the first acc: every macro of the layer repeats them

    def execute(self, instruction) -> None:
        getattr(self, "op_" + instruction.op)(**instruction.args)

    def op_recv(self, route: str = "") -> None:
        x = self.inbox
        for step in self.plan.routing:
            x = x.reshape(len(x), -1) if step["op"] == "flatten" else _sum_pool(x, step)
        grid = x.reshape(len(x), -1, 1, 1) if self.plan.kind == "fc" else x
        first = self.events is None
        b, c, y, w = np.nonzero(grid)
        self.events = (b, c, y, w, grid[b, c, y, w])
        if not first:
            return
        self.stats.events += int(grid.sum())
        self.stats.active_steps += int(np.count_nonzero(grid.reshape(len(grid), -1).sum(1)))
        self.stats.active_channels += len(np.unique(b * grid.shape[1] + c))

    def op_load(self, operand: str, reload: int = 0) -> None:
        """Data movement into the macro: no state changes here; cost.py prices it from the event counts."""

    def op_store(self, operand: str) -> None:
        """Membranes back to the buffer: as op_load."""

    def op_acc(self, ch) -> None:
        """Every (event, kernel tap) pair that lands inside the map adds the weight row W[lo:hi, c, ky, kx]."""
        lo, hi = ch
        plan = self.plan
        b, c, y, x, n = self.events
        kh, kw = plan.weight.shape[2:]
        (sh, sw), (pt, pl) = plan.strides, plan.pads[:2]
        out = plan.out_shape if plan.kind == "conv" else (plan.out_shape[0], 1, 1)
        ky, kx = (a.reshape(1, -1) for a in np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij"))
        ty, tx = y[:, None] + pt - ky, x[:, None] + pl - kx  # events x taps
        ok = (ty % sh == 0) & (tx % sw == 0)
        ty, tx = ty // sh, tx // sw
        ok &= (ty >= 0) & (ty < out[1]) & (tx >= 0) & (tx < out[2])
        event, tap = np.nonzero(ok)
        rows = plan.weight[lo:hi, c[event], ky[0, tap], kx[0, tap]] * n[event]  # channels x (event, tap) pairs
        cells, width = out[1] * out[2], hi - lo
        where = (b[event] * width + np.arange(width)[:, None]) * cells + ty[event, tap] * out[2] + tx[event, tap]
        # float64 sums of integers below 2**53 are exact
        delta = np.rint(np.bincount(where.reshape(-1), rows.reshape(-1), len(self.vmem) * width * cells))
        self.stats.sops += int(n[event].sum()) * width
        self.stats.row_ops += 0 if self.counted else len(event)
        self.counted = True
        self._add(lo, hi, delta.astype(np.int64))

    def op_bias(self, ch) -> None:
        lo, hi = ch
        bias = self.plan.bias[lo:hi].reshape(-1, *[1] * (self.vmem.ndim - 2))
        delta = np.broadcast_to(bias, self.vmem[:, lo:hi].shape)
        self.stats.sops += int(delta.size)
        self._add(lo, hi, delta)

    def _add(self, lo: int, hi: int, delta: np.ndarray) -> None:
        delta = delta.reshape(self.vmem[:, lo:hi].shape)
        self.delta[:, lo:hi] += delta
        self.vmem[:, lo:hi] += delta

    def op_clamp(self, ch, bits: int, mode: str) -> None:
        """b_V-bit two's complement membranes: saturate at the ends of the range, or keep the low bits (wrap)."""
        lo, hi = ch
        v, sign = self.vmem[:, lo:hi], 1 << (bits - 1)
        wrapped = ((v & (2 * sign - 1)) ^ sign) - sign
        self.vmem[:, lo:hi] = np.clip(v, -sign, sign - 1) if mode == "saturate" else wrapped

    def op_fire(self, ch, threshold: int, compare: str) -> None:
        lo, hi = ch
        v = self.vmem[:, lo:hi]
        self.spikes[:, lo:hi] = (v > threshold) if compare == "gt" else (v >= threshold)

    def op_reset(self, ch, mode: str) -> None:
        lo, hi = ch
        fired = self.spikes[:, lo:hi].astype(bool)
        v = self.vmem[:, lo:hi]
        v[fired] = v[fired] - self.plan.threshold if mode == "subtract" else 0

    def op_send(self, ch) -> None:
        lo, hi = ch
        self.stats.spikes += int(self.spikes[:, lo:hi].sum())

    def op_out(self, ch) -> None:
        """The readout stays in its membranes; the host reads them after the last timestep."""


def _sum_pool(x: np.ndarray, step: dict) -> np.ndarray:
    """Window sums of B x C x H x W spike maps."""
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = step["kernel"], step["strides"], step["pads"]
    padded = np.pad(x, [(0, 0), (0, 0), (pt, pb), (pl, pr)])
    oh, ow = (padded.shape[2] - kh) // sh + 1, (padded.shape[3] - kw) // sw + 1
    out = np.zeros((*x.shape[:2], oh, ow), np.int64)
    for i in range(kh):
        for j in range(kw):
            out += padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    return out

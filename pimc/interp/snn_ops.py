"""numpy semantics of the `snn` dialect; a neuron's membranes live in the interpreter's cache between calls.

    %s = snn.if(%c) {threshold = 1.0}   ->   v += c; s = v > 1.0; v[s] -= 1.0

The interpreter's `run_timesteps` calls the function once per timestep of an event tensor (T x N x ...) and
sums each output over time: spike counts for a spiking output, the summed currents for a synapse's output.
Integer networks (stage "snn-int") compute exactly: synapse sums in float64 are exact integers well below 2**53.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.dialects import snn
from pimc.dialects.nn_base import window_output
from pimc.interp import nn_ops
from pimc.interp.registry import impl


def _exact(op, array: np.ndarray) -> np.ndarray:
    return np.rint(array).astype(np.int64) if op.output.type.element.is_integer else array


def convolve(op, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """snn.conv2d `op`'s convolution in float64 for any batch size (its attributes, not its types)."""
    n, c, h, wd = x.shape
    out_channels, per_group, kh, kw = w.shape
    (sh, sw), (dh, dw), (pt, pl, pb, pr), g = op.strides, op.dilations, op.pads, op.group
    oh, ow = window_output(h, kh, sh, pt, pb, dh), window_output(wd, kw, sw, pl, pr, dw)
    padded = nn_ops.pad2d(x.astype(np.float64), op.pads).reshape(n, g, per_group, h + pt + pb, wd + pl + pr)
    kernel = w.astype(np.float64).reshape(g, out_channels // g, per_group, kh, kw)
    acc = np.zeros((n, g, out_channels // g, oh * ow))
    for (i, j), view in nn_ops.kernel_taps(padded, (kh, kw), op.strides, op.dilations, (oh, ow)):
        acc += np.matmul(kernel[:, :, :, i, j], view.reshape(n, g, per_group, oh * ow))
    y = acc.reshape(n, out_channels, oh, ow)
    return y + b.astype(np.float64)[:, None, None] if b is not None else y


@impl(snn.Conv2dOp)
def conv2d(interp, op, x, w, b=None):
    return _exact(op, convolve(op, x, w, b))


@impl(snn.AffineOp)
def affine(interp, op, x, w, b=None):
    y = x.astype(np.float64) @ w.astype(np.float64).T
    return _exact(op, y + b.astype(np.float64) if b is not None else y)


def window_sum(op, x: np.ndarray) -> np.ndarray:
    """The sum over each pooling window of `op` (padded cells are zeros), for any batch size."""
    padded = nn_ops.pad2d(x.astype(np.float64), op.pads)
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = op.kernel, op.strides, op.pads
    out = window_output(x.shape[2], kh, sh, pt, pb, 1), window_output(x.shape[3], kw, sw, pl, pr, 1)
    return sum(view for _, view in nn_ops.kernel_taps(padded, op.kernel, op.strides, (1, 1), out))


@impl(snn.SumPool2dOp)
def sum_pool2d(interp, op, x):
    return _exact(op, window_sum(op, x))


@impl(snn.AvgPool2dOp)
def avg_pool2d(interp, op, x):
    return window_sum(op, x) / (op.kernel[0] * op.kernel[1])


@impl(snn.FlattenOp)
def flatten(interp, op, x):
    return x.reshape(len(x), -1)


def wrap(v: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement wrap-around to `bits` bits."""
    half = 1 << (bits - 1)
    return ((v + half) % (1 << bits)) - half


def saturate(v: np.ndarray, bits: int) -> np.ndarray:
    half = 1 << (bits - 1)
    return np.clip(v, -half, half - 1)


@dataclass(frozen=True)
class NeuronRule:
    """What a neuron does each timestep; integer when `vmem_bits` is set (then `leak` and `gain` are 1)."""

    threshold: float
    reset: str = "subtract"
    compare: str = "gt"
    leak: float = 1.0
    gain: float = 1.0
    vmem_bits: int | None = None
    overflow: str = "saturate"

    @classmethod
    def of(cls, op) -> NeuronRule:
        return cls(op.threshold, op.reset, op.compare, op.leak, op.gain, op.vmem_bits, op.overflow)


def clamp(v: np.ndarray, bits: int | None, overflow: str) -> np.ndarray:
    """A `bits`-bit membrane after overflow: saturated or wrapped (unchanged without bits)."""
    if bits is None:
        return v
    return (saturate if overflow == "saturate" else wrap)(v, bits)


def neuron_step(rule: NeuronRule, v: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One timestep: the new membranes and the spikes (0/1), from membranes `v` and input `x`."""
    if rule.vmem_bits is not None:
        v = clamp(v + x.astype(np.int64), rule.vmem_bits, rule.overflow)
    else:
        v = rule.leak * v + rule.gain * x.astype(np.float64)
    fired = v > rule.threshold if rule.compare == "gt" else v >= rule.threshold
    # a leaky neuron's subtraction is not decayed (snnTorch's order): the next step sees leak * v - threshold
    drop = rule.threshold / rule.leak if 0 < rule.leak < 1 else rule.threshold
    reset = v - drop if rule.reset == "subtract" else np.zeros_like(v)
    return np.where(fired, reset, v), fired.astype(np.int64)


@impl(snn.IfOp, snn.LifOp)
def neuron(interp, op, x):
    v = interp.cache.get(op)
    if v is None:
        v = np.zeros(x.shape, np.int64 if op.vmem_bits else np.float64)
    interp.cache[op], spikes = neuron_step(NeuronRule.of(op), v, x)
    return spikes


@impl(snn.IntegrateOp)
def integrate(interp, op, x):
    v = interp.cache.get(op, 0) + (x.astype(np.int64) if op.vmem_bits else x.astype(np.float64))
    interp.cache[op] = v = clamp(v, op.vmem_bits, op.overflow)
    return v

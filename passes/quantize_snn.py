"""quantize-snn: a float `snn` network to integers for a digital macro (stage "snn" -> "snn-int").

    %c = snn.conv2d(%s, %w) : (tensor<1x8x4x4xf32>, tensor<16x8x3x3xf32>) -> tensor<1x16x4x4xf32>
    %s1 = snn.if(%c) {threshold = 1.0}
  ->
    %c = snn.conv2d(%s, %wq) : (tensor<1x8x4x4xi8>, tensor<16x8x3x3xi8>) -> tensor<1x16x4x4xi32>
    %s1 = snn.if(%c) {threshold = 37, vmem_bits = 16} : (tensor<1x16x4x4xi32>) -> tensor<1x16x4x4xi8>

A layer is a synapse (conv2d or affine) and the neuron after it, or a readout (a synapse the function returns,
which becomes snn.integrate). One scale s per layer turns the effective weights (times the neuron's gain and the
1 / k^2 of average pools before the synapse, which become sum pools) into `weight-bits` integers and the
threshold into a `vmem-bits` one: w = round(W / s), theta = round(Theta / s); 1-bit weights are signs, -1 or +1. Layer by layer, on the calibration
events, s is the candidate whose integer spikes (fed by the already quantized layers) agree most often with the
float network's; candidates are the finest scale the weights allow, 5% steps coarser, and the scales that make
the threshold an exact integer. The module records each layer's scale and spike agreement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pimc.diagnostics import Diagnostic, DiagnosticError, op_error
from pimc.dialects import snn
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp, ReturnOp
from pimc.dialects.nn_conv import WeightOp
from pimc.dialects.nn_base import window_output
from pimc.interp import nn_ops, snn_ops
from pimc.ir.types import ScalarType, TensorType
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.weights import WeightStore, used_refs

SPIKES, CURRENT = ScalarType("i8"), ScalarType("i32")


@dataclass(frozen=True)
class Layer:
    synapse: snn.Conv2dOp | snn.AffineOp
    neuron: snn.IfOp | None
    routing: tuple  # sum/avg pools and flattens between the previous layer's spikes and the synapse


def layers_of(module: ModuleOp) -> list[Layer]:
    """The network's layers in order; a leaky neuron or a shape the macro cannot run is an error."""
    found, routing, synapse = [], [], None
    for op in module.funcs()[0].body.ops:
        if isinstance(op, WeightOp) or op.op_name == "func.return":
            continue
        if isinstance(op, snn.LifOp):
            raise op_error(op, f"leaky neuron (beta = {op.beta:g}) is not supported: the macro integrates without leak")
        if isinstance(op, (snn.Conv2dOp, snn.AffineOp)):
            if synapse is not None:
                raise op_error(op, "two synapses in a row: a neuron must come between them")
            synapse = op
        elif isinstance(op, snn.IfOp):
            if synapse is None:
                raise op_error(op, "a neuron must follow a synapse (conv2d or affine)")
            found.append(Layer(synapse, op, tuple(routing)))
            synapse, routing = None, []
        elif synapse is not None:
            raise op_error(op, "pools and flattens must come after a neuron, not between a synapse and its neuron")
        else:
            routing.append(op)
    if synapse is not None:
        found.append(Layer(synapse, None, tuple(routing)))
    elif routing:
        raise op_error(routing[0], "the network must end in a neuron or a synapse")
    return found


def route(routing, x: np.ndarray) -> np.ndarray:
    """Spikes through sum pools and flattens (average pools as sums): batch-first arrays."""
    for op in routing:
        x = x.reshape(len(x), -1) if isinstance(op, snn.FlattenOp) else snn_ops.window_sum(op, x)
    return x


def synapse_sum(op, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if isinstance(op, snn.Conv2dOp):
        return snn_ops.convolve(op, x, w, b)
    y = x.astype(np.float64) @ w.astype(np.float64).T
    return y + b if b is not None else y


PATCH_LIMIT = 1 << 23  # float64 elements (64 MB) of gathered conv patches; beyond it each candidate convolves


def synapse_of(op, x: np.ndarray) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
    """The synapse sums of inputs `x` as a function of the weights: a conv gathers its input patches once, so
    each candidate scale costs one matrix product (float64 sums of these integers are exact)."""
    if not isinstance(op, snn.Conv2dOp) or op.group != 1:
        return lambda w, b: synapse_sum(op, x, w, b)
    n, c, h, wd = x.shape
    kh, kw = op.weight.type.shape[2:]
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = op.strides, op.dilations, op.pads
    oh, ow = window_output(h, kh, sh, pt, pb, dh), window_output(wd, kw, sw, pl, pr, dw)
    if n * oh * ow * c * kh * kw > PATCH_LIMIT:
        return lambda w, b: synapse_sum(op, x, w, b)
    padded = nn_ops.pad2d(x.astype(np.float64), op.pads)
    taps = np.stack([view for _, view in nn_ops.kernel_taps(padded, (kh, kw), op.strides, op.dilations, (oh, ow))], 2)
    patches = taps.transpose(0, 3, 4, 1, 2).reshape(n * oh * ow, c * kh * kw)  # rows: (n, oy, ox); columns: (c, tap)

    def sums(w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        y = (patches @ w.reshape(len(w), -1).astype(np.float64).T).reshape(n, oh, ow, len(w)).transpose(0, 3, 1, 2)
        return y + b[:, None, None] if b is not None else y

    return sums


def run_neuron(rule: snn_ops.NeuronRule, currents: np.ndarray) -> np.ndarray:
    """Spikes over currents T x B x ...; one membrane per element, from rest."""
    v = np.zeros(currents.shape[1:], np.int64 if rule.vmem_bits else np.float64)
    spikes = np.empty(currents.shape, np.int64)
    for t, x in enumerate(currents):
        v, spikes[t] = snn_ops.neuron_step(rule, v, x)
    return spikes


@dataclass(frozen=True)
class IntegerLayer:
    scale: float
    weight: np.ndarray
    bias: np.ndarray | None
    rule: snn_ops.NeuronRule  # a readout's threshold is 0: it never fires
    agreement: float
    readout: bool = False


def average_factor(routing) -> float:
    return float(np.prod([1.0 / (op.kernel[0] * op.kernel[1]) for op in routing if isinstance(op, snn.AvgPool2dOp)]))


def layer_currents(layer: Layer, spikes: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """The synapse's currents, T x B x ..., for the previous layer's spikes T x B x ..."""
    steps, batch = spikes.shape[:2]
    routed = route(layer.routing, spikes.reshape(steps * batch, *spikes.shape[2:]))
    current = synapse_sum(layer.synapse, routed, w, b)
    return current.reshape(steps, batch, *current.shape[1:])


def quantize_layer(module, layer: Layer, float_in: np.ndarray, int_in: np.ndarray, weight_bits: int,
                   vmem_bits: int, overflow: str) -> tuple[IntegerLayer, np.ndarray, np.ndarray]:
    """The best integer version of `layer`, and the float and integer outputs it gives (T x B x ...)."""
    syn, neuron = layer.synapse, layer.neuron
    gain = neuron.gain if neuron is not None else 1.0
    w = module.weights[syn.weight.op.ref].astype(np.float64) * average_factor(layer.routing) * gain
    b = module.weights[syn.bias.op.ref].astype(np.float64) * gain if syn.bias is not None else None
    float_current = layer_currents(layer, float_in, w, b)
    top_w = (1 << (weight_bits - 1)) - 1
    top_v = (1 << (vmem_bits - 1)) - 1
    finest = max(np.abs(w).max() / top_w if weight_bits > 1 else np.abs(w).mean(), 1e-12)

    steps, batch = int_in.shape[:2]
    int_sums = synapse_of(syn, route(layer.routing, int_in.reshape(steps * batch, *int_in.shape[2:])))

    def integer(s: float) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        wq = np.clip(np.rint(w / s), -top_w, top_w) if weight_bits > 1 else np.where(w >= 0, 1, -1)
        bq = np.rint(b / s) if b is not None else None
        current = int_sums(wq, bq)
        return wq, bq, current.reshape(steps, batch, *current.shape[1:]).astype(np.int64)

    if neuron is None:
        wq, bq, current = integer(finest)
        v, readout = np.zeros(current.shape[1:], np.int64), np.empty_like(current)
        for t, x in enumerate(current):
            readout[t] = v = snn_ops.clamp(v + x, vmem_bits, overflow)
        rule = snn_ops.NeuronRule(0, vmem_bits=vmem_bits, overflow=overflow)
        return IntegerLayer(finest, wq, bq, rule, 1.0, readout=True), np.cumsum(float_current, 0), readout
    float_spikes = run_neuron(snn_ops.NeuronRule(neuron.threshold, neuron.reset, neuron.compare), float_current)
    theta = neuron.threshold
    finest = max(finest, theta / top_v)
    candidates = {finest * (1 + 0.05 * k) for k in range(12)}
    candidates |= {theta / n for n in range(max(1, int(theta / finest) - 8), int(theta / finest) + 1)}
    best = None
    for s in sorted(c for c in candidates if c >= finest):
        wq, bq, current = integer(s)
        rule = snn_ops.NeuronRule(max(1, min(top_v, round(theta / s))), neuron.reset, neuron.compare,
                                  vmem_bits=vmem_bits, overflow=overflow)
        spikes = run_neuron(rule, current)
        agreement = float(np.mean(spikes == float_spikes))
        if best is None or agreement > best[0].agreement:
            best = (IntegerLayer(s, wq, bq, rule, agreement), spikes)
    return best[0], float_spikes, best[1]


@dataclass(frozen=True)
class QuantizeSnn(ModulePass):
    """Quantize a float snn network: weights to weight-bits, thresholds and membranes to vmem-bits integers."""

    name = "quantize-snn"
    calib: str = param("", "-", "calibration events (.npz, x: N x T x C x H x W); empty: seeded random events at "
                       "20% density")
    samples: int = param(16, "-", "calibration samples used", 1, 1_000_000)
    weight_bits: tuple[int, ...] = param((8,), "bits", "weight precision, one for all layers or one per layer", 1, 16)
    vmem_bits: tuple[int, ...] = param((16,), "bits", "membrane precision, one for all layers or one per layer", 2, 16)
    overflow: Literal["saturate", "wrap"] = param("saturate", "-", "membrane overflow")
    timesteps: int = param(16, "-", "timesteps of the random calibration events", 1, 1 << 16)

    def per_layer(self, values: tuple[int, ...], count: int, option: str) -> list[int]:
        if len(values) not in (1, count):
            raise DiagnosticError(Diagnostic(f"{option} has {len(values)} values, but the network has {count} layers "
                                             "(give one value, or one per layer)"))
        return list(values) * count if len(values) == 1 else list(values)

    def apply(self, module: ModuleOp) -> None:
        layers = layers_of(module)
        wbits = self.per_layer(self.weight_bits, len(layers), "weight-bits")
        vbits = self.per_layer(self.vmem_bits, len(layers), "vmem-bits")
        events = calibration_events(self.calib, module, self.samples, self.timesteps)
        float_in, int_in = events.astype(np.float64), events.astype(np.int64)
        results = []
        for layer, wb, vb in zip(layers, wbits, vbits):
            chosen, float_in, int_in = quantize_layer(module, layer, float_in, int_in, wb, vb, self.overflow)
            results.append(chosen)
        rewrite(module, layers, results, wbits)


def calibration_events(path: str, module: ModuleOp, samples: int, timesteps: int) -> np.ndarray:
    """T x N x C x H x W calibration spikes: the file's first `samples`, or seeded random ones."""
    shape = module.funcs()[0].arguments[0].type.shape[1:]
    if not path:
        rng = np.random.default_rng(0)
        return (rng.random((timesteps, samples, *shape)) < 0.2).astype(np.int64)
    try:
        x = np.load(path)["x"][:samples]
    except (OSError, KeyError, ValueError) as failure:
        raise DiagnosticError(Diagnostic(f"{path}: cannot read calibration events (an .npz with 'x', N x T x "
                                         f"{'x'.join(map(str, shape))}): {failure}")) from None
    if x.shape[2:] != tuple(shape):
        raise DiagnosticError(Diagnostic(f"{path}: events are {'x'.join(map(str, x.shape[2:]))} per timestep, but the "
                                         f"network takes {'x'.join(map(str, shape))}"))
    return np.swapaxes(x, 0, 1)


def rewrite(module: ModuleOp, layers: list[Layer], results: list[IntegerLayer], wbits: list[int]) -> None:
    """Rebuild @main from the integer layers, and record their scales and spike agreements."""
    old = module.funcs()[0]
    shape = old.arguments[0].type.shape
    func = FuncOp.create("main", [TensorType(shape, SPIKES)], [])
    func.arguments[0].name_hint = old.arguments[0].name_hint
    block = func.body

    def emit(op_class, operands, element, location, shape, hint, **attributes):
        defaults = op_class.definition.attributes
        kept = {k: v for k, v in attributes.items() if defaults[k].kind.coerce(v) != defaults[k].default}
        op = op_class.build(operands, [TensorType(shape, element)], location, **kept)
        op.results[0].name_hint = hint
        block.append(op)
        return op.results[0]

    x = func.arguments[0]
    for layer, chosen, bits in zip(layers, results, wbits):
        for op in layer.routing:
            kind = snn.FlattenOp if isinstance(op, snn.FlattenOp) else snn.SumPool2dOp
            pools = {} if kind is snn.FlattenOp else {"kernel": op.kernel, "strides": op.strides, "pads": op.pads}
            x = emit(kind, [x], SPIKES, op.location, op.output.type.shape, op.output.name_hint, **pools)
        syn = layer.synapse
        operands = [x, _weight(module, block, syn.weight.op, chosen.weight, bits)]
        if chosen.bias is not None:
            operands.append(_weight(module, block, syn.bias.op, chosen.bias, 32))
        spatial = ({"strides": syn.strides, "pads": syn.pads, "dilations": syn.dilations, "group": syn.group}
                   if isinstance(syn, snn.Conv2dOp) else {})
        x = emit(type(syn), operands, CURRENT, syn.location, syn.output.type.shape, syn.output.name_hint, **spatial)
        rule = chosen.rule
        if chosen.readout:
            x = emit(snn.IntegrateOp, [x], CURRENT, syn.location, x.type.shape, f"{syn.output.name_hint}.readout",
                     vmem_bits=rule.vmem_bits, overflow=rule.overflow)
            continue
        n = layer.neuron
        x = emit(snn.IfOp, [x], SPIKES, n.location, x.type.shape, n.output.name_hint, threshold=int(rule.threshold),
                 reset=rule.reset, compare=rule.compare, vmem_bits=rule.vmem_bits, overflow=rule.overflow)
    func.attributes["result_types"] = (x.type,)
    block.append(ReturnOp([x]))
    old.erase()
    module.body.append(func)
    module.weights = WeightStore({ref: module.weights[ref] for ref in sorted(used_refs(module))})
    module.attributes["stage"] = "snn-int"
    module.attributes["layer_scales"] = tuple(float(r.scale) for r in results)
    module.attributes["spike_agreement"] = tuple(float(r.agreement) for r in results)


def _weight(module: ModuleOp, block, op: WeightOp, array: np.ndarray, bits: int):
    dtype = np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32
    ref = module.weights.add(op.ref + ".q", array.astype(dtype))
    new = WeightOp.build([], [TensorType(array.shape, ScalarType(f"i{bits}"))], op.location, ref=ref)
    new.results[0].name_hint = ref
    block.append(new)
    return new.results[0]

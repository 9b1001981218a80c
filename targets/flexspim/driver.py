"""NIR -> quantized snn IR -> placed layers -> program, and the runs that check it.

    compiled = compile_nir("model.nir", config, calib="events.npz")
    Simulator(compiled.program).run(events)          # T x C x H x W -> readout or spike counts

References (`verify`): (a) every layer's accumulation per timestep against onnxruntime running Conv/Gemm on
that timestep's input spike map, exactly; (b) the simulator against pimc's interpreter of the integer snn IR,
every spike and the readout, exactly; (c) the float NIR network: spike agreement per layer, top-1 agreement.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import asdict, dataclass

import numpy as np

from pimc.diagnostics import UserError
from pimc.frontend.nir import SnnOptions, import_nir
from pimc.interp.interpreter import run_timesteps
from pimc.text.printer import print_module
from pimc.targets.flexspim import cost
from pimc.targets.flexspim.placement import layers, place
from pimc.targets.flexspim.program import Program, emit
from pimc.targets.flexspim.simulator import Simulator


@dataclass
class Compiled:
    float_module: object
    module: object  # stage snn-int
    program: Program
    stages: list[tuple[str, str]]


def load_events(path: str, shape: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Event data: x (N x T x `shape` spikes) and y (N labels, optional) from an .npz."""
    try:
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x"], data["y"] if "y" in data.files else None
    except (OSError, KeyError, ValueError) as failure:
        raise UserError(f"{path}: cannot read event data (an .npz with x: N x T x C x H x W, y: labels): "
                        f"{failure}") from None
    if shape is not None and (x.ndim != 2 + len(shape) or tuple(x.shape[2:]) != tuple(shape)):
        raise UserError(f"{path}: x is {'x'.join(map(str, x.shape))}, but the network takes N x T x "
                        f"{'x'.join(map(str, shape))} events")
    return x, y


def compile_nir(path: str, config, calib: str = "", samples: int = 16) -> Compiled:
    """Import, quantize on the first `samples` of `calib` (seeded random events without), place and emit."""
    from pimc.ir.verifier import verify
    from pimc.passes.quantize_snn import QuantizeSnn

    options = SnnOptions(config.reset, config.compare, config.dt)
    float_module = import_nir(path, options)
    stages = [("import", print_module(float_module, False, True))]
    module = import_nir(path, options)
    QuantizeSnn(calib=calib, samples=samples, weight_bits=config.weight_bits,
                vmem_bits=config.vmem_bits, overflow=config.overflow).apply(module)
    verify(module)
    stages.append(("quantize", print_module(module, False, True)))
    plans = place(layers(module), config)
    return Compiled(float_module, module, emit(plans, config.macros, input_shape(module)), stages)


def input_shape(module) -> tuple[int, ...]:
    """One timestep's events, C x H x W (or K), of the network in `module`."""
    return tuple(module.funcs()[0].arguments[0].type.shape[1:])


def simulate(program: Program, events: np.ndarray, batch: int = 64) -> tuple[np.ndarray, Simulator]:
    """Outputs N x ... of the program for events N x T x ..., `batch` samples at a time, and the simulator holding
    the summed counts."""
    sim = Simulator(program)
    outputs = [sim.run_batch(events[start:start + batch]) for start in range(0, len(events), batch)]
    return np.concatenate(outputs), sim


def report(path: str, config, compiled: Compiled, events: np.ndarray) -> dict:
    """Costs per sample on `events` for the hybrid mapping and for weight-stationary only, with the quantization."""
    _, sim = simulate(compiled.program, events)
    plans = compiled.program.plans
    hybrid = cost.estimate(plans, sim.stats, config, samples=len(events))
    ws_plans = place(copy.deepcopy(plans), dataclasses.replace(config, stationary="ws", layer_stationary=(0,)),
                     spill=True)
    ws = cost.estimate(ws_plans, sim.stats, config, samples=len(events))
    h, w = hybrid["totals"], ws["totals"]
    return {
        "model": path, "target": "flexspim", "config": asdict(config),
        "quantization": [{"layer": p.name, "scale": s, "spike_agreement": a, "weight_bits": p.weight_bits,
                          "vmem_bits": p.vmem_bits, "threshold": p.threshold}
                         for p, s, a in zip(plans, compiled.module.attributes["layer_scales"],
                                            compiled.module.attributes["spike_agreement"])],
        "layers": [{**e, "macros": p.macros, "channels": [list(c) for c in p.channels],
                    "operand_shape": [p.operand_rows, p.operand_cols], "weight_rows": p.weight_rows,
                    "cells": p.channel_cells * p.out_channels, "weight_footprint_bits": p.weight_footprint,
                    "vmem_footprint_bits": p.vmem_footprint}
                   for e, p in zip(hybrid["layers"], plans)],
        "totals": {**h, "macros_used": len({m for p in plans for m in p.macros}), "samples": len(events)},
        "ws_only": {**w, "resident_layers": sum(p.resident for p in ws_plans),
                    "layers": [{"name": e["name"], "energy_pj": e["energy_pj"], "latency_ns": e["latency_ns"],
                                "resident": e["resident"]} for e in ws["layers"]]},
        "hybrid_vs_ws": {"energy_change": h["energy_pj"] / w["energy_pj"] - 1 if w["energy_pj"] else 0.0,
                         "latency_change": h["latency_ns"] / w["latency_ns"] - 1 if w["latency_ns"] else 0.0,
                         "paper": {"energy_change": -0.45, "latency_change": -0.52}},
        "program": {"instructions": len(compiled.program.instructions), "layers": len(plans),
                    "macros": compiled.program.macros},
    }


def float_outputs(path: str, config, events: np.ndarray) -> np.ndarray:
    """The float NIR network's outputs N x ... for events N x T x ..., all samples in one batch."""
    module = import_nir(path, SnnOptions(config.reset, config.compare, config.dt), batch=len(events))
    return run_timesteps(module, np.swapaxes(events, 0, 1).astype(np.float32)).reshape(len(events), -1)


def verify_references(compiled: Compiled, events: np.ndarray) -> dict:
    """References (a), (b) and (c) on `events` (N x T x ...)."""
    from pimc.runtime import onnxruntime

    onnxruntime()  # fails early if missing

    from pimc.targets.flexspim.reference import accumulation_mismatches, interpreter_mismatches, float_agreement

    simulated, sims = [], []
    for sample in events:
        sim = Simulator(compiled.program, record=True)
        simulated.append(sim.run(sample))
        sims.append(sim)
    simulated = np.stack(simulated)
    return {
        "accumulation_vs_onnxruntime": accumulation_mismatches(compiled.program, events, sims),
        "simulator_vs_interpreter": interpreter_mismatches(compiled.module, events, sims, simulated),
        "vs_float_nir": float_agreement(compiled.float_module, compiled.program, events, sims, simulated),
    }

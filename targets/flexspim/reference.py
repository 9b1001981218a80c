"""FlexSpIM's independent references: onnxruntime on each timestep's spike maps, pimc's snn interpreter, the float
NIR network.

    V_t - V_{t-1} (before clamping) == Conv(pool(S_t); W_int) in onnxruntime, exactly, for every layer and timestep
"""

from __future__ import annotations

import numpy as np

from pimc.interp.interpreter import run_timesteps
from pimc.targets.flexspim.program import Program


def _session(plan, in_shape: tuple[int, ...]):
    """onnxruntime on a batch of the spike maps the layer receives (`in_shape` each): its sum pools as depthwise
    Convs of ones, its flattens, then its synapse as Conv or Gemm (float32 holds these integers exactly)."""
    from onnx import TensorProto, helper, numpy_helper

    from pimc.runtime import make_session

    nodes, inits, x, channels = [], [], "x", in_shape[0]
    for index, step in enumerate(plan.routing):
        out = f"r{index}"
        if step["op"] == "flatten":
            nodes.append(helper.make_node("Flatten", [x], [out], axis=1))
        else:
            ones = np.ones((channels, 1, *step["kernel"]), np.float32)
            inits.append(numpy_helper.from_array(ones, f"ones{index}"))
            nodes.append(helper.make_node("Conv", [x, f"ones{index}"], [out], group=channels,
                                          strides=step["strides"], pads=step["pads"]))
        x = out
    weight = plan.weight.astype(np.float32)
    inits.append(numpy_helper.from_array(weight if plan.kind == "conv" else weight[:, :, 0, 0], "w"))
    inputs = [x, "w"]
    if plan.bias is not None:
        inits.append(numpy_helper.from_array(plan.bias.astype(np.float32), "b"))
        inputs.append("b")
    if plan.kind == "conv":
        nodes.append(helper.make_node("Conv", inputs, ["y"], strides=list(plan.strides), pads=list(plan.pads)))
    else:
        if x == "x" and len(in_shape) > 1:
            nodes.insert(0, helper.make_node("Flatten", ["x"], ["flat"], axis=1))
            inputs[0] = "flat"
        nodes.append(helper.make_node("Gemm", inputs, ["y"], transB=1))
    graph = helper.make_graph(nodes, plan.name, [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                             ["N", *in_shape])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return make_session(model, threads=1)


def accumulation_mismatches(program: Program, events: np.ndarray, sims) -> dict:
    """Per layer: timesteps checked and those whose accumulation differs from onnxruntime's on the spikes the
    previous layer sent (the input events for the first layer)."""
    result = {}
    for index, plan in enumerate(program.plans):
        if index == 0:
            maps = events.reshape(-1, *events.shape[2:])
        else:
            maps = np.stack([m for sim in sims for m in sim.trace[index - 1]["spikes"]])
        (expected,) = _session(plan, maps.shape[1:]).run(None, {"x": maps.astype(np.float32)})
        deltas = np.stack([d for sim in sims for d in sim.trace[index]["delta"]])
        wrong = int(np.sum(np.any(expected.reshape(deltas.shape) != deltas, axis=tuple(range(1, deltas.ndim)))))
        result[plan.name] = {"timesteps": len(maps), "mismatched": wrong}
    return result


def interpreter_mismatches(module, events: np.ndarray, sims, simulated: np.ndarray) -> dict:
    """Spikes of every layer at every timestep, and the outputs, against pimc's interpreter of the integer IR."""
    plans = sims[0].program.plans
    names = [p.name for p in plans]
    neuron_of = {}
    for op in module.funcs()[0].body.ops:
        if op.op_name in ("snn.if", "snn.integrate") and op.operands[0].name_hint in names:
            neuron_of[op.operands[0].name_hint] = op.results[0].name_hint
    wrong = {name: 0 for name in names}
    outputs_wrong = 0
    for sample, sim, out in zip(events, sims, simulated):
        seen = []
        total = run_timesteps(module, sample[:, None], lambda t, interp: seen.append(dict(interp.values)))
        outputs_wrong += int(np.any(total.reshape(out.shape) != out))
        for index, plan in enumerate(plans):
            if plan.readout:
                continue
            for t, values in enumerate(seen):
                spikes = values[neuron_of[plan.name]].reshape(sim.trace[index]["spikes"][t].shape)
                wrong[plan.name] += int(np.any(spikes != sim.trace[index]["spikes"][t]))
    return {"samples": len(events), "timesteps": len(events) * events.shape[1], "outputs_mismatched": outputs_wrong,
            "timesteps_mismatched": {k: v for k, v in wrong.items() if not plans[names.index(k)].readout}}


def float_agreement(float_module, program: Program, events: np.ndarray, sims, simulated: np.ndarray) -> dict:
    """Spike agreement per layer, top-1 agreement and (when the last layer spikes) output-count agreement of the
    simulated integer network with the float NIR one."""
    from pimc.dialects import snn

    neurons = [op for op in float_module.funcs()[0].body.ops if isinstance(op, snn.IfOp)]
    agree = {p.name: [0, 0] for p in program.plans if not p.readout}
    same_top1, float_top1, same_counts = 0, [], 0
    for sample, sim, out in zip(events, sims, simulated):
        seen = []
        names = [n.results[0].name_hint for n in neurons]
        total = run_timesteps(float_module, sample[:, None].astype(np.float32),
                              lambda t, interp: seen.append({name: interp.values[name] for name in names}))
        float_top1.append(int(np.argmax(total)))
        same_top1 += int(np.argmax(total) == np.argmax(out))
        same_counts += int(np.sum(np.asarray(total).reshape(-1) == out.reshape(-1)))
        spiking = [p for p in program.plans if not p.readout]
        for plan, neuron in zip(spiking, neurons):
            index = program.plans.index(plan)
            for t, values in enumerate(seen):
                mine = sim.trace[index]["spikes"][t].reshape(-1)
                theirs = values[neuron.results[0].name_hint].reshape(-1)
                agree[plan.name][0] += int(np.sum(mine == theirs))
                agree[plan.name][1] += mine.size
    return {"spike_agreement": {k: a / n for k, (a, n) in agree.items()},
            "top1_agreement": same_top1 / len(events), "float_top1": float_top1,
            "output_count_agreement": None if program.plans[-1].readout else same_counts / simulated.size}

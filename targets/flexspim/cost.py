"""Energy and latency of a FlexSpIM run from the simulator's counts, per layer and in total.

    energy = SOPs x sop-fj x b_W x b_V                      (in-array accumulation)
           + row ops x standby columns x standby-fraction x sop-fj x b_W x b_V / N_C   (precharge standby)
           + streamed bits x transfer-factor x sop-fj x b_W x b_V / (b_W + b_V)       (buffer <-> macro)
    latency = row ops x N_R x phases-per-bit / phase clock on the busiest macro + streamed bits / cols cycles

Every macro holding part of a layer sees all its events: a row operation there adds one weight row into the
(hi - lo) x N_C columns of its channels lo:hi, and the array's other columns stand by. The macro's energy per bit
accessed is one SOP's energy over the b_W + b_V bits it reads. These are pimc's model choices
(docs/flexspim.md), from the paper's per-SOP, standby and transfer ratios.
"""

from __future__ import annotations

from pimc.targets.flexspim.placement import LayerPlan
from pimc.targets.flexspim.simulator import LayerStats


def layer_cost(plan: LayerPlan, stats: LayerStats, config) -> dict:
    """Energy (pJ) and latency (ns) of one layer."""
    stationary = plan.stationary
    sop_pj = config.sop_fj * plan.weight_bits * plan.vmem_bits / 1e3
    cols = config.array_cols
    groups = [plan.column_groups(lo, hi, cols) for lo, hi in plan.channels]
    standby_cols = sum(g * cols - (hi - lo) * plan.operand_cols for g, (lo, hi) in zip(groups, plan.channels))
    standby_pj = stats.row_ops * standby_cols * config.standby_fraction * sop_pj / plan.operand_cols
    streamed = streamed_bits(plan, stats, stationary)
    transfer_pj = streamed * config.transfer_factor * sop_pj / (plan.weight_bits + plan.vmem_bits)
    array_pj = stats.sops * sop_pj
    compute_ns = stats.row_ops * max(groups) * plan.operand_rows * config.phases_per_bit / config.phase_ghz
    transfer_ns = streamed / config.array_cols / config.phase_ghz
    return {"name": plan.name, "kind": plan.kind, "stationary": stationary, "events": stats.events, "sops": stats.sops,
            "spikes": stats.spikes, "row_ops": stats.row_ops, "streamed_bits": streamed, "resident": plan.resident,
            "energy_pj": array_pj + standby_pj + transfer_pj,
            "energy_breakdown_pj": {"array": array_pj, "standby": standby_pj, "transfer": transfer_pj},
            "latency_ns": compute_ns + transfer_ns}


def streamed_bits(plan: LayerPlan, stats: LayerStats, stationary: str) -> int:
    """Bits moved between buffer and macros: WS moves the membranes in and out every timestep with events, OS the
    weights of every input channel with events; a layer that is not resident also reloads its stationary operand
    (membranes in and out) every timestep with events."""
    reload = 0 if plan.resident else plan.stationary_bits * stats.active_steps * (1 if stationary == "ws" else 2)
    if stationary == "ws":
        return 2 * plan.vmem_footprint * stats.active_steps + reload
    per_channel = plan.out_channels * plan.weight.shape[2] * plan.weight.shape[3] * plan.weight_bits
    return per_channel * stats.active_channels + reload


def estimate(plans: list[LayerPlan], stats: list[LayerStats], config, samples: int = 1) -> dict:
    """Per-layer and total costs per sample (counts over `samples` runs are divided by it)."""
    layers = [layer_cost(p, s, config) for p, s in zip(plans, stats)]
    for entry in layers:
        for key in ("events", "sops", "spikes", "row_ops", "streamed_bits", "energy_pj", "latency_ns"):
            entry[key] = entry[key] / samples
        entry["energy_breakdown_pj"] = {k: v / samples for k, v in entry["energy_breakdown_pj"].items()}
    sops = sum(e["sops"] for e in layers)
    energy = sum(e["energy_pj"] for e in layers)
    breakdown = {k: sum(e["energy_breakdown_pj"][k] for e in layers) for k in ("array", "standby", "transfer")}
    return {"layers": layers, "totals": {
        "sops": sops, "energy_pj": energy, "latency_ns": sum(e["latency_ns"] for e in layers),
        "energy_breakdown_pj": breakdown,
        "array_pj_per_sop": breakdown["array"] / sops if sops else 0.0,
        "pj_per_sop": energy / sops if sops else 0.0}}

"""MLG's part of the cost report: the weights' memory, their generation and programming, reloads, and each layer.

    report_costs(report, program, module)   # report["weight_load"], report["mlg"], each layer's "weight_load"

Every layer's weights are stored at their bits: a generated layer's factors (Eq. 4's numerator), any other layer's
integers. They stay in the tiles' eDRAM if the whole model's fit there (chips x tiles x edram-kib), else in DRAM.
A load of a layer reads them (eDRAM: edram-pj per 256-bit access, one access per cycle; DRAM: dram-pj-per-bit at
dram-gbps), generates what its crossbars hold from them (materialize: W_c = U W^b and W = V W_c; two-stage: W_c;
three-stage: nothing), and writes its crossbars' cells (cell-write-pj each, plus the bus; rows one after another
at cell-write-ns, the crossbars in parallel). Its latency is the slowest of the three, which stream into each
other. If the model fits on the chips, the load happens once, before any inference, and `weight_load` reports
it apart. If it does not (reload = true placed it over several chip-loads), every inference loads every layer,
and the loads join the totals. docs/mlg.md derives the constants.
"""

from __future__ import annotations

import math
from collections import defaultdict

from pimc.dialects import mlg
from pimc.targets.program import Program

COMPONENTS = ("weight_fetch", "generation", "programming")
STAGES = ("", ":w", ":wc", ":v", ":u", ":wb")  # a generated layer's report rows: the layer, or its stages


def report_costs(report: dict, program: Program, module) -> None:
    """Add the weight loads and MLG's per-layer figures to `report` (targets/cost.py's estimate)."""
    c = program.config
    generated = {dict(e)["layer"]: dict(e) for e in (module.attributes.get("mlg_layers", ()) if module else ())}
    loads = _layers(program, generated)
    stored = sum(load["stored_bits"] for load in loads.values())
    in_edram = stored <= c["chips"] * c["tiles"] * c["edram_kib"] * 8192
    chip_loads = math.ceil((max((x.chip for x in program.crossbars), default=0) + 1) / c["chips"])
    total = defaultdict(float)
    for row in report["layers"]:
        load = loads[row["name"]]
        fetch_pj, fetch_ns = _fetch(load["stored_bits"], in_edram, c)
        generation = [_generation(layer, c) for layer in load["generates"]]
        energy = {"weight_fetch": fetch_pj, "generation": sum(pj for pj, _ in generation),
                  "programming": load["cells"] * (c["cell_write_pj"] + c["cell_bits"] * c["bus_pj_per_bit"])}
        macs = sum(macs for _, macs in generation)
        latency = max(fetch_ns, macs / (c["gen_lanes"] * c["clock_ghz"] * load["tiles"]), load["rows"] * c["cell_write_ns"])
        row["cycles"] = load["cycles"]
        row["weight_load"] = {"stored_bits": load["stored_bits"], "cells_written": load["cells"], "generation_macs": macs,
                              "energy_pj": sum(energy.values()), "latency_ns": latency, "energy_breakdown_pj": energy}
        for component, pj in energy.items():
            total[component] += pj
        total["latency_ns"] += latency
        if chip_loads > 1:
            row["energy_pj"] += sum(energy.values())
            row["latency_ns"] += latency
            row["energy_breakdown_pj"] = dict(sorted({**row["energy_breakdown_pj"], **energy}.items()))
    report["weight_load"] = {"stored_bits": stored, "stored_in": "eDRAM" if in_edram else "DRAM",
                             "chip_loads": chip_loads, "every_inference": chip_loads > 1,
                             "energy_pj": sum(total[k] for k in COMPONENTS), "latency_ns": total["latency_ns"],
                             "energy_breakdown_pj": {k: total[k] for k in COMPONENTS}}
    if chip_loads > 1:
        _add_to_totals(report["totals"], total, c)
    if generated:
        report["mlg"] = _summary(module, generated, report["layers"])


def _layers(program: Program, generated: dict) -> dict[str, dict]:
    """Per report layer: the bits it stores, the cells its crossbars hold, its most rows on one crossbar, its
    tiles, its crossbar cycles (the most activations of one of its crossbars), and the generated layers whose
    factors it loads and generates from (a generated layer's first stage does, once)."""
    owner = {f"{name}{suffix}": name for name in generated for suffix in STAGES}
    activations = defaultdict(int)
    for i in program.instructions:
        if i.op == "mvm":
            v0, v1 = i.args["vectors"]
            activations[i.args["xbar"]] += (v1 - v0) * len(i.args["input_slices"])
    loads: dict[str, dict] = {}
    first: dict[str, str] = {}  # generated layer -> its first report row, which loads its factors
    for x in program.crossbars:
        load = loads.setdefault(x.layer, {"stored_bits": 0, "cells": 0, "rows": 0, "tiles": set(), "cycles": 0,
                                          "generates": []})
        load["cells"] += x.rows * x.cell_columns // (x.blocks or 1)
        load["rows"] = max(load["rows"], x.rows)
        load["tiles"].add((x.chip, x.tile))
        load["cycles"] = max(load["cycles"], activations[x.id])
        if x.layer in owner:
            first.setdefault(owner[x.layer], x.layer)
        else:  # stored as its crossbars hold it
            load["stored_bits"] += x.rows * x.weights * sum(x.cell_widths) // (x.blocks or 1)
    for load in loads.values():
        load["tiles"] = len(load["tiles"])
    for name, row in first.items():
        loads[row]["stored_bits"], loads[row]["generates"] = generated[name]["factor_bits"], [generated[name]]
    return loads


def _generation(layer: dict, c: dict) -> tuple[float, int]:
    """(energy in pJ, MACs) of generating a layer's crossbar weights once. A MAC multiplies two codes (energy
    scaled from the 8b x 8b multiplier by the product of their bits) and adds into an accumulator (energy scaled
    from the 16-bit shift-and-add by its bits): U W^b multiplies q_u by q_b bits into W_c, V W_c q_v bits by W_c's."""
    named = dict(zip(mlg.LEVELS[layer["levels"]], layer["bits"]))
    n_b, n_u, n_v = (mlg.code_limit(named[k]) if k in named else 1 for k in ("basis", "coeff_in", "coeff_out"))
    wc_peak = max(layer["b_i"], 1) * n_u * n_b
    wc_bits = wc_peak.bit_length() + 1
    intra, cross = layer["generation_macs"]
    intra_pj = c["gen_mult_pj"] * named.get("coeff_in", 0) * named["basis"] / 64 + c["shift_add_pj"] * wc_bits / 16
    w_bits = (layer["b_c"] * n_v * wc_peak).bit_length() + 1
    cross_pj = c["gen_mult_pj"] * named.get("coeff_out", 0) * wc_bits / 64 + c["shift_add_pj"] * w_bits / 16
    return intra * intra_pj + cross * cross_pj, intra + cross


def _fetch(bits: int, in_edram: bool, c: dict) -> tuple[float, float]:
    """(energy in pJ, time in ns) of reading `bits` of stored weights from eDRAM or DRAM."""
    if in_edram:
        accesses = math.ceil(bits / 256)
        return accesses * c["edram_pj"], accesses / c["clock_ghz"]
    return bits * c["dram_pj_per_bit"], bits / 8 / c["dram_gbps"]


def _add_to_totals(totals: dict, load: dict, c: dict) -> None:
    """A model reloaded every inference: the loads join its energy and latency, the next inference waits for the
    last chip-load's (no pipeline across inferences), and its area is the chips'."""
    from pimc.targets.cost import tile_area_um2

    totals["energy_breakdown_pj"] = dict(sorted({**totals["energy_breakdown_pj"],
                                                 **{k: load[k] for k in COMPONENTS}}.items()))
    totals["energy_pj"] += sum(load[k] for k in COMPONENTS)
    totals["latency_ns"] += load["latency_ns"]
    totals["latency_breakdown_ns"]["weight_load"] = load["latency_ns"]
    totals["pipeline_interval_ns"] = totals["latency_ns"]
    totals["tiles"] = min(totals["tiles"], c["chips"] * c["tiles"])
    totals["area_mm2"] = totals["tiles"] * tile_area_um2(c) / 1e6


def _summary(module, generated: dict, layers: list[dict]) -> dict:
    """report["mlg"]: the model's memory ratio and, per generated layer, its settings and its stages' costs."""
    summed = []
    for name, layer in generated.items():
        stages = [row for row in layers if row["name"] in {f"{name}{suffix}" for suffix in STAGES}]
        summed.append({**layer, "stages": [row["name"] for row in stages],
                       **{key: sum(row[key] for row in stages) for key in ("crossbars", "adc_converts", "cycles",
                                                                          "energy_pj", "latency_ns")}})
    bits, reference = module.attributes.get("mlg_memory_bits", (0, 0))
    return {"memory_ratio": module.attributes.get("mlg_memory_ratio"), "memory_bits": bits,
            "reference_bits": reference, "layers": summed}

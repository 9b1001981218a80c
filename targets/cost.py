"""The cost model: event counts read off a program, times the target's energy, latency and area tables.

    report = estimate(program)     # report["totals"]["energy_pj"], report["layers"][0]["adc_converts"], ...

Every count is exact for the program (an MVM over V vectors with S input slices activates its
crossbar V*S times and converts V*S*C cell columns); only the per-event costs come from tables.
One inference runs the layers one after another, each layer's crossbars in parallel; the
pipeline interval, the time per inference once the layer pipeline is full, is the slowest
layer's time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from pimc.ir.types import parse_type
from pimc.targets import target
from pimc.targets.crossbar import ADC_BY_BITS
from pimc.targets.program import Program, destinations
from pimc.targets.target import Target

FLIT_BYTES = 32  # 256-bit eDRAM words and router flits
Owners = dict[str, str | None]  # buffer -> the layer whose MVMs read (or wrote) it, None if several did
REPORTED = ("epitome_adds", "table_lookups")  # target digital ops every report counts per layer (EPIM's)


@dataclass
class Layer:
    name: str
    op: str
    crossbars: set = field(default_factory=set)
    macs: int = 0
    activations: int = 0
    adc_converts: int = 0
    dac_converts: int = 0
    latency_ns: float = 0.0
    recovery_converts: int = 0
    one_bit_converts: int = 0  # what the ADCs would convert with 1-bit input slices and no speculation
    mean_slice_value: float = 0.0
    weight_slices: tuple[int, ...] = ()  # bits per weight slice in its cells
    digital_events: dict = field(default_factory=lambda: defaultdict(int, dict.fromkeys(REPORTED, 0)))  # hooks' counts
    utilisation: dict = field(default_factory=dict)  # rows and cells in use on the layer's crossbars (`_utilisation`)
    energy: dict = field(default_factory=lambda: defaultdict(float))

    def as_json(self) -> dict:
        return {"name": self.name, "op": self.op, "crossbars": len(self.crossbars), "macs": self.macs,
                "crossbar_activations": self.activations, "adc_converts": self.adc_converts,
                "recovery_converts": self.recovery_converts, "weight_slices": list(self.weight_slices),
                "mean_slice_value": round(self.mean_slice_value, 6),
                **self.digital_events, **self.utilisation,
                "adc_share": self.adc_converts / self.one_bit_converts if self.one_bit_converts else 0.0,
                "energy_pj": sum(self.energy.values()), "latency_ns": self.latency_ns,
                "energy_breakdown_pj": dict(sorted(self.energy.items()))}


def estimate(program: Program, recovery: dict[int, int] | None = None, module=None) -> dict:
    """The report's cost part: per layer, in total, and by component.

    `recovery` gives each crossbar's recovery conversions in one inference, as the simulator counted
    them: the only counts a program does not fix. Without it, a speculating program's ADC counts and
    energy are lower bounds, and the totals say so. The target's `report_costs` hook adds its own costs,
    from the program and the placed `module` it was emitted from (None if not given).
    """
    c, hooks = program.config, target(program.target)
    crossbars = {x.id: x for x in program.crossbars}
    layers, readers, writers = _layers(program, crossbars)
    energy: dict[str, float] = defaultdict(float)
    digital_ns = transfer_ns = 0.0
    fetched: set = set()
    counts = defaultdict(int)
    for i in program.instructions:
        a = i.args
        if i.op == "mvm":
            x = crossbars[a["xbar"]]
            _mvm_cost(layers[x.layer], x, a, c, fetched, (i.tile, x.ima), hooks)
        elif i.op == "vop" and i.tile >= 0:
            results = [program.buffers[name] for name in destinations(a)]
            elements = sum(parse_type(b.type).num_elements for b in results)
            moved = sum(program.buffers[s].bytes for s in a["srcs"]) + sum(b.bytes for b in results)
            if a["kind"] in hooks.digital_costs:  # the target's own digital op, charged to the layer it serves
                charge = hooks.digital_costs[a["kind"]](program, a, elements, c)
                elements = charge.events
                layer = _owner(layers, readers if charge.owner == "reader" else writers, charge.buffers)
                (energy if layer is None else layer.energy)[charge.component] += elements * charge.pj
                if layer is not None:
                    layer.digital_events[charge.counter] += elements
                counts[charge.counter] += elements
            else:
                energy["digital"] += elements * c["digital_pj"]
                counts["digital_ops"] += elements
            energy["edram"] += math.ceil(moved / FLIT_BYTES) * c["edram_pj"]
            counts["edram_accesses"] += math.ceil(moved / FLIT_BYTES)
            digital_ns += elements / (c["clock_ghz"] * c["digital_lanes"])
        elif i.op == "send":
            flits = math.ceil(a["bytes"] / FLIT_BYTES) * a["hops"]
            energy["router"] += flits * c["router_pj"]
            counts["transfer_bytes"] += a["bytes"]
            counts["router_flits"] += flits
            transfer_ns += flits / c["clock_ghz"]
    speculative = any(i.op == "mvm" and i.args.get("speculate") for i in program.instructions)
    for xbar_id, converts in (recovery or {}).items():
        layer = layers[crossbars[xbar_id].layer]
        layer.adc_converts += converts
        layer.recovery_converts += converts
        layer.energy["adc"] += converts * ADC_BY_BITS[c["adc_bits"]][0]
        layer.energy["shift_add"] += converts * c["shift_add_pj"]
    for layer in layers.values():
        layer.mean_slice_value = _mean_slice_value(program, [crossbars[x] for x in sorted(layer.crossbars)], hooks)
        layer.utilisation = _utilisation([crossbars[x] for x in layer.crossbars], c)
        for component, pj in layer.energy.items():
            energy[component] += pj
    mapped_ns = sum(layer.latency_ns for layer in layers.values())
    tiles = {x.tile + x.chip * c["tiles"] for x in program.crossbars}
    totals = {
        "crossbars": len({(x.chip, x.tile, x.ima, x.xbar) for x in program.crossbars}),
        "tiles": len(tiles),
        "macs": sum(layer.macs for layer in layers.values()),
        "adc_converts": sum(layer.adc_converts for layer in layers.values()),
        "dac_converts": sum(layer.dac_converts for layer in layers.values()),
        "crossbar_activations": sum(layer.activations for layer in layers.values()),
        **counts,
        "energy_pj": sum(energy.values()),
        "latency_ns": mapped_ns + digital_ns + transfer_ns,
        "pipeline_interval_ns": max((layer.latency_ns for layer in layers.values()), default=0.0),
        "area_mm2": len(tiles) * tile_area_um2(c) / 1e6,
        **_utilisation(program.crossbars, c),
        "energy_breakdown_pj": dict(sorted(energy.items())),
        "latency_breakdown_ns": {"crossbar_layers": mapped_ns, "digital": digital_ns, "transfers": transfer_ns},
    }
    totals["converts_per_mac"] = totals["adc_converts"] / totals["macs"] if totals["macs"] else 0.0
    if speculative:
        totals["recovery_converts"] = sum(layer.recovery_converts for layer in layers.values())
        totals["recovery"] = "simulated on one input" if recovery is not None else \
            "not simulated: ADC conversions and energy are lower bounds (speculative conversions only)"
    report = {"totals": totals, "layers": [layer.as_json() for layer in layers.values()]}
    if hooks.report_costs:
        hooks.report_costs(report, program, module)
    return report


def _layers(program: Program, crossbars: dict) -> tuple[dict[str, Layer], Owners, Owners]:
    """The layers in program order, and the layer whose MVMs read, or wrote, each buffer (None if several did).

    Written buffers follow a layer's partial results through the xbar.add and xbar.concat that join them.
    """
    producers = {name: i for i in program.instructions if i.op == "vop" for name in destinations(i.args)}
    layers: dict[str, Layer] = {}
    readers: Owners = {}
    writers: Owners = {}
    for i in program.instructions:
        a = i.args
        if i.op == "mvm":
            x = crossbars[a["xbar"]]
            source = producers.get(_home(a["src"]))
            kind = "conv" if source is not None and source.args["kind"] in ("xbar.im2col", "xbar.wrap_sum") else "gemm"
            layers.setdefault(x.layer, Layer(x.layer, kind))
            _claim(readers, a["src"], x.layer)
            _claim(writers, a["dst"], x.layer)
        elif i.op == "vop" and a["kind"] in ("xbar.add", "xbar.concat"):
            sources = {writers.get(_home(s)) for s in a["srcs"]}
            if len(sources) == 1 and None not in sources:
                for name in destinations(a):
                    _claim(writers, name, *sources)
    return layers, readers, writers


def _claim(owners: Owners, name: str, layer: str) -> None:
    """Buffer `name` (or the buffer it is a copy of) belongs to `layer`, unless another layer claimed it."""
    home = _home(name)
    owners[home] = layer if owners.get(home, layer) == layer else None


def _owner(layers: dict[str, Layer], owners: Owners, names: list[str]) -> Layer | None:
    """The one layer that owns all these buffers, or None."""
    found = {owners.get(_home(name)) for name in names}
    if len(found) != 1 or None in found:
        return None
    return layers[found.pop()]


def _home(name: str) -> str:
    """`v` for `v` and for its copies `v@t3`, `v@host`."""
    return name.split("@")[0]


def _utilisation(xs: list, c: dict) -> dict:
    """Of the crossbars `xs`: the fraction of their rows and of their cells that hold the model's weights, and how
    many crossbars those cells would fill if packed perfectly."""
    rows, cells = c["xbar_rows"], c["xbar_rows"] * c["xbar_cols"]
    used = sum(x.cells_in_use for x in xs)
    return {"row_utilisation": round(sum(x.rows for x in xs) / (rows * len(xs)), 6) if xs else 0.0,
            "cell_utilisation": round(used / (cells * len(xs)), 6) if xs else 0.0,
            "ideal_crossbars": math.ceil(used / cells)}


def _mvm_cost(layer: Layer, x, a: dict, c: dict, fetched: set, ima: tuple, hooks: Target) -> None:
    """One MVM instruction's events and their energy and time, added to its layer."""
    (v0, v1), slices = a["vectors"], len(a["input_slices"])
    vectors, columns = v1 - v0, x.adc_columns
    driven = vectors * (2 if a.get("zero_point") else 1)  # signed input planes: each vector in two passes
    converts = driven * slices * columns  # speculative or plain; recovery conversions are counted apart
    activations = driven * (slices + (sum(a["input_slices"]) if a.get("speculate") else 0))
    layer.one_bit_converts += driven * sum(a["input_slices"]) * columns
    layer.crossbars.add(x.id)
    layer.weight_slices = x.cell_widths
    layer.macs += vectors * x.rows * x.weights // (x.blocks or 1)  # a packed crossbar's off-block cells multiply 0
    layer.activations += activations
    layer.adc_converts += converts
    layer.dac_converts += activations * x.rows
    e = layer.energy
    e["crossbar"] += activations * c["xbar_read_pj"] * x.rows / c["xbar_rows"]
    e["dac"] += activations * x.rows * c["dac_pj"]
    e["adc"] += converts * ADC_BY_BITS[c["adc_bits"]][0]
    e["shift_add"] += converts * c["shift_add_pj"]
    e["digital"] += driven * x.rows * c["digital_pj"] / c["digital_lanes"]  # the input sum for the offset
    for component, pj in (hooks.mvm_energy(x, driven, c) if hooks.mvm_energy else {}).items():
        e[component] += pj
    inputs = (*ima, a["src"], tuple(a["src_cols"]), v0, v1)
    if inputs not in fetched:  # an IMA's crossbars share the input vectors it fetched
        fetched.add(inputs)
        moved = vectors * x.rows * c["input_bits"] / 8
        e["edram"] += math.ceil(moved / FLIT_BYTES) * c["edram_pj"]
        e["bus"] += moved * 8 * c["bus_pj_per_bit"]
    written = vectors * x.weights * c["output_bits"] / 8
    e["edram"] += math.ceil(written / FLIT_BYTES) * c["edram_pj"]
    read_ns = max(c["xbar_read_ns"], columns / (c["adcs_per_xbar"] * c["adc_gsps"]))
    layer.latency_ns = max(layer.latency_ns, activations * read_ns)


WEIGHTS_AT_ONCE = 1 << 16  # stored weights whose cells _mean_slice_value reads at once: its temporaries stay in cache


def _mean_slice_value(program: Program, crossbars: list, hooks: Target) -> float:
    """The mean |slice value| over a layer's cells, each as a fraction of its slice's largest level: what
    sets column sums (RAELLA's artifact: typically 0.06 with Center+Offset, 0.5 with ISAAC's offsets)."""
    total, count = 0.0, 0
    for x, levels in program.cell_runs(crossbars):
        for start in range(0, len(levels), WEIGHTS_AT_ONCE):
            part = levels[start : start + WEIGHTS_AT_ONCE, None]  # (weights, 1, planes, slices), as slice_values takes
            values = hooks.datapath(x.encoding).slice_values(part).reshape(-1, len(x.cell_widths))
            sums = [values[:, j].sum(dtype=np.int64) for j in range(values.shape[1])]  # by slice: 6x a sum over axis 0
            total += float((np.array(sums, np.float64) / [(1 << w) - 1 for w in x.cell_widths]).sum())
            count += values.size
    return total / count if count else 0.0


def tile_area_um2(c: dict) -> float:
    """One tile: its IMAs (crossbars, ADCs, DACs, shift-adds, registers), eDRAM and share of a router."""
    xbar = c["xbar_um2"] + c["adcs_per_xbar"] * ADC_BY_BITS[c["adc_bits"]][1] + c["xbar_rows"] * c["dac_um2"]
    ima = c["xbars_per_ima"] * xbar + c["shift_adds_per_ima"] * c["shift_add_um2"] + c["ima_buffers_um2"]
    return c["imas_per_tile"] * ima + c["edram_um2"] + c["router_um2"]

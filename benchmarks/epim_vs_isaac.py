"""EPIM against the ISAAC-like baseline on a zoo network, factor by factor (issue: EPIM target).

    python benchmarks/epim_vs_isaac.py [--model resnet50] [--fold 4,4] [--calib-samples 1]

Each row compiles the model (seeded calibration inputs; costs are read off the program, which fixes every
count on these targets, so nothing is simulated):
  isaac 8b               the baseline: every conv's full weight on 128x128 crossbars of 2-bit cells
  epim 8b                epim, no folding: the same crossbars; the datapath adds nothing without epitomes
  epim 8b folded         epim{fold-co=4 fold-ci=4}: every conv folded into a plain-repeat epitome
                         ceil(Co/4) x ceil(Ci/4) (fold-epitome{divisors}; design-epitomes is too slow here)
  epim 3b folded         the same with 3-bit epitomes (2 cells a weight instead of 4)
The crossbar-area reduction is the ratio of crossbars (each with its ADC and DACs); the factors multiply to it:
datapath (epim 8b vs isaac), epitome compression (folded vs not) and weight bits (3b vs 8b). EPIM's paper
reports 30.65x for its 3-bit ResNet-50 (../shared/docs/domain.md §3.5), against a baseline it does not state.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile

from bench_import import build  # the zoo network, written to a folder

from pimc.compiler import compile_model
from pimc.targets import load_config
from pimc.targets.cost import estimate, tile_area_um2

PAPER = 30.65


def variants(fold: str) -> list[tuple[str, str]]:
    co, ci = fold.split(",")
    folded = f"fold-co={co} fold-ci={ci}"
    return [("isaac 8b", "isaac"), ("epim 8b", "epim"), (f"epim 8b folded {co}x{ci}", f"epim{{{folded}}}"),
            (f"epim 3b folded {co}x{ci}", f"epim{{weight-bits=3 {folded}}}")]


def measure(path: str, spec: str, samples: int) -> dict:
    config = load_config(spec)
    costs = estimate(compile_model(path, config, {}, "", samples=samples).program)
    xbar_um2 = tile_area_um2({**dataclasses.asdict(config), "xbars_per_ima": 1, "imas_per_tile": 1, "edram_um2": 0,
                              "router_um2": 0, "shift_adds_per_ima": 0, "ima_buffers_um2": 0})
    return {**costs["totals"], "xbar_area_mm2": costs["totals"]["crossbars"] * xbar_um2 / 1e6,
            "per_layer": {layer["name"]: layer["crossbars"] for layer in costs["layers"]},
            "convs": {layer["name"] for layer in costs["layers"] if layer["op"] == "conv"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--fold", default="4,4", help="output and input channel divisors of every conv's epitome")
    parser.add_argument("--calib-samples", type=int, default=1, help="seeded inputs quantization calibrates on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = build(args.model, folder)
        rows = [(label, spec, measure(path, spec, args.calib_samples)) for label, spec in variants(args.fold)]
    base = rows[0][2]
    print(f"{args.model}: EPIM against the ISAAC-like baseline (128x128 crossbars, 2-bit cells, 8-bit ADCs)\n")
    print("| variant | crossbars | crossbar area (mm²) | reduction | tiles | area (mm²) | energy (uJ) "
          "| epitome adds (nJ) | address tables (nJ) | latency (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, _, r in rows:
        energy = r["energy_breakdown_pj"]
        print(f"| {label} | {r['crossbars']:,} | {r['xbar_area_mm2']:.3f} | {base['crossbars'] / r['crossbars']:.2f}x "
              f"| {r['tiles']} | {r['area_mm2']:.1f} | {r['energy_pj'] / 1e6:.1f} | {energy.get('epitome_adds', 0) / 1e3:.1f} "
              f"| {energy.get('address_tables', 0) / 1e3:.1f} | {r['latency_ns'] / 1e6:.3f} |")
    crossbars = [r["crossbars"] for _, _, r in rows]
    print(f"\nfactors: datapath {crossbars[0] / crossbars[1]:.2f}x, epitome compression {crossbars[1] / crossbars[2]:.2f}x, "
          f"weight bits {crossbars[2] / crossbars[3]:.2f}x; total {crossbars[0] / crossbars[3]:.2f}x (paper: {PAPER}x)")
    convs = [sum(n for name, n in r["per_layer"].items() if name in base["convs"]) for _, _, r in rows]
    print(f"convs alone (the layers that fold): {convs[0]:,} -> {convs[3]:,} crossbars, {convs[0] / convs[3]:.2f}x\n")
    print("| layer | isaac 8b | epim 8b folded | epim 3b folded | reduction |")
    print("|---|---|---|---|---|")
    for name, count in base["per_layer"].items():
        folded, low = rows[2][2]["per_layer"][name], rows[3][2]["per_layer"][name]
        print(f"| {name} | {count} | {folded} | {low} | {count / low:.2f}x |")
    for label, spec, _ in rows:
        print(f"  {label}: {spec}")


if __name__ == "__main__":
    main()

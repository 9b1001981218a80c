"""RAELLA against the ISAAC-like baseline on a zoo network, technique by technique (issue: RAELLA target).

    python benchmarks/raella_ablation.py [--model resnet18] [--calib-samples 4]

Each row compiles the model and simulates one seeded image, so the data-dependent counts (recovery
conversions after speculation) are the simulator's, not assumed:
  isaac                  8-bit offset weights in 2-bit cells, 1-bit input slices, 8-bit ADCs
  C+O 2b                 raella{adaptive-slicing=false cell-bits=2 speculation=false}
  + adaptive slicing     raella{speculation=false}
  + speculation          raella
Energy and converts are per inference without weight copies. Throughput is iso-area: each target
copies its slow layers (`duplicate=true`) over the tiles that fit ISAAC's 168-tile chip area, and
the pipeline interval (the slowest layer) gives inferences per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections import Counter

from bench_import import build  # the zoo network, written to a folder

from pimc.commands.compile import simulate_sample
from pimc.compiler import compile_model
from pimc.targets import load_config
from pimc.targets.cost import estimate, tile_area_um2

VARIANTS = [
    ("isaac", "isaac"),
    ("C+O 2b", "raella{adaptive-slicing=false cell-bits=2 speculation=false}"),
    ("+ adaptive slicing", "raella{speculation=false}"),
    ("+ speculation", "raella"),
]


def measure(path: str, spec: str, samples: int) -> dict:
    """Counts, energy and fidelity of one compile, recovery conversions simulated on one seeded image."""
    compiled = compile_model(path, load_config(spec), {}, "", samples=samples)
    simulation, stats = simulate_sample(path, compiled, "")
    recovery = {xbar: s.recovery_converts for xbar, s in stats.items() if s.recovery_converts}
    totals = estimate(compiled.program, recovery)["totals"]
    slicings = Counter({x.layer: x.cell_widths for x in compiled.program.crossbars}.values())
    return {**totals, "cosine": min(t["cosine"] for t in simulation["tensors_vs_fp32"] if t["node"] == "output"),
            "saturated": simulation["saturated_converts"], "slicings": slicings}


def iso_area_interval(path: str, spec: str, tiles: int, samples: int) -> float:
    """The pipeline interval with slow layers copied over `tiles` tiles."""
    config = load_config(spec)
    config = dataclasses.replace(config, tiles=tiles, duplicate=True)
    return estimate(compile_model(path, config, {}, "", samples=samples).program)["totals"]["pipeline_interval_ns"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--calib-samples", type=int, default=4, help="seeded inputs quantization calibrates on")
    args = parser.parse_args()
    isaac_tile = tile_area_um2(dataclasses.asdict(load_config("isaac")))
    chip_area = load_config("isaac").tiles * isaac_tile
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = build(args.model, folder)
        for label, spec in VARIANTS:
            row = measure(path, spec, args.calib_samples)
            tiles = int(chip_area / tile_area_um2(dataclasses.asdict(load_config(spec))) + 1e-9)
            row["interval_ns"] = iso_area_interval(path, spec, tiles, args.calib_samples)
            row["iso_tiles"] = tiles
            rows.append((label, spec, row))
    base = rows[0][2]
    print(f"{args.model}: RAELLA's techniques against the ISAAC-like baseline (one seeded image, "
          f"{args.calib_samples} calibration inputs)\n")
    print("| variant | crossbars | converts/MAC | ADC energy (uJ) | energy (uJ) | efficiency vs isaac "
          "| iso-area tiles | throughput vs isaac | saturated converts | output cosine |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, _, r in rows:
        print(f"| {label} | {r['crossbars']:,} | {r['converts_per_mac']:.4f} | "
              f"{r['energy_breakdown_pj'].get('adc', 0) / 1e6:.1f} | {r['energy_pj'] / 1e6:.1f} | "
              f"{base['energy_pj'] / r['energy_pj']:.2f}x | {r['iso_tiles']} | "
              f"{base['interval_ns'] / r['interval_ns']:.2f}x | {r['saturated']:,} | {r['cosine']:.5f} |")
    print()
    for label, spec, r in rows:
        slicings = ", ".join(f"{'-'.join(map(str, s))} x {n}" for s, n in sorted(r["slicings"].items(), key=lambda i: len(i[0])))
        print(f"  {label}: {spec}; layers by weight slicing: {slicings}")


if __name__ == "__main__":
    main()

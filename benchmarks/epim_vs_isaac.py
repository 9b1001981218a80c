"""EPIM against the ISAAC-like baseline on a zoo network, factor by factor (issue: EPIM target).

    python benchmarks/epim_vs_isaac.py [--model resnet50] [--fold 4,4] [--budgets 0.1,0.3] [--calib-samples 1]
    python benchmarks/epim_vs_isaac.py --model samples/digits_cnn.onnx --input-shape x=1,1,8,8 \
        --calib samples/digits_test.npz --fold 2,2 --budgets 0.1,0.3 --calib-samples 16

Each row compiles the model (a zoo network, or an .onnx file; seeded calibration inputs unless --calib). Costs are
read off the program, which fixes every count on these targets, so nothing is simulated:
  isaac 8b               the baseline: every conv's full weight on 128x128 crossbars of 2-bit cells
  epim 8b                epim, no folding: the same crossbars; the datapath adds nothing without epitomes
  epim 8b folded         epim{fold-co=4 fold-ci=4}: every conv folded into a plain-repeat epitome
                         ceil(Co/4) x ceil(Ci/4) (fold-epitome{divisors})
  epim 3b folded         the same with 3-bit epitomes (2 cells a weight instead of 4)
  epim 3b designed       epim{weight-bits=3 design-budget=B}: design-epitomes chooses each conv's epitome for
                         the fewest crossbars within output error B (relative L2, on design-samples inputs)
The crossbar-area reduction is the ratio of crossbars (each with its ADC and DACs); the factors multiply to it:
datapath (epim 8b vs isaac), epitome compression (folded vs not) and weight bits (3b vs 8b). "output error" is
the float model's relative L2 output error with its epitomes against the unfolded model's, in onnxruntime on the
4 inputs design-epitomes measures on (the first of --calib, or seeded normal). EPIM's paper reports 30.65x for
its 3-bit ResNet-50 (../shared/docs/domain.md §3.5), trained with its epitomes, against a baseline it does not
state; the zoo's weights are seeded, with no epitome structure.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tempfile
import time

import numpy as np
from bench_import import build  # the zoo network, written to a folder

from pimc.calibrate import calibration_inputs
from pimc.commands.import_onnx import parse_input_shapes
from pimc.compiler import compile_model
from pimc.export_qdq import QdqExporter
from pimc.frontend.importer import import_onnx
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.targets.passes import all_passes
from pimc.runtime import make_session
from pimc.targets import load_config
from pimc.targets.cost import estimate, tile_area_um2

PAPER = 30.65


def variants(fold: str, budgets: list[str]) -> list[tuple[str, str]]:
    co, ci = fold.split(",")
    folded = f"fold-co={co} fold-ci={ci}"
    return [("isaac 8b", "isaac"), ("epim 8b", "epim"), (f"epim 8b folded {co}x{ci}", f"epim{{{folded}}}"),
            (f"epim 3b folded {co}x{ci}", f"epim{{weight-bits=3 {folded}}}"),
            *((f"epim 3b designed {b}", f"epim{{weight-bits=3 design-budget={b}}}") for b in budgets)]


def measure(path: str, spec: str, shapes: dict, calib: str, samples: int) -> dict:
    config = load_config(spec)
    start = time.perf_counter()
    compiled = compile_model(path, config, shapes, calib, samples=samples)
    seconds = time.perf_counter() - start
    costs = estimate(compiled.program)
    xbar_um2 = tile_area_um2({**dataclasses.asdict(config), "xbars_per_ima": 1, "imas_per_tile": 1, "edram_um2": 0,
                              "router_um2": 0, "shift_adds_per_ima": 0, "ima_buffers_um2": 0})
    epitome = next((s for name, s in compiled.pipelines if name == "epitome"), None)
    design = compiled.module.attributes.get("epitome_design")
    error = float(re.search(r"output error (\S+)", design[-1])[1]) if design else output_error(path, shapes, calib, epitome)
    return {**costs["totals"], "xbar_area_mm2": costs["totals"]["crossbars"] * xbar_um2 / 1e6, "seconds": seconds,
            "per_layer": {layer["name"]: layer["crossbars"] for layer in costs["layers"]},
            "convs": {layer["name"] for layer in costs["layers"] if layer["op"] == "conv"},
            "output_error": error}


def output_error(path: str, shapes: dict, calib: str, epitome: str | None) -> float:
    """The relative L2 error of the float model's outputs with the epitome stage's epitomes, in onnxruntime, on
    the inputs design-epitomes measures on by default (the first 4 of `calib`, or standard normal, seed 0)."""
    if epitome is None:
        return 0.0
    module = import_onnx(path, shapes)
    run_pipeline(module, parse_pipeline(epitome, all_passes()))
    runs = [session(import_onnx(path, shapes)), session(module)]
    squares = reference = 0.0
    for (x,) in calibration_inputs(module.funcs()[0], calib, 4, 0, "epim_vs_isaac"):
        y, z = (np.concatenate([o.ravel() for o in run(x)]).astype(np.float64) for run in runs)
        squares, reference = squares + np.sum((z - y) ** 2), reference + np.sum(y**2)
    return float(np.sqrt(squares / reference))


def session(module):
    exporter = QdqExporter(module)
    model = exporter.model()
    ort = make_session(model)
    name = exporter.names[module.funcs()[0].arguments[0]]
    return lambda x: ort.run(None, {name: x})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50", help="a samples/zoo.py network, or an .onnx file")
    parser.add_argument("--input-shape", action="append", default=[], help="NAME=D,D,... for an .onnx file")
    parser.add_argument("--calib", default="", help="calibration inputs (.npz) for quantize and design-epitomes")
    parser.add_argument("--fold", default="4,4", help="output and input channel divisors of every conv's epitome")
    parser.add_argument("--budgets", default="0.1,0.3", help="design-epitomes output error budgets, one row each")
    parser.add_argument("--calib-samples", type=int, default=1, help="seeded inputs quantization calibrates on")
    args = parser.parse_args()
    budgets = [b for b in args.budgets.split(",") if b]
    shapes = parse_input_shapes(args.input_shape)
    with tempfile.TemporaryDirectory() as folder:
        path = args.model if args.model.endswith(".onnx") else build(args.model, folder)
        rows = [(label, spec, measure(path, spec, shapes, args.calib, args.calib_samples))
                for label, spec in variants(args.fold, budgets)]
    base = rows[0][2]
    print(f"{args.model}: EPIM against the ISAAC-like baseline (128x128 crossbars, 2-bit cells, 8-bit ADCs)\n")
    print("| variant | crossbars | crossbar area (mm²) | reduction | output error | tiles | area (mm²) | energy (uJ) "
          "| epitome adds (nJ) | address tables (nJ) | latency (ms) | compile (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, _, r in rows:
        energy = r["energy_breakdown_pj"]
        print(f"| {label} | {r['crossbars']:,} | {r['xbar_area_mm2']:.3f} | {base['crossbars'] / r['crossbars']:.2f}x "
              f"| {r['output_error']:.3g} | {r['tiles']} | {r['area_mm2']:.1f} | {r['energy_pj'] / 1e6:.1f} "
              f"| {energy.get('epitome_adds', 0) / 1e3:.1f} | {energy.get('address_tables', 0) / 1e3:.1f} "
              f"| {r['latency_ns'] / 1e6:.3f} | {r['seconds']:.0f} |")
    crossbars = [r["crossbars"] for _, _, r in rows]
    print(f"\nfactors: datapath {crossbars[0] / crossbars[1]:.2f}x, epitome compression {crossbars[1] / crossbars[2]:.2f}x, "
          f"weight bits {crossbars[2] / crossbars[3]:.2f}x; total {crossbars[0] / crossbars[3]:.2f}x (paper: {PAPER}x)")
    convs = [sum(n for name, n in r["per_layer"].items() if name in base["convs"]) for _, _, r in rows]
    print("convs alone (the layers that fold): " + ", ".join(
        f"{label} {convs[0] / n:.2f}x" for (label, _, _), n in zip(rows[2:], convs[2:])) + "\n")
    print("| layer | " + " | ".join(label for label, _, _ in rows[:1] + rows[2:]) + " |")
    print("|---|" + "---|" * (len(rows) - 1))
    for name, count in base["per_layer"].items():
        print(f"| {name} | {count} | " + " | ".join(str(r["per_layer"][name]) for _, _, r in rows[2:]) + " |")
    for label, spec, _ in rows:
        print(f"  {label}: {spec}")


if __name__ == "__main__":
    main()

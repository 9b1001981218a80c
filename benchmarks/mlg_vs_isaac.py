"""MLG against the ISAAC-like baseline on a zoo network (ResNet-18 ImageNet shapes by default), mode by mode.

    python benchmarks/mlg_vs_isaac.py [--model resnet18] [--setting 2,44,3,6,3] [--calib-samples 1]

Each row compiles the model (seeded weights and calibration inputs) with `--estimate-only`'s cost model:
  isaac 8b          every conv's full weight at 8 bits on 128x128 crossbars of 2-bit cells, 8-bit ADCs
  mlg <mode>        mlg{fold=true b-i b-c factor-bits mode}: fold-mlg decomposes every conv at the setting (the
                    enabling rules decide each layer's levels), lower-mlg maps the generated weights in <mode>
Counted from the IR as well: the memory ratio (paper Eq. 4, model_base's bookkeeping: docs/mlg.md), and the
generation unit's MACs per weight load: materialize computes W = V (U W^b) once, two-stage only W_c = U W^b,
three-stage nothing (its crossbars hold the factors). The cost model (targets/cost.py) does not yet charge
generation MACs, factor storage or weight reloads: docs/mlg.md. The paper's MNSIM figures compare MLG with
8-bit BSConv (latency -27.2%, energy -85.7%), not with the full conv.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

from bench_import import build  # the zoo network, written to a folder

from pimc.compiler import compile_model
from pimc.frontend.importer import import_onnx
from pimc.pass_manager import parse_pipeline, run_pipeline
from pimc.targets.passes import all_passes
from pimc.targets import load_config
from pimc.targets.cost import estimate
from pimc.targets.mlg.memory import model_memory

MODES = ("materialize", "two-stage", "three-stage", "auto")


def generation_macs(module, mode: str) -> int:
    """MACs of the generation unit per load of every generated weight in `mode` (auto counted as two-stage)."""
    total = 0
    for op in module.walk():
        if op.op_name != "mlg.generate":
            continue
        co, ci, *kernel = op.weight_shape()
        b_i, b_c = op.hyper()
        intra = b_c * ci * b_i * math.prod(kernel) if b_i else 0
        cross = co * b_c * ci * math.prod(kernel) if "cross" in op.levels else 0
        total += {"materialize": intra + cross, "three-stage": 0}.get(mode, intra)
    return total


def measure(path: str, spec: str, samples: int) -> dict:
    start = time.perf_counter()
    compiled = compile_model(path, load_config(spec), {}, "", samples=samples)
    costs = estimate(compiled.program)["totals"]
    ratio = compiled.module.attributes.get("mlg_memory_ratio", 1.0)
    return {**costs, "memory_ratio": ratio, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18", help="a samples/zoo.py network")
    parser.add_argument("--setting", default="2,44,3,6,3", help="B_i,B_c,q_b,q_u,q_v")
    parser.add_argument("--calib-samples", type=int, default=1, help="seeded inputs quantization calibrates on")
    args = parser.parse_args()
    b_i, b_c, *bits = args.setting.split(",")
    fold = f"fold=true b-i={b_i} b-c={b_c} factor-bits={','.join(bits)}"
    rows = [("isaac 8b", "isaac")] + [(f"mlg {mode}", f"mlg{{{fold} mode={mode}}}") for mode in MODES]
    with tempfile.TemporaryDirectory() as folder:
        path = build(args.model, folder)
        folded = import_onnx(path, {})
        run_pipeline(folded, parse_pipeline(f"fold-mlg{{b-i={b_i} b-c={b_c} bits={','.join(bits)}}}", all_passes()))
        memory = model_memory(folded)
        results = [(label, spec, measure(path, spec, args.calib_samples)) for label, spec in rows]
    base = results[0][2]
    print(f"{args.model}: MLG {'-'.join(args.setting.split(','))} against the ISAAC-like baseline "
          f"(memory ratio {memory.ratio:.4f}, {memory.bits / 8e6:.2f} MB of {memory.reference / 8e6:.2f} MB)\n")
    print("| variant | crossbars | ADC conversions | energy (uJ) | vs isaac | latency (ms) | vs isaac "
          "| generation MACs | compile (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, _, r in results:
        mode = label.split()[-1]
        macs = generation_macs(folded, mode) if label.startswith("mlg") else 0
        print(f"| {label} | {r['crossbars']:,} | {r['adc_converts']:,} | {r['energy_pj'] / 1e6:.1f} "
              f"| {r['energy_pj'] / base['energy_pj'] - 1:+.1%} | {r['latency_ns'] / 1e6:.3f} "
              f"| {r['latency_ns'] / base['latency_ns'] - 1:+.1%} | {macs:,} | {r['seconds']:.0f} |")
    print("\npaper (MNSIM-2.0, ResNet-18 ImageNet, against 8-bit BSConv): latency 56.46 -> 41.11 ms (-27.2%), "
          "energy 25.77 -> 3.69 mJ (-85.7%)")
    for label, spec, _ in results:
        print(f"  {label}: {spec}")


if __name__ == "__main__":
    main()

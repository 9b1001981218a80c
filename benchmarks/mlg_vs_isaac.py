"""MLG against the ISAAC-like baseline on a zoo network (ResNet-18 ImageNet shapes by default), mode by mode.

    python benchmarks/mlg_vs_isaac.py [--model resnet18] [--setting 2,44,3,6,3] [--small-tiles 16] [--calib-samples 1]

Each row compiles the model (seeded weights and calibration inputs; --estimate-only's cost model):
  isaac 8b              every conv's full 8-bit weight on 128x128 crossbars of 2-bit cells, 8-bit ADCs
  mlg 8b                the same model through `mlg` without fold: ISAAC plus MLG's memory model (its weights
                        stored at 8 bits, loaded, programmed), the baseline the reload rows compare against
  mlg <mode>            mlg{fold=true b-i b-c factor-bits mode}: fold-mlg decomposes every conv at the setting (the
                        enabling rules decide each layer's levels), lower-mlg maps it in <mode>, intermediates exact
                        (<mode>/8: requantized to 8 bits, inter-bits=8); auto takes per layer the mode of fewest
                        crossbars (auto/conv: ADC conversions, auto/cycles: crossbar cycles)
Two chips: ISAAC's 168 tiles, which hold every variant's weights (they are loaded once, before inference: the
"load" columns), and --small-tiles tiles with reload = true, where a variant that does not fit is reloaded every
inference: its weights read (eDRAM if the model's stored weights fit in the tiles' eDRAM, else DRAM), generated and
programmed, and that energy and latency join the inference's. docs/mlg.md has the table and explains it against
the paper's MNSIM figures (ResNet-18 ImageNet against 8-bit BSConv: latency -27.2%, energy -85.7%).
"""

from __future__ import annotations

import argparse
import tempfile

from bench_import import build  # the zoo network, written to a folder

from pimc.compiler import compile_model
from pimc.targets import load_config
from pimc.targets.cost import estimate

MODES = (("two-stage", "mode=two-stage"), ("two-stage/8", "mode=two-stage inter-bits=8"),
         ("three-stage", "mode=three-stage"), ("three-stage/8", "mode=three-stage inter-bits=8"),
         ("materialize", "mode=materialize"), ("auto", "mode=auto"), ("auto/conv", "mode=auto objective=conversions"),
         ("auto/cycles", "mode=auto objective=cycles"))


def measure(path: str, spec: str, samples: int) -> dict:
    compiled = compile_model(path, load_config(spec), {}, "", samples=samples)
    return estimate(compiled.program, module=compiled.module)


def variants(setting: str, chip: str) -> list[tuple[str, str]]:
    b_i, b_c, *bits = setting.split(",")
    fold = f"fold=true b-i={b_i} b-c={b_c} factor-bits={','.join(bits)}"
    rows = [("isaac 8b", f"isaac{{{chip}}}")] if "reload" not in chip else []
    rows.append(("mlg 8b", f"mlg{{{chip}}}"))
    for label, options in MODES:
        rows.append((f"mlg {label}", f"mlg{{{fold} {options} {chip}}}".replace(" }", "}")))
    return rows


def table(title: str, results: list[tuple[str, dict]]) -> None:
    base = next(r for label, r in results if label == "mlg 8b")["totals"]
    print(f"\n{title}\n")
    print("| variant | crossbars | ADC conversions | energy (uJ) | vs mlg 8b | latency (ms) | vs mlg 8b | interval (ms) "
          "| stored (MB) | load energy (uJ) | load latency (ms) | reloaded |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, r in results:
        t, load = r["totals"], r.get("weight_load", {})
        stored = f"{load['stored_bits'] / 8e6:.2f} ({load['stored_in']})" if load else ""
        loads = (f"{load['energy_pj'] / 1e6:,.1f} | {load['latency_ns'] / 1e6:.3f} | "
                 f"{'yes' if load['every_inference'] else 'no'}") if load else " | | "
        print(f"| {label} | {t['crossbars']:,} | {t['adc_converts']:,} | {t['energy_pj'] / 1e6:,.1f} "
              f"| {t['energy_pj'] / base['energy_pj'] - 1:+.1%} | {t['latency_ns'] / 1e6:.3f} "
              f"| {t['latency_ns'] / base['latency_ns'] - 1:+.1%} | {t['pipeline_interval_ns'] / 1e6:.3f} | {stored} "
              f"| {loads} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18", help="a samples/zoo.py network")
    parser.add_argument("--setting", default="2,44,3,6,3", help="B_i,B_c,q_b,q_u,q_v")
    parser.add_argument("--small-tiles", type=int, default=16, help="tiles of the chip too small for the 8-bit model")
    parser.add_argument("--calib-samples", type=int, default=1, help="seeded inputs quantization calibrates on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = build(args.model, folder)
        for title, chip in (("ISAAC's chip (168 tiles): weights resident, loaded once", ""),
                            (f"A chip of {args.small_tiles} tiles: a model that does not fit is reloaded every inference",
                             f"tiles={args.small_tiles} reload=true")):
            results = [(label, measure(path, spec, args.calib_samples)) for label, spec in variants(args.setting, chip)]
            mlg = next(r for label, r in results if label == "mlg two-stage").get("mlg", {})
            table(f"{args.model}, MLG {args.setting.replace(',', '-')} (memory ratio {mlg.get('memory_ratio', 0):.4f}): "
                  f"{title}", results)
    print("\npaper (MNSIM-2.0, ResNet-18 ImageNet, against 8-bit BSConv): latency 56.46 -> 41.11 ms (-27.2%), "
          "energy 25.77 -> 3.69 mJ (-85.7%)")


if __name__ == "__main__":
    main()

"""`pimc compile MODEL --target T -o DIR`: the crossbar program, the IR after each stage, and report.json.

    DIR/program.txt, program.json, cells.npz, constants.npz   the program (docs/isa.md)
    DIR/ir/0-import.pimc ... 4-place.pimc, DIR/ir/weights.npz  the IR after each stage
    DIR/report.json                                             counts, energy, latency, area, fidelity
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

from pimc.diagnostics import UsageError

from pimc.commands.import_onnx import add_input_shape_argument, check_model_path, note_defaults, parse_input_shapes
from pimc.commands.opt import add_printing_arguments, instrumentation

HELP = "compile an ONNX model to a crossbar program for a target"


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, help="a target, with options: 'isaac{adc-bits=6 xbar-rows=256}'")
    parser.add_argument("--target-config", metavar="FILE", help="a TOML file of target options, applied before --target's")
    parser.add_argument("--calib", metavar="NPZ", default="", help="calibration inputs (default: seeded normal samples)")
    parser.add_argument("--calib-samples", type=int, default=16, metavar="N",
                        help="how many inputs quantization calibrates on (default: 16)")
    parser.add_argument("--calib-ranges", metavar="JSON", default="",
                        help="reuse the ranges of a calibration.json an earlier compile of this model wrote")
    add_input_shape_argument(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the ONNX file")
    add_target_arguments(parser)
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="the output directory")
    parser.add_argument("--estimate-only", action="store_true", help="report costs without simulating a sample input")
    parser.add_argument("--json", action="store_true", help="print report.json instead of the summary table")
    add_printing_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from pimc.compiler import compile_model
    from pimc.frontend.importer import host_ops
    from pimc.memory import reuse_freed_memory
    from pimc.outputs import output_directory
    from pimc.targets import load_config
    from pimc.targets.simulator import one_blas_thread
    from pimc.weights import used_refs

    args.source_name = args.model
    if args.model.endswith(".nir"):  # NIR spiking networks: the flexspim target
        from pimc.targets.flexspim.commands import compile_command

        check_model_path(args.model)
        return compile_command(args)
    check_target_inputs(args)
    config = load_config(args.target, args.target_config)
    shapes = parse_input_shapes(args.input_shape)
    last = config.stages(args.calib, args.calib_samples)[-1][0]
    # calibration, the passes and emission free and allocate arrays of the same sizes again; blocks over 32 MB go
    # back at once (keeping VGG-16's too took its --estimate-only peak from 2.8 to 3.8 GB)
    reuse_freed_memory(32 << 20)

    def save_weights(stage: str, module) -> None:  # the stages' weights, final after the last: written during emission
        if stage == last:  # then only the last stage's are held (VGG-16's float weights are not, through the sample)
            writer.submit(save_then_keep, module.weights, os.path.join(staging, "ir", "weights.npz"), used_refs(module))

    # BLAS threads contend on a busy machine; the outputs are written on another thread while emission and the
    # sample run
    with one_blas_thread(), output_directory(args.output) as staging, ThreadPoolExecutor(1) as writer:
        os.makedirs(os.path.join(staging, "ir"))
        compiled = compile_model(args.model, config, shapes, args.calib, instrumentation(args), keep_stages=True,
                                 after_stage=save_weights, samples=args.calib_samples, calib_ranges=args.calib_ranges,
                                 save_ranges=os.path.join(staging, "calibration.json"))
        written = writer.submit(write_program, staging, compiled)
        simulation, stats = (None, None) if args.estimate_only else simulate_sample(args.model, compiled, args.calib)
        recovery = {xbar: s.recovery_converts for xbar, s in stats.items() if s.recovery_converts} if stats is not None else None
        report = build_report(args.model, config, compiled, dict(host_ops(compiled.module)), recovery)
        if simulation is not None:
            report["simulation"] = simulation
        written.result()
        write_report(staging, report)
        if args.json:
            print(json.dumps(report, indent=1))
        else:
            print_summary(report, args.output)
        note_defaults(compiled.module, "compile")
    return 0


def check_target_inputs(args: argparse.Namespace) -> None:
    """The model and the files the target options name exist, as files: else a usage error (exit 2)."""
    from pimc.frontend.load import check_arrays, check_input

    check_model_path(args.model)
    check_arrays(args.calib, "--calib")
    check_input(args.target_config, "--target-config")
    check_input(args.calib_ranges or None, "--calib-ranges")
    if args.calib_samples < 1:
        raise UsageError(f"--calib-samples {args.calib_samples}: give a positive number of samples")


def save_then_keep(store, path: str, used: set[str]) -> None:
    """Save every array of `store` to `path`, then hold only those `used`."""
    store.save(path)
    store.keep_only(used)


def build_report(model: str, config, compiled, hosted: dict, recovery: dict[int, int] | None = None) -> dict:
    from pimc.targets.cost import estimate

    costs = estimate(compiled.program, recovery, compiled.module)
    program = compiled.program
    design = compiled.module.attributes.get("epitome_design")
    return {
        "model": model, "target": config.name, "config": config.as_dict(),
        "stages": [{"name": name, "pipeline": spec} for name, spec in compiled.pipelines],
        **costs,
        "host_ops": [{"op": name, "count": n} for name, n in sorted(hosted.items())],
        "digital_ops": [{"op": name, "count": n} for name, n in sorted(Counter(
            i.args["kind"] for i in program.instructions if i.op == "vop" and i.tile >= 0).items())],
        "program": {"instructions": len(program.instructions), "tiles": len(program.tiles),
                    "crossbars": len(program.crossbars), "constants": len(program.constants)},
        **({"epitome_design": list(design)} if design else {}),
    }


def simulate_sample(model: str, compiled, calib: str) -> tuple[dict, dict]:
    """Run the program on one sample, the integer reference alongside it (`Compiled.reference_alongside`) and
    onnxruntime's fp32 run on another thread; report saturation, exactness and the tensors against fp32, and
    return the simulator's counts per crossbar beside it. Tensors are compared with the reference's as they are
    made and then let go, so the two runs never hold all of theirs at once."""
    from concurrent.futures import ThreadPoolExecutor

    from pimc.commands.verify_target import Observed, real_tensor, real_value_plan
    from pimc.inputs import sample_input
    from pimc.targets.simulator import Simulator, progress_bar

    inputs = sample_input(calib, compiled.module.funcs()[0])
    plan = real_value_plan(compiled)
    observed = Observed(set(), plan)
    reference = compiled.reference_alongside(inputs)

    def look(name: str, array) -> None:
        reference(name, array)
        observed(name, array)

    floats = {name: value.type.element.is_float for value, name in compiled.buffers.items()}  # as simulated
    tensors = {real_tensor(hint, scaling, floats[name]) for name, entries in plan.items() for _, hint, scaling in entries}
    with ThreadPoolExecutor(1) as beside:  # onnxruntime's fp32 run of the tensors the simulator will give
        fp32 = beside.submit(_fp32_tensors, model, tensors - {None}, inputs)
        sim = Simulator(compiled.program, progress_bar("simulating"), observer=look)
        sim.run(inputs)
    mismatched = reference.mismatched()
    by_layer: dict = {}
    for x in compiled.program.crossbars:
        counts = sim.stats[x.id]
        entry = by_layer.setdefault(x.layer, {"layer": x.layer, "adc_converts": 0, "saturated": 0, "flagged": 0,
                                              "fast_path": True})
        entry["adc_converts"] += counts.adc_converts
        entry["saturated"] += counts.saturated
        entry["flagged"] += counts.flagged
        entry["fast_path"] &= counts.fast
    for entry in by_layer.values():
        entry["saturation_rate"] = entry["saturated"] / entry["adc_converts"] if entry["adc_converts"] else 0.0
    stats = sim.stats
    del sim  # its crossbars and buffers, before the comparisons
    return {
        "tensors_vs_fp32": _against_fp32(*fp32.result(), observed.real_values()),
        "input": f"first sample of {calib}" if calib else "seeded normal (seed 0)",
        "bit_exact_vs_integer_reference": not mismatched,
        "mismatched_tensors": mismatched[:10],
        "saturated_converts": sum(e["saturated"] for e in by_layer.values()),
        "layers": list(by_layer.values()),
    }, stats


def _fp32_tensors(path: str, tensors: set[str], inputs: dict) -> tuple[list[tuple[str, str]], dict]:
    """(node, tensor) of the model's outputs and of each of `tensors` that a node computes, and their values in
    onnxruntime fp32 on `inputs`."""
    from pimc.frontend.load import load_inlined
    from pimc.runtime import intermediate_names, run_model, weights_apart

    model, weights = weights_apart(load_inlined(path))  # the loaded protobuf goes before the session copies them
    extra = intermediate_names(model, tensors)
    return extra + [("output", o.name) for o in model.graph.output], run_model(model, inputs, extra, weights)


def _against_fp32(compared: list[tuple[str, str]], fp32: dict, simulated: dict) -> list[dict]:
    """Every tensor of the model that the program computes (`simulated`, real values by ONNX name), against
    onnxruntime fp32 (`_fp32_tensors`) on the same input."""
    from pimc.interp.compare import compare

    return [{"node": node, "tensor": tensor, "cosine": c.cosine, "max_rel_error": c.max_rel_error}
            for node, tensor in compared if tensor in simulated
            for c in [compare(tensor, fp32[tensor], simulated[tensor], 0.0, 0.0)]]


def write_program(directory: str, compiled) -> None:
    """The program and each stage's IR (beside the weights they name, ir/weights.npz)."""
    compiled.program.write(directory)
    for index, (stage, text) in enumerate(compiled.stages):
        with open(os.path.join(directory, "ir", f"{index}-{stage}.pimc"), "w") as file:
            file.write(text)


def write_report(directory: str, report: dict) -> None:
    with open(os.path.join(directory, "report.json"), "w") as file:
        json.dump(report, file, indent=1, allow_nan=False)  # strict JSON: a NaN here is a bug
        file.write("\n")


def print_summary(report: dict, directory: str) -> None:
    t = report["totals"]
    out = sys.stdout
    out.write(f"pimc compile {report['model']} --target {report['target']} -> {directory}/\n")
    rows = [("layer", "op", "crossbars", "MACs", "ADC converts", "energy (nJ)", "latency (us)")]
    for layer in report["layers"]:
        rows.append((layer["name"], layer["op"], str(layer["crossbars"]), f"{layer['macs']:,}",
                     f"{layer['adc_converts']:,}", f"{layer['energy_pj'] / 1e3:.2f}", f"{layer['latency_ns'] / 1e3:.2f}"))
    rows.append(("total", "", str(t["crossbars"]), f"{t['macs']:,}", f"{t['adc_converts']:,}",
                 f"{t['energy_pj'] / 1e3:.2f}", f"{t['latency_ns'] / 1e3:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        if index == len(rows) - 1:
            out.write("  " + "  ".join("-" * w for w in widths) + "\n")
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [c.rjust(w) for c, w in zip(row[2:], widths[2:])]
        out.write("  " + "  ".join(cells) + "\n")
    out.write(f"  {t['tiles']} tiles, {t['area_mm2']:.2f} mm², {t['converts_per_mac']:.3f} ADC converts per MAC, "
              f"pipeline interval {t['pipeline_interval_ns'] / 1e3:.2f} us\n")
    breakdown = ", ".join(f"{k} {v / 1e3:.1f}" for k, v in t["energy_breakdown_pj"].items())
    out.write(f"  energy by component (nJ): {breakdown}\n")
    out.write(f"  crossbars in use: {t['row_utilisation']:.1%} of rows, {t['cell_utilisation']:.1%} of cells "
              f"(packed perfectly, {t['ideal_crossbars']} would hold the weights)\n")
    digital = ", ".join(f"{d['op']} ({d['count']})" for d in report["digital_ops"] if not d["op"].startswith(("xbar.", "q.")))
    if digital:
        out.write(f"  on the tiles' digital units: {digital}\n")
    if report.get("epitome_design"):
        out.write(f"  epitome design (convs): {report['epitome_design'][-1]}\n")
    if report["host_ops"]:
        out.write("  on the host: " + ", ".join(f"{h['op']} ({h['count']})" for h in report["host_ops"]) + "\n")
    sim = report.get("simulation")
    if sim:
        exact = ("bit-exact against" if sim["bit_exact_vs_integer_reference"] else
                 "differs from" if sim["saturated_converts"] else "NOT bit-exact (a simulator bug) against")
        out.write(f"  simulated one input ({sim['input']}): {exact} the integer reference, "
                  f"{sim['saturated_converts']:,} saturated ADC conversions\n")
        worst = min(sim["tensors_vs_fp32"], key=lambda t: t["cosine"], default=None)
        if worst is not None:
            out.write(f"  against onnxruntime fp32: {len(sim['tensors_vs_fp32'])} tensors, lowest cosine "
                      f"{worst['cosine']:.6f} at {worst['tensor']}\n")

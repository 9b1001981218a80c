"""What `pimc compile/run/eval/verify/import` do for NIR files and FlexSpIM programs (the commands dispatch here).

    pimc compile model.nir --target flexspim --calib events.npz -o out/    program.txt/json, arrays.npz, report.json
    pimc run out/ --input events.npz -o y.npy                             the simulator on N x T x ... events
    pimc eval model.nir --target flexspim --data events.npz               float NIR top-1 vs simulated top-1
    pimc verify model.nir --target flexspim --inputs events.npz           references (a), (b), (c)
"""

from __future__ import annotations

import json
import sys

import numpy as np

from pimc.diagnostics import UsageError, UserError


def _check_files(args, *flags: str) -> None:
    """The event files named by `flags` (attribute names: "calib", "data", ...) are readable .npz files, the
    target configuration file exists and --calib-samples is positive: before any work."""
    from pimc.frontend.load import check_arrays, check_input

    for flag in flags:
        check_arrays(getattr(args, flag, None), f"--{flag}")
    check_input(getattr(args, "target_config", None), "--target-config")
    if getattr(args, "calib_samples", 1) < 1:
        raise UsageError(f"--calib-samples {args.calib_samples}: give a positive number of samples")


def _config(args):
    from pimc.targets import load_config

    if not getattr(args, "target", None):
        raise UsageError("--target: a NIR file is checked on its compiled program; add --target flexspim")
    config = load_config(args.target, getattr(args, "target_config", None))
    if config.name != "flexspim":
        raise UserError(f"a NIR file compiles for the flexspim target, not '{config.name}'")
    return config


def import_command(args) -> int:
    import os

    from pimc.frontend.nir import import_nir
    from pimc.outputs import check_output, output_files
    from pimc.text.printer import print_module

    if args.output is not None:
        check_output(args.output)
    module = import_nir(args.model)
    if args.output is None:
        sys.stdout.write(print_module(module, args.print_generic, args.print_loc))
        return 0
    weights = os.path.splitext(args.output)[0] + ".npz"
    if os.path.abspath(weights) == os.path.abspath(args.output):
        raise UserError(f"-o {args.output}: the IR file would overwrite its own weight store; name a .pimc file")
    module.attributes["weights"] = os.path.basename(weights)
    text = print_module(module, args.print_generic, True)  # a file keeps the NIR node names
    with output_files(args.output, weights) as (ir_file, weights_file):
        module.weights.save(weights_file)
        with open(ir_file, "w") as file:
            file.write(text)
    return 0


def compile_command(args) -> int:
    import os

    from pimc.outputs import check_output, output_directory
    from pimc.targets.flexspim.driver import compile_nir, input_shape, load_events, report

    _check_files(args, "calib")
    check_output(args.output, directory=True)
    config = _config(args)
    compiled = compile_nir(args.model, config, args.calib, args.calib_samples)
    shape = input_shape(compiled.module)
    events = (load_events(args.calib, shape)[0][: args.calib_samples] if args.calib
              else _random_events(shape))
    result = report(args.model, config, compiled, events)
    with output_directory(args.output) as staging:
        compiled.program.write(staging)
        ir = os.path.join(staging, "ir")
        os.makedirs(ir)
        for index, (stage, text) in enumerate(compiled.stages):
            with open(os.path.join(ir, f"{index}-{stage}.pimc"), "w") as file:
                file.write(text)
        compiled.module.weights.save(os.path.join(ir, "weights.npz"))
        with open(os.path.join(staging, "report.json"), "w") as file:
            json.dump(result, file, indent=1, allow_nan=False)
            file.write("\n")
    if getattr(args, "json", False):
        print(json.dumps(result, indent=1))
    else:
        print_summary(result, args.target, args.output)
    return 0


def _random_events(shape: tuple[int, ...], steps: int = 16, density: float = 0.05) -> np.ndarray:
    """One seeded sample of `steps` frames at `density`, for the costs of a compile without --calib."""
    return (np.random.default_rng(0).random((1, steps, *shape)) < density).astype(np.uint8)


def print_summary(result: dict, target: str, directory: str) -> None:
    out = sys.stdout
    out.write(f"pimc compile {result['model']} --target {target} -> {directory}/\n")
    rows = [("layer", "kind", "stationary", "on macros", "events", "SOPs", "energy (nJ)", "latency (us)")]
    for entry in result["layers"]:
        rows.append((entry["name"], entry["kind"], entry["stationary"].upper(), ",".join(map(str, entry["macros"])),
                     f"{entry['events']:,.1f}", f"{entry['sops']:,.1f}", f"{entry['energy_pj'] / 1e3:.3f}",
                     f"{entry['latency_ns'] / 1e3:.3f}"))
    t = result["totals"]
    rows.append(("total", "", "", f"{t['macros_used']} in use", "", f"{t['sops']:,.1f}", f"{t['energy_pj'] / 1e3:.3f}",
                 f"{t['latency_ns'] / 1e3:.3f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  " + "  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                  + "\n")
    ws, change = result["ws_only"], result["hybrid_vs_ws"]
    samples = f"{t['samples']} sample{'s' if t['samples'] != 1 else ''}"
    out.write(f"  per sample over {samples}: {t['array_pj_per_sop']:.2f} pJ per SOP in the array, "
              f"{t['pj_per_sop']:.2f} pJ per SOP with standby and transfers\n")
    out.write(f"  weight-stationary only: {ws['energy_pj'] / 1e3:.3f} nJ, {ws['latency_ns'] / 1e3:.3f} us; hybrid "
              f"{change['energy_change']:+.1%} energy, {change['latency_change']:+.1%} latency (paper: -45%, -52%)\n")
    agreement = ", ".join(f"{q['layer']} {q['spike_agreement']:.3f}" for q in result["quantization"])
    out.write(f"  quantization spike agreement with the float network (calibration): {agreement}\n")


def run_command(args) -> int:
    from pimc.outputs import output_files
    from pimc.targets.flexspim.driver import load_events, simulate
    from pimc.targets.flexspim.program import Program

    if args.output is not None and not args.output.endswith(".npy"):
        raise UserError(f"-o {args.output}: name an .npy file (a FlexSpIM program has one output)")
    program = Program.read(args.program)
    x, _ = load_events(args.input, program.input_shape)
    outputs, _ = simulate(program, x)
    if args.output is None:
        print(outputs.reshape(len(outputs), -1).argmax(1).tolist())
        return 0
    with output_files(args.output) as (temporary,):
        with open(temporary, "wb") as file:
            np.save(file, outputs)
    return 0


def eval_command(args) -> int:
    from pimc.targets.flexspim.driver import compile_nir, float_outputs, input_shape, load_events, simulate

    _check_files(args, "data", "calib")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit {args.limit}: give a positive number of samples")
    config = _config(args)
    compiled = compile_nir(args.model, config, args.calib or args.data, args.calib_samples)
    x, y = load_events(args.data, input_shape(compiled.module))
    if y is None:
        raise UserError(f"{args.data}: has no labels 'y'")
    if len(y) != len(x):
        raise UserError(f"{args.data}: {len(x)} samples in x but {len(y)} labels in y")
    skipped = 0 if args.calib else args.calib_samples  # calibration samples are not scored
    if skipped >= len(x):
        raise UsageError(f"--calib-samples {skipped}: without --calib, calibration takes the first samples of "
                         f"'{args.data}' and scores the rest, so give 1 to {len(x) - 1}, or a --calib file")
    x, y = x[skipped:][: args.limit], y[skipped:][: args.limit]
    simulated, _ = simulate(compiled.program, x)
    floats = float_outputs(args.model, config, x)
    sim_top1 = float(np.mean(simulated.reshape(len(y), -1).argmax(1) == y))
    float_top1 = float(np.mean(floats.reshape(len(y), -1).argmax(1) == y))
    calibration = args.calib or f"the first {skipped} samples of {args.data} (not scored)"
    result = {"model": args.model, "samples": len(y), "float_top1": float_top1, "simulated_top1": sim_top1,
              "calibration": calibration}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"pimc eval {args.model} --target {args.target}: {len(y)} samples: float NIR top-1 {float_top1:.2%}, "
              f"simulated top-1 {sim_top1:.2%} ({sim_top1 - float_top1:+.2%}); calibration: {calibration}")
    return 0


def verify_command(args) -> int:
    from pimc.targets.flexspim.driver import compile_nir, input_shape, load_events, verify_references

    _check_files(args, "inputs", "calib")
    config = _config(args)
    compiled = compile_nir(args.model, config, args.calib or (args.inputs or ""), args.calib_samples)
    shape = input_shape(compiled.module)
    x = load_events(args.inputs, shape)[0] if args.inputs else _random_events(shape)
    result = verify_references(compiled, x)
    accumulation = result["accumulation_vs_onnxruntime"]
    interp = result["simulator_vs_interpreter"]
    floats = result["vs_float_nir"]
    exact = (all(a["mismatched"] == 0 for a in accumulation.values()) and interp["outputs_mismatched"] == 0
             and not any(interp["timesteps_mismatched"].values()))
    if args.json:
        print(json.dumps({**result, "exact": exact}))
        return 0 if exact else 1
    for name, a in accumulation.items():
        print(f"  {name}: accumulation vs onnxruntime: {a['timesteps'] - a['mismatched']}/{a['timesteps']} "
              f"timesteps exact")
    steps = interp["timesteps"]
    spikes = ", ".join(f"{name} {steps - wrong}/{steps}" for name, wrong in interp["timesteps_mismatched"].items())
    print(f"  simulator vs snn interpreter: {interp['samples'] - interp['outputs_mismatched']}/{interp['samples']} "
          f"outputs exact; timesteps with every spike equal: {spikes}")
    agreement = ", ".join(f"{k} {v:.4f}" for k, v in floats["spike_agreement"].items())
    counts = floats["output_count_agreement"]
    counted = f"; output-count agreement {counts:.2%}" if counts is not None else " (the output is a readout)"
    print(f"  vs float NIR: spike agreement {agreement}; top-1 agreement {floats['top1_agreement']:.2%}{counted}")
    print("ok" if exact else "MISMATCH")
    return 0 if exact else 1

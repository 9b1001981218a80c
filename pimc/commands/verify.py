"""`pimc verify`: run onnxruntime and pimc on the same inputs and compare every output (and, with
`--all-ops`, every intermediate tensor).

    pimc verify model.onnx --stage nn --inputs x.npz --json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field

from pimc.commands.import_onnx import add_input_shape_argument, check_model_path, parse_input_shapes
from pimc.commands.run import add_noise_arguments

HELP = "compare pimc with onnxruntime on one model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the ONNX file")
    parser.add_argument("--stage", choices=["nn"], default="nn", help="the IR stage to run (default: nn)")
    parser.add_argument("--inputs", metavar="NPZ", help="input arrays by graph input name (default: seeded random)")
    add_input_shape_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    parser.add_argument("--all-ops", action="store_true",
                        help="compare every intermediate tensor; name the first node that drifts")
    parser.add_argument("--rtol", type=float, default=1e-4,
                        help="relative tolerance, against max |reference| (default: 1e-4)")
    parser.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (default: 1e-5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--target", help="verify the compiled program for this target, as `pimc compile` takes it")
    parser.add_argument("--target-config", metavar="FILE", help="a TOML file of target options (with --target)")
    parser.add_argument("--calib", metavar="NPZ", default="",
                        help="calibration inputs (with --target; default: --inputs, else seeded normal samples)")
    parser.add_argument("--calib-samples", type=int, default=16, metavar="N",
                        help="with --target: how many inputs quantization calibrates on (default: 16)")
    parser.add_argument("--export-qdq", metavar="FILE",
                        help="with --target: write the model as executed (its quantization) as QDQ ONNX and compare with it")
    parser.add_argument("--min-cosine", type=float, default=0.99,
                        help="with --target: the least cosine similarity to onnxruntime fp32 that passes (default: 0.99)")
    add_noise_arguments(parser)


@dataclass
class Report:
    """Everything `pimc verify` found out about one model."""

    model: str
    stage: str
    rtol: float
    atol: float
    inputs: dict[str, str]
    outputs: list = field(default_factory=list)
    host_ops: dict[str, int] = field(default_factory=dict)
    intermediates: list = field(default_factory=list)
    first_drift: tuple[str, object] | None = None  # (ONNX node name, Comparison)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.outputs)

    def as_json(self) -> dict:
        from pimc.interp.compare import finite

        top1 = next((c.top1_agreement for c in self.outputs if c.top1 is not None), None)
        drift = None
        if self.first_drift is not None:
            node, comparison = self.first_drift
            drift = {"node": node, **comparison.as_json()}
        return {
            "model": self.model, "stage": self.stage, "ok": self.ok,
            "cosine": finite(min((c.cosine for c in self.outputs), default=1.0)),
            "max_abs_error": finite(max((c.max_abs_error for c in self.outputs), default=0.0)),
            "max_rel_error": finite(max((c.max_rel_error for c in self.outputs), default=0.0)),
            "top1_agreement": top1, "rtol": self.rtol, "atol": self.atol, "inputs": self.inputs,
            "outputs": [c.as_json() for c in self.outputs], "host_ops": self.host_ops,
            "intermediates_compared": len(self.intermediates), "first_drift": drift,
        }


def run(args: argparse.Namespace) -> int:
    args.source_name = args.model
    if args.model.endswith(".nir"):  # NIR spiking networks: the flexspim target
        from pimc.commands.import_onnx import check_model_path
        from pimc.targets.flexspim.commands import verify_command

        check_model_path(args.model)
        return verify_command(args)
    check_arguments(args)
    if args.target:
        from pimc.commands.verify_target import verify_target
        from pimc.targets.simulator import one_blas_thread

        with one_blas_thread():  # the simulator's and the integer reference's small products
            return verify_target(args)
    report = verify_model(args.model, parse_input_shapes(args.input_shape), args.inputs, args.seed,
                          args.all_ops, args.rtol, args.atol, args.stage)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print_table(report)
    return 0 if report.ok else 1


def check_arguments(args: argparse.Namespace) -> None:
    """Files that exist and values in range, before any work: else a usage error (exit 2)."""
    import math

    from pimc.diagnostics import UsageError
    from pimc.frontend.load import check_arrays, check_input
    from pimc.outputs import check_output

    check_model_path(args.model)
    check_input(args.inputs, "--inputs")
    check_arrays(args.calib, "--calib")
    check_input(args.target_config, "--target-config")
    for flag, value in (("--rtol", args.rtol), ("--atol", args.atol)):
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"{flag} {value:g}: give a tolerance of at least 0")
    if not -1 <= args.min_cosine <= 1:
        raise UsageError(f"--min-cosine {args.min_cosine:g}: give a cosine from -1 to 1")
    if args.calib_samples < 1:
        raise UsageError(f"--calib-samples {args.calib_samples}: give a positive number of samples")
    if args.noise and not args.target:
        raise UsageError("--noise needs --target: it runs the compiled program on imperfect devices")
    if args.export_qdq is not None:
        if not args.target:
            raise UsageError("--export-qdq needs --target: it writes the model as the target quantizes it")
        check_output(args.export_qdq, "--export-qdq")


def verify_model(path: str, input_shapes: dict, inputs_path: str | None = None, seed: int = 0, all_ops: bool = False,
                 rtol: float = 1e-4, atol: float = 1e-5, stage: str = "nn") -> Report:
    """Import `path`, run it in pimc and in onnxruntime, and compare."""
    from pimc.frontend.importer import host_ops, import_model, module_name
    from pimc.frontend.load import load_inlined
    from pimc.inputs import feeds_for, read_inputs
    from pimc.interp.compare import compare
    from pimc.interp.interpreter import Interpreter
    from pimc.runtime import intermediate_names, run_model

    model = load_inlined(path)
    given = read_inputs(inputs_path, model, input_shapes)
    shapes = {**{name: a.shape for name, a in given.items()}, **input_shapes}
    module = import_model(model, shapes, module_name(path))
    func = module.funcs()[0]
    feeds = feeds_for(func, given, seed)
    described = {}
    for arg in func.arguments:
        source = f"seeded random (seed {seed})" if arg.name_hint not in given else inputs_path
        described[arg.name_hint] = f"{'x'.join(map(str, arg.type.shape)) or 'scalar'} {arg.type.element} from {source}"
    interpreter = Interpreter(module, record=all_ops)
    computed = interpreter.run([feeds[a.name_hint] for a in func.arguments])
    extra = intermediate_names(model, interpreter.values) if all_ops else []
    reference = run_model(model, feeds, extra)
    names = [o.name for o in model.graph.output]
    report = Report(path, stage, rtol, atol, described, host_ops=dict(sorted(host_ops(module).items())))
    report.outputs = [compare(n, reference[n], c, rtol, atol) for n, c in zip(names, computed)]
    for node_name, tensor in extra:
        comparison = compare(tensor, reference[tensor], interpreter.values[tensor], rtol, atol)
        report.intermediates.append(comparison)
        if not comparison.ok and report.first_drift is None:
            report.first_drift = (node_name, comparison)
    return report


def print_table(report: Report) -> None:
    out = sys.stdout
    out.write(f"pimc verify {report.model} --stage {report.stage}\n")
    for name, description in report.inputs.items():
        out.write(f"  input {name}: {description}\n")
    rows = [("output", "shape", "max abs err", "max rel err", "cosine", "top-1")]
    for c in report.outputs:
        top1 = "-" if c.top1 is None else f"{100 * c.top1_agreement:.2f}% ({c.top1[0]}/{c.top1[1]})"
        rows.append((c.name, "x".join(map(str, c.shape)) or "scalar", f"{c.max_abs_error:.3g}",
                     f"{c.max_rel_error:.3g}", f"{c.cosine:.8f}", top1))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
    hosted = ", ".join(f"{name} ({n})" for name, n in report.host_ops.items()) or "none"
    out.write(f"  runs on the host: {hosted}\n")
    if report.intermediates:
        drift = report.first_drift
        where = "all within tolerance" if drift is None else (
            f"first drift at node \"{drift[0]}\" (tensor '{drift[1].name}', max rel err {drift[1].max_rel_error:.3g})")
        out.write(f"  intermediates: {len(report.intermediates)} compared, {where}\n")
    verdict = "ok" if report.ok else "MISMATCH"
    out.write(f"{verdict}: rtol {report.rtol:g}, atol {report.atol:g}\n")

"""`pimc verify`: run onnxruntime and pimc on the same inputs and compare every output (and, with
`--all-ops`, every intermediate tensor). The only module that imports onnxruntime.

    pimc verify model.onnx --stage nn --inputs x.npz --json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field

import numpy as np

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
    from pimc.interp.compare import compare
    from pimc.interp.interpreter import Interpreter

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
    reference = run_onnxruntime(model, feeds, extra)
    names = [o.name for o in model.graph.output]
    report = Report(path, stage, rtol, atol, described, host_ops=dict(sorted(host_ops(module).items())))
    report.outputs = [compare(n, reference[n], c, rtol, atol) for n, c in zip(names, computed)]
    for node_name, tensor in extra:
        comparison = compare(tensor, reference[tensor], interpreter.values[tensor], rtol, atol)
        report.intermediates.append(comparison)
        if not comparison.ok and report.first_drift is None:
            report.first_drift = (node_name, comparison)
    return report


def load_inlined(path: str):
    """The ONNX model at `path` with its local functions inlined: pimc imports that graph, so its tensors
    are the ones to compare."""
    from pimc.frontend.load import load_onnx

    model = load_onnx(path)
    if model.functions:
        import onnx.inliner

        model = onnx.inliner.inline_local_functions(model)
    return model


def feeds_for(func, given: dict[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """One array per argument of `func`, by name: the given one cast to its type, else seeded random values."""
    rng = np.random.default_rng(seed)
    return {a.name_hint: cast_input(given[a.name_hint], a.type, a.name_hint) if a.name_hint in given
            else random_input(rng, a.type) for a in func.arguments}


def _error(message: str):
    from pimc.diagnostics import Diagnostic, DiagnosticError

    return DiagnosticError(Diagnostic(message))


def read_inputs(path: str | None, model, input_shapes: dict) -> dict[str, np.ndarray]:
    """Arrays by graph input name; one array for a one-input model may have any name."""
    from pimc.frontend.types import shape_of

    if path is None:
        return {}
    try:
        loaded = np.load(path, allow_pickle=False)
        arrays = {"": loaded} if isinstance(loaded, np.ndarray) else {name: loaded[name] for name in loaded.files}
    except Exception as failure:  # numpy raises OSError, ValueError, EOFError, BadZipFile, ...
        raise _error(f"cannot read inputs from '{path}': not an .npz or .npy file ({failure})") from None
    constants = {init.name for init in model.graph.initializer}
    inputs = {i.name: i for i in model.graph.input if i.name not in constants}
    names = list(inputs)
    if len(names) == 1 and len(arrays) == 1:
        arrays = {names[0]: next(iter(arrays.values()))}
    missing = [n for n in names if n not in arrays]
    if missing:
        raise _error(f"'{path}' has no array for input '{missing[0]}' (it has: {', '.join(arrays) or 'nothing'})")
    chosen = {n: arrays[n] for n in names}
    for name, array in chosen.items():
        dims = shape_of(inputs[name].type)
        differs = any(isinstance(d, int) and d != a for d, a in zip(dims or (), array.shape))
        if dims is not None and (len(dims) != array.ndim or differs):
            shown = ", ".join("?" if d is None else str(d) for d in dims)
            raise _error(f"the array in '{path}' for input '{name}' has shape {list(array.shape)}, "
                         f"but the input has shape [{shown}]")
    for name, shape in input_shapes.items():
        if name in chosen and tuple(chosen[name].shape) != shape:
            raise _error(f"--input-shape {name}={','.join(map(str, shape))} disagrees with the array in '{path}' "
                         f"of shape {chosen[name].shape}")
    return chosen


def cast_input(array: np.ndarray, type_, name: str) -> np.ndarray:
    dtype = type_.element.numpy_dtype()
    if (array.dtype.kind == "f") != (dtype.kind == "f"):
        raise _error(f"input '{name}' holds {array.dtype} values, but the model takes {type_.element}")
    return array.astype(dtype)


def random_input(rng: np.random.Generator, type_) -> np.ndarray:
    dtype = type_.element.numpy_dtype()
    if dtype.kind == "f":
        return rng.standard_normal(type_.shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(type_.shape) < 0.5
    return rng.integers(0, 2, type_.shape).astype(dtype)


def intermediate_names(model, recorded: dict) -> list[tuple[str, str]]:
    """(node name, tensor) for every node output pimc also computed, in node order."""
    outputs = {o.name for o in model.graph.output}
    found = []
    for index, node in enumerate(model.graph.node):
        for tensor in node.output:
            if tensor and tensor in recorded and tensor not in outputs:
                found.append((node.name or f"{node.op_type}_{index}", tensor))
    return found


def run_onnxruntime(model, feeds: dict, extra: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """The model's outputs and the `extra` (node, tensor) intermediates, typed as onnxruntime infers them."""
    from onnx import helper

    model.graph.output.extend(helper.make_empty_tensor_value_info(tensor) for _, tensor in extra)
    session = onnxruntime_session(model)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, run_session(session, names, feeds)))


def onnxruntime_session(model):
    """A CPU session of `model`, quiet; a model onnxruntime rejects is a one-line error."""
    from pimc.frontend.load import first_line
    from pimc.signals import held_signals

    with held_signals():  # a Ctrl-C inside the extension's import becomes an ImportError and a broken module
        import onnxruntime

    onnxruntime.set_default_logger_severity(4)  # only fatal: an error is raised as well as logged
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    try:
        return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as failure:  # onnxruntime raises its own exception types
        raise _error(f"onnxruntime cannot run the model: {first_line(failure)}") from None


def run_session(session, names: list[str], feeds: dict) -> list[np.ndarray]:
    from pimc.frontend.load import first_line

    try:
        return session.run(names, feeds)
    except Exception as failure:  # onnxruntime raises its own exception types
        raise _error(f"onnxruntime cannot run the model: {first_line(failure)}") from None


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

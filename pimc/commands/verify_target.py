"""`pimc verify MODEL --target T`: the simulated program against onnxruntime fp32 and the integer reference.

Three comparisons on the same inputs:
  - simulator vs integer reference: the program run from its cells against pimc's interpreter of
    the placed IR (ideal integer MVMs), on every tensor; exact unless an ADC saturated;
  - simulator vs onnxruntime fp32: cosine, errors and top-1 agreement (with `--all-ops`, per layer);
  - with `--export-qdq FILE`, simulator vs onnxruntime running the model as executed, in QDQ form;
  - with `--noise SPEC`, the program on imperfect devices (docs/noise.md) against onnxruntime fp32, and per
    layer the error noise adds and the saturations it causes; it does not decide `ok`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field

import numpy as np

from pimc.commands.import_onnx import parse_input_shapes
from pimc.commands.run import noise_of
from pimc.frontend.load import load_inlined
from pimc.inputs import feeds_for, read_inputs
from pimc.interp.compare import fingerprint
from pimc.runtime import intermediate_names, run_model, weights_apart


def verify_target(args: argparse.Namespace) -> int:
    from pimc.outputs import output_files

    with output_files(*filter(None, [args.export_qdq]), flag="--export-qdq") as staged:
        report = target_report(args, *staged)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0 if report["ok"] else 1


def target_report(args: argparse.Namespace, qdq_file: str | None = None) -> dict:
    """The three comparisons; with --export-qdq, the QDQ model is written to `qdq_file` (staged by the caller).
    onnxruntime runs once the compiled program and its simulators are gone: their peaks do not add up."""
    from pimc.interp.compare import compare
    from pimc.memory import release_freed_memory

    simulated = _simulate(args, qdq_file)
    release_freed_memory()  # the simulators' buffers and the program
    feeds, outputs, differing, saturated = simulated.feeds, simulated.outputs, simulated.differing, simulated.saturated
    model, weights = weights_apart(load_inlined(args.model))  # the loaded protobuf goes before the session copies them
    extra = intermediate_names(model, simulated.layers) if args.all_ops else []
    names = [o.name for o in model.graph.output]
    fp32 = run_model(model, feeds, extra, weights)
    del model, weights
    against_fp32 = [compare(n, fp32[n], o, 0.0, 0.0) for n, o in zip(names, outputs)]
    layers = [{"node": node, **compare(t, fp32[t], simulated.layers[t], 0.0, 0.0).as_json()} for node, t in extra]
    report = {
        "model": args.model, "target": args.target, "calibration": args.calib or args.inputs or "seeded normal samples",
        "inputs": {n: f"{'x'.join(map(str, a.shape))} from {args.inputs or f'seeded random (seed {args.seed})'}"
                   for n, a in feeds.items()},
        "integer_reference": {"tensors": simulated.tensors, "differing": len(differing),
                              "first_differing": differing[:5], "saturated_converts": saturated,
                              "exact": not differing},
        "fp32": [_summary(c) for c in against_fp32],
        "layers": layers,
    }
    if args.export_qdq:
        import onnx

        qdq = run_model(onnx.load(qdq_file), feeds, [])
        report["qdq"] = {"file": args.export_qdq,
                         "outputs": [_summary(compare(n, qdq[n], o, 0.0, 0.0)) for n, o in zip(names, outputs)]}
    if simulated.noise is not None:
        report["noise"] = {"spec": args.noise, "seed": args.noise_seed, "layers": simulated.noise,
                           "fp32": [_summary(compare(n, fp32[n], o, 0.0, 0.0))
                                    for n, o in zip(names, simulated.noisy_outputs)]}
    faithful = not differing or saturated > 0  # an ADC that clipped is the hardware's error, reported above
    report["ok"] = faithful and all(c.cosine >= args.min_cosine for c in against_fp32)
    return report


@dataclass
class Simulated:
    """What verify keeps of the compiled program's runs for the comparisons with onnxruntime."""

    feeds: dict[str, np.ndarray]
    tensors: int  # of the integer reference
    outputs: list[np.ndarray]
    differing: list[str]  # buffers that differ from the integer reference
    saturated: int  # ADC conversions
    layers: dict[str, np.ndarray]  # with --all-ops: real values by ONNX tensor
    noise: list[dict] | None = None  # with --noise: NoiseEffect.rows()
    noisy_outputs: list[np.ndarray] = field(default_factory=list)


def _simulate(args: argparse.Namespace, qdq_file: str | None) -> Simulated:
    """Compile, run the integer reference, then the program (and with --noise, the program on imperfect devices).
    The reference and an exact simulator keep fingerprints and real values, not the tensors themselves."""
    from pimc.compiler import compile_model, differing
    from pimc.memory import release_freed_memory
    from pimc.targets import load_config
    from pimc.targets.noise_effect import NoiseEffect
    from pimc.targets.simulator import Simulator, progress_bar

    noise = noise_of(args)
    config = load_config(args.target, args.target_config)
    input_shapes = parse_input_shapes(args.input_shape)
    given = read_inputs(args.inputs, load_inlined(args.model), input_shapes) if args.inputs else {}
    shapes = {**{name: a.shape for name, a in given.items()}, **input_shapes}
    compiled = compile_model(args.model, config, shapes, args.calib or args.inputs or "", after_stage=_exporter(qdq_file),
                             samples=args.calib_samples)
    feeds = feeds_for(compiled.module.funcs()[0], given, args.seed)
    reference = compiled.reference_fingerprints(feeds)
    observed = Observed({name for name, _ in reference}, real_value_plan(compiled) if args.all_ops else {})
    program, tensors = compiled.program, len(compiled.buffers)
    del compiled  # the placed module and its weights: the simulators need only the program
    release_freed_memory()
    if not noise:
        sim = Simulator(program, progress_bar("simulating"), observer=observed)
        outputs, noisy_outputs, rows = sim.run(feeds), [], None
    else:  # the noise's effect compares every MVM result of the two runs
        sim = Simulator(program, progress_bar("simulating"))
        noisy = Simulator(program, noise=noise, seed=args.noise_seed)
        effect = NoiseEffect.of(program, sim, noisy)
        outputs, noisy_outputs = sim.run(feeds), noisy.run(feeds)
        effect.add(sim, noisy)
        rows = effect.rows()
        for name, array in sim.buffers.items():
            observed(name, array)
    return Simulated(feeds, tensors, outputs, differing(reference, observed.fingerprints),
                     sum(s.saturated for s in sim.stats.values()), observed.real_values(), rows, noisy_outputs)


Scaling = tuple[float, int]  # (scale, zero point) of an integer tensor


@dataclass
class Observed:
    """What verify keeps of simulated buffers as it sees them: the fingerprints of those in `fingerprinted`, and the
    real values of the ONNX tensors `plan` names (`real_value_plan`)."""

    fingerprinted: set[str]
    plan: dict[str, list[tuple[int, str, Scaling | None]]]
    fingerprints: dict[str, bytes] = field(default_factory=dict)
    real: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)  # by ONNX tensor: (plan order, value)

    def __call__(self, name: str, array: np.ndarray) -> None:
        if name in self.fingerprinted:
            self.fingerprints[name] = fingerprint(array)
        floats = array.dtype.kind == "f"
        for order, hint, scaling in self.plan.get(name, ()):
            tensor = real_tensor(hint, scaling, floats)
            if tensor is None:
                continue
            if floats:
                self._keep(tensor, order, array)
            else:
                scale, zero_point = scaling
                self._keep(tensor, order, (scale * (array.astype(np.float64) - zero_point)).astype(np.float32))

    def _keep(self, tensor: str, order: int, array: np.ndarray) -> None:
        """The value of the last buffer in plan order wins, whichever order the buffers come in."""
        if tensor not in self.real or self.real[tensor][0] < order:
            self.real[tensor] = (order, array)

    def real_values(self) -> dict[str, np.ndarray]:
        return {tensor: array for tensor, (_, array) in self.real.items()}


def real_value_plan(compiled) -> dict[str, list[tuple[int, str, Scaling | None]]]:
    """By buffer: the ONNX tensors it stands for, in buffer order, each with the scaling that makes its integers
    real values: float buffers are real values, and integer ones named `T_q` the real values of T, by the scale of
    the quantize or requantize they come from."""
    plan: dict[str, list[tuple[int, str, Scaling | None]]] = {}
    for order, (value, name) in enumerate(compiled.buffers.items()):
        if value.name_hint:
            scaling = _scaling(value) if value.name_hint.endswith("_q") else None
            plan.setdefault(name, []).append((order, value.name_hint, scaling))
    return plan


def real_tensor(hint: str, scaling: Scaling | None, floats: bool) -> str | None:
    """The ONNX tensor whose real values a buffer of `real_value_plan` holds: its values are those of `hint` when
    they are floats, of `hint` without its `_q` when they are integers with a scaling, else of none."""
    if floats:
        return hint
    return hint.removesuffix("_q") if scaling is not None else None


def _scaling(value) -> Scaling | None:
    """(scale, zero point) of an integer tensor: from the op that quantized it, through ops that move integers."""
    from pimc.dialects import q

    op = getattr(value, "op", None)
    while op is not None:
        if isinstance(op, q.QuantizeOp) or (isinstance(op, q.RequantizeOp) and op.scale is not None):
            return op.scale, op.zero_point
        if isinstance(op, (q.RequantizeOp, q.Conv2dOp, q.GemmOp)) or not op.operands:
            return None
        op = getattr(op.operands[0], "op", None)
    return None


def _exporter(path: str | None):
    """A stage hook that writes the quantized model as QDQ ONNX once `quantize` has run."""
    if path is None:
        return None

    def export(stage: str, module) -> None:
        if stage == "quantize":
            from pimc.export_qdq import export_qdq

            export_qdq(module, path)

    return export


def _summary(c) -> dict:
    return {**c.as_json(), "top1": None if c.top1 is None else {"agree": c.top1[0], "of": c.top1[1]}}


def print_report(report: dict) -> None:
    from pimc.targets.noise_effect import print_effect

    out = sys.stdout
    out.write(f"pimc verify {report['model']} --target {report['target']}  (calibrated on {report['calibration']})\n")
    for name, description in report["inputs"].items():
        out.write(f"  input {name}: {description}\n")
    ref = report["integer_reference"]
    if ref["exact"]:
        out.write(f"  simulator vs integer reference: bit-exact on all {ref['tensors']} tensors\n")
    else:
        out.write(f"  simulator vs integer reference: {ref['differing']} of {ref['tensors']} tensors differ "
                  f"(first: {', '.join(ref['first_differing'])}); {ref['saturated_converts']:,} ADC conversions saturated\n")
    rows = [("against", "output", "max abs err", "max rel err", "cosine", "top-1 agreement")]
    sections = [("onnxruntime fp32", report["fp32"])]
    if "qdq" in report:
        sections.append(("QDQ model", report["qdq"]["outputs"]))
    if "noise" in report:
        sections.append(("fp32, with noise", report["noise"]["fp32"]))
    for label, comparisons in sections:
        for c in comparisons:
            top1 = "-" if c["top1"] is None else f"{100 * c['top1_agreement']:.2f}% ({c['top1']['agree']}/{c['top1']['of']})"
            rows.append((label, c["name"], f"{c['max_abs_error']:.3g}", f"{c['max_rel_error']:.3g}",
                         f"{c['cosine']:.6f}", top1))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
    if report["layers"]:
        out.write("  per layer against onnxruntime fp32:\n")
        for layer in report["layers"]:
            out.write(f"    {layer['node']}: cosine {layer['cosine']:.6f}, max rel err {layer['max_rel_error']:.3g}\n")
    if "noise" in report:
        out.write(f"  with noise {report['noise']['spec']!r} (seed {report['noise']['seed']}), against the noise-free "
                  "program:\n")
        print_effect(report["noise"]["layers"], out, "    ")
    out.write(("ok" if report["ok"] else "MISMATCH") + "\n")

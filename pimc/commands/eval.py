"""`pimc eval MODEL --target T --data D.npz`: top-1 of onnxruntime fp32 and of the compiled program on labelled data.

The data file holds `x` (samples along the first axis) and `y` (integer labels). The program
is compiled at batch size 1 and runs sample by sample, as the accelerator would.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from pimc.commands.compile import add_target_arguments
from pimc.commands.import_onnx import check_model_path
from pimc.diagnostics import UserError

HELP = "top-1 accuracy of onnxruntime and of the simulated program on a labelled dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the ONNX file")
    add_target_arguments(parser)
    parser.add_argument("--data", required=True, metavar="NPZ", help="labelled samples: arrays x and y")
    parser.add_argument("--limit", type=int, metavar="N", help="use only the first N samples")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    from pimc.commands.verify import onnxruntime_session, run_session
    from pimc.compiler import compile_model
    from pimc.frontend.load import load_onnx
    from pimc.targets import load_config
    from pimc.targets.simulator import Simulator, progress_bar

    args.source_name = args.model
    check_model_path(args.model)
    config = load_config(args.target, args.target_config)
    x, y = read_dataset(args.data, args.limit)
    model = load_onnx(args.model)
    inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise UserError(f"{args.model}: eval takes models with one input, this one has {len(inputs)}")
    calib = args.calib or args.data
    compiled = compile_model(args.model, config, {inputs[0]: (1, *x.shape[1:])}, calib, samples=args.calib_samples)
    sim = Simulator(compiled.program)
    show = progress_bar("samples")
    session = onnxruntime_session(model)
    first_output = session.get_outputs()[0].name
    reference, simulated = [], []
    for index in range(len(x)):
        sample = x[index : index + 1]
        reference.append(run_session(session, [first_output], {inputs[0]: sample})[0])
        simulated.append(sim.run({inputs[0]: sample})[0])
        if show:
            show(index + 1, len(x))
    ref = np.concatenate(reference).reshape(len(x), -1).argmax(axis=1)
    got = np.concatenate(simulated).reshape(len(x), -1).argmax(axis=1)
    result = {
        "model": args.model, "target": args.target, "data": args.data, "calibration": calib,
        "samples": len(x), "reference_top1": float((ref == y).mean()), "simulated_top1": float((got == y).mean()),
        "agreement": float((ref == got).mean()),
        "saturated_converts": sum(s.saturated for s in sim.stats.values()),
        "adc_converts": sum(s.adc_converts for s in sim.stats.values()),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"pimc eval {args.model} --target {args.target} on {len(x)} samples of {args.data} (calibrated on {calib})")
    print(f"  onnxruntime fp32 top-1  {100 * result['reference_top1']:.2f}%")
    print(f"  simulated top-1         {100 * result['simulated_top1']:.2f}%  "
          f"({100 * (result['simulated_top1'] - result['reference_top1']):+.2f} points)")
    print(f"  top-1 agreement         {100 * result['agreement']:.2f}%")
    print(f"  ADC conversions         {result['adc_converts']:,} ({result['saturated_converts']:,} saturated)")
    return 0


def read_dataset(path: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
        arrays = {name: data[name] for name in data.files}
    except Exception as failure:  # numpy raises OSError, ValueError, BadZipFile, ...
        raise UserError(f"cannot read '{path}': not an .npz file ({failure})") from None
    missing = [name for name in ("x", "y") if name not in arrays]
    if missing:
        raise UserError(f"'{path}' has no array '{missing[0]}': eval needs samples x and integer labels y")
    x, y = arrays["x"], arrays["y"]
    if len(x) != len(y) or y.ndim != 1 or y.dtype.kind not in "iu":
        raise UserError(f"'{path}': y must hold one integer label per sample of x ({len(x)}), got {y.dtype} {list(y.shape)}")
    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit}: give a positive number of samples")
    return (x[:limit], y[:limit]) if limit else (x, y)

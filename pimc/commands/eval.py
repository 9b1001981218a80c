"""`pimc eval MODEL --target T --data D.npz`: top-1 of onnxruntime fp32 and of the compiled program on labelled data.

    pimc eval model.onnx --target isaac --data d.npz --workers 2            # a LocalCluster of 2 processes
    pimc eval model.onnx --target isaac --data d.npz --scheduler tcp://10.0.0.5:8786

The data file holds `x` (samples along the first axis) and `y` (integer labels). The program is
compiled at batch size 1 and runs sample by sample, as the accelerator would, in shards of
`--shard-size` samples spread over Dask workers (pimc/scaleout.py), or, with one worker, in this process
with a sample per CPU at a time (pimc/threads.py); the result does not depend on the number of workers
or on the order shards finish in. Quantization calibrates on `--calib`, else on
the first `--calib-samples` samples of the data, which are then not scored. With `--noise SPEC`, the same
program also runs on imperfect devices (docs/noise.md), once per seed of `--noise-trials`: its top-1 is
given beside the noise-free one, with per layer the error noise adds and the saturations it causes.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from pimc.commands.compile import add_target_arguments, check_target_inputs
from pimc.commands.import_onnx import check_model_path
from pimc.commands.run import add_noise_arguments, noise_of
from pimc.diagnostics import UserError

HELP = "top-1 accuracy of onnxruntime and of the simulated program on a labelled dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the ONNX file")
    add_target_arguments(parser)
    parser.add_argument("--data", required=True, metavar="NPZ", help="labelled samples: arrays x and y")
    parser.add_argument("--limit", type=int, metavar="N", help="score only the first N samples (after calibration's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_noise_arguments(parser)
    parser.add_argument("--noise-trials", type=int, default=1, metavar="K",
                        help="with --noise: run K noisy trials, seeds --noise-seed to --noise-seed + K - 1 (default 1)")
    add_cluster_arguments(parser)


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes of a local Dask cluster (default 1: run in this process)")
    parser.add_argument("--scheduler", default="", metavar="ADDRESS",
                        help="run on the workers of the Dask scheduler at ADDRESS (tcp://HOST:PORT) instead")
    parser.add_argument("--shard-size", type=int, default=None, metavar="N",
                        help="samples per task a worker runs (default at most 16, shrinking to 1 as the samples "
                             "left run out, so that workers finish together); the result does not depend on it")
    parser.add_argument("--blas-threads", type=int, default=1, metavar="N",
                        help="BLAS threads per worker (default 1: the simulator's small products run slower on more)")


@dataclass(frozen=True)
class Scored:
    """What one shard's samples gave: simulated classes and the simulator's counts."""

    classes: np.ndarray
    adc_converts: int
    saturated_converts: int
    noisy_classes: np.ndarray | None = None  # trials x samples
    effect: object = None  # the NoiseEffect of every trial


def run(args: argparse.Namespace) -> int:
    from pimc.compiler import compile_model
    from pimc.frontend.load import check_input, load_onnx
    from pimc.inputs import read_dataset, stored_rows
    from pimc.scaleout import Cluster, shard_bounds
    from pimc.targets import load_config
    from pimc.targets.simulator import progress_bar
    from pimc.threads import usable_cpus

    args.source_name = args.model
    check_model_path(args.model)
    if args.model.endswith(".nir"):  # NIR spiking networks: the flexspim target
        from pimc.targets.flexspim.commands import eval_command

        if args.noise:
            raise UserError(f"--noise: {args.model} runs on FlexSpIM's digital SRAM macros, with no analog devices "
                            "to perturb")

        return eval_command(args)
    check_target_inputs(args)
    check_input(args.data, "--data")
    noise = noise_of(args)
    if args.noise_trials < 1:
        raise UserError(f"--noise-trials {args.noise_trials}: give a positive number of trials")
    cluster = Cluster(args.workers, args.scheduler, args.blas_threads)
    if args.shard_size is not None and args.shard_size < 1:
        raise UserError(f"--shard-size {args.shard_size}: give a positive number of samples")
    config = load_config(args.target, args.target_config)
    x, y = read_dataset(args.data)
    model = load_onnx(args.model)
    inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise UserError(f"{args.model}: eval takes models with one input, this one has {len(inputs)}")
    check_labels(args.data, y, model)
    x, y, calib, note = _split_calibration(args, x, y, inputs[0])
    try:
        compiled = compile_model(args.model, config, {inputs[0]: (1, *x.shape[1:])}, calib, samples=args.calib_samples,
                                 calib_ranges=args.calib_ranges)
    finally:
        if note:
            os.remove(calib)
    reference = _reference_classes(model, inputs[0], x)
    with cluster.runner() as runner:
        bounds = shard_bounds(len(x), runner.workers, args.shard_size)
        program = runner.share(compiled.program, prepare=_simulator)
        started = time.perf_counter()
        seeds = tuple(range(args.noise_seed, args.noise_seed + args.noise_trials)) if noise else ()
        # workers of a LocalCluster read their samples from the data file, rather than through the scheduler
        rows = stored_rows(args.data, "x") if runner.client and runner.local else None
        first = 0 if args.calib else args.calib_samples  # the scored samples' first row in the file
        threads = usable_cpus() if runner.client is None else 1  # a cluster's workers fill the cores already
        shards = [(inputs[0], rows.part(first + start, first + stop) if rows else x[start:stop], start, noise, seeds,
                   threads) for start, stop in bounds]
        scored = runner.map(score_shard, program, shards, [b - a for a, b in bounds], progress_bar("samples"))
        seconds = time.perf_counter() - started
    got = np.concatenate([s.classes for s in scored])
    result = _result(args, len(x), y, reference, got, scored, note or calib)
    if noise:
        result["noise"] = _noise_result(args, y, scored)
    result["throughput_samples_per_s"] = round(len(x) / seconds, 3) if seconds > 0 else 0.0
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _print_table(args, result, f"the scheduler {args.scheduler}'s workers" if args.scheduler else f"{args.workers} worker(s)")
    return 0


def _split_calibration(args, x: np.ndarray, y: np.ndarray, name: str):
    """(scored x, scored y, calibration file, note): without --calib, the first --calib-samples samples
    calibrate (from a temporary file) and are not scored."""
    if args.calib:
        return (*_limited(x, y, args.limit), args.calib, "")
    count = args.calib_samples
    if count < 1 or count >= len(x):
        raise UserError(f"--calib-samples {count}: without --calib, calibration takes the first samples of "
                        f"'{args.data}' and scores the rest, so give 1 to {len(x) - 1}, or a --calib file")
    handle, path = tempfile.mkstemp(suffix=".npz", prefix=".pimc-calib-")
    os.close(handle)
    np.savez(path, **{name: x[:count]})
    scored_x, scored_y = _limited(x[count:], y[count:], args.limit)
    return scored_x, scored_y, path, f"the first {count} samples of {args.data} (not scored)"


def _limited(x: np.ndarray, y: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit}: give a positive number of samples")
    return (x[:limit], y[:limit]) if limit else (x, y)


def score_shard(program, shard: tuple) -> Scored:
    """The simulated class of every sample of a shard (samples `start` on of the data), noise-free (`threads` samples
    at a time) and with each noise seed; runs on a worker, which keeps its simulators per program."""
    from pimc.inputs import StoredRows
    from pimc.memory import reuse_freed_memory
    from pimc.targets.simulator import run_samples

    reuse_freed_memory()  # sample after sample allocates the same arrays
    name, x, start, noise, seeds, threads = shard
    x = x.read() if isinstance(x, StoredRows) else x
    sim = _simulator(program, outputs_only=not seeds)
    before = _counts(sim)
    if not seeds:
        outputs = run_samples(sim, [{name: x[i : i + 1]} for i in range(len(x))], threads)
        classes = np.array([int(np.argmax(output[0])) for output in outputs], np.int64)
        after = _counts(sim)
        return Scored(classes, after[0] - before[0], after[1] - before[1])
    from pimc.targets.noise_effect import NoiseEffect

    noisy = [_simulator(program, noise, seed, outputs_only=False) for seed in seeds]
    effects = [NoiseEffect.of(program, sim, n) for n in noisy]
    classes, noisy_classes = [], np.zeros((len(seeds), len(x)), np.int64)
    for i in range(len(x)):
        sample = {name: x[i : i + 1]}
        classes.append(int(np.argmax(sim.run(sample)[0])))
        for trial, (n, effect) in enumerate(zip(noisy, effects)):
            noisy_classes[trial, i] = int(np.argmax(n.run(sample, start + i)[0]))
            effect.add(sim, n)
    after = _counts(sim)
    for effect in effects[1:]:
        effects[0].merge(effect)
    return Scored(np.array(classes, np.int64), after[0] - before[0], after[1] - before[1], noisy_classes, effects[0])


_SIMULATORS: dict[tuple, tuple[object, object]] = {}  # (id(program), noise, seed, outputs_only) -> (program, simulator)


def _simulator(program, noise=None, seed: int = 0, outputs_only: bool = True):
    """The process's simulator of `program` (noise-free, or with `noise` and `seed`), built once; `outputs_only`
    False: it keeps every crossbar's output, which a NoiseEffect compares."""
    from pimc.targets.simulator import Simulator

    key = (id(program), noise, seed, outputs_only)
    kept = _SIMULATORS.get(key)
    if kept is None or kept[0] is not program:
        if any(k[0] != id(program) or v[0] is not program for k, v in _SIMULATORS.items()):
            _SIMULATORS.clear()
        kept = _SIMULATORS[key] = (program, Simulator(program, noise=noise, seed=seed, outputs_only=outputs_only))
    return kept[1]


def _counts(sim) -> tuple[int, int]:
    return sum(s.adc_converts for s in sim.stats.values()), sum(s.saturated for s in sim.stats.values())


def _reference_classes(model, name: str, x: np.ndarray) -> np.ndarray:
    """onnxruntime fp32's class for every sample, one sample per run as the program is compiled."""
    from pimc import runtime

    session = runtime.make_session(model)
    first_output = session.get_outputs()[0].name
    return np.array([int(np.argmax(runtime.run(session, [first_output], {name: x[i : i + 1]})[0]))
                     for i in range(len(x))], np.int64)


def _result(args, count: int, y: np.ndarray, reference: np.ndarray, got: np.ndarray, scored: list[Scored],
            calibration: str) -> dict:
    classes = sorted(set(y.tolist()))
    return {
        "model": args.model, "target": args.target, "data": args.data, "calibration": calibration,
        "samples": count, "reference_top1": float((reference == y).mean()), "simulated_top1": float((got == y).mean()),
        "agreement": float((reference == got).mean()),
        "saturated_converts": sum(s.saturated_converts for s in scored),
        "adc_converts": sum(s.adc_converts for s in scored),
        "per_class": [{"label": c, "samples": int((y == c).sum()), "reference_correct": int(((reference == c) & (y == c)).sum()),
                       "simulated_correct": int(((got == c) & (y == c)).sum())} for c in classes],
    }


def _noise_result(args, y: np.ndarray, scored: list[Scored]) -> dict:
    """Top-1 of every noisy trial, their mean and spread, and per layer what noise did: the error over every trial,
    saturations per trial (their mean)."""
    per_trial = (np.concatenate([s.noisy_classes for s in scored], axis=1) == y).mean(axis=1)
    effect = scored[0].effect
    for shard in scored[1:]:
        effect.merge(shard.effect)
    trials = args.noise_trials
    layers = [{**row, "saturated": round(row["saturated"] / trials, 2),
               "saturated_noise_free": row["saturated_noise_free"] // trials} for row in effect.rows()]
    return {"spec": args.noise, "seed": args.noise_seed, "trials": trials, "top1": [float(t) for t in per_trial],
            "top1_mean": float(per_trial.mean()), "top1_std": float(per_trial.std()), "layers": layers}


def _print_table(args, result: dict, where: str) -> None:
    print(f"pimc eval {args.model} --target {args.target} on {result['samples']} samples of {args.data} "
          f"(calibrated on {result['calibration']})")
    print(f"  onnxruntime fp32 top-1  {100 * result['reference_top1']:.2f}%")
    print(f"  simulated top-1         {100 * result['simulated_top1']:.2f}%  "
          f"({100 * (result['simulated_top1'] - result['reference_top1']):+.2f} points)")
    print(f"  top-1 agreement         {100 * result['agreement']:.2f}%")
    if "noise" in result:
        _print_noise(result["noise"])
    print(f"  ADC conversions         {result['adc_converts']:,} ({result['saturated_converts']:,} saturated)")
    print(f"  throughput              {result['throughput_samples_per_s']:.1f} samples/s on {where}")


def _print_noise(noise: dict) -> None:
    trials = noise["trials"]
    spread = f" ± {100 * noise['top1_std']:.2f} over {trials} seeds from {noise['seed']}" if trials > 1 else \
        f" (seed {noise['seed']})"
    print(f"  with noise top-1        {100 * noise['top1_mean']:.2f}%{spread}  [--noise {noise['spec']!r}]")
    for row in noise["layers"]:
        print(f"    {row['layer']:<36} noise rel. L2 {row['relative_l2']:<9.4g} saturated {row['saturated']:g} per "
              f"trial (noise-free {row['saturated_noise_free']:,})")


def check_labels(path: str, y: np.ndarray, model) -> None:
    """Every label names one of the classes of the model's first output (its last dimension, when static)."""
    dims = model.graph.output[0].type.tensor_type.shape.dim
    classes = dims[-1].dim_value if dims and dims[-1].HasField("dim_value") else 0
    outside = np.flatnonzero((y < 0) | (y >= classes)) if classes else []
    if len(outside):
        index = int(outside[0])
        raise UserError(f"'{path}': label {int(y[index])} (sample {index}) is outside the model's {classes} classes "
                        f"(0 to {classes - 1})")

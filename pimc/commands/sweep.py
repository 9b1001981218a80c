"""`pimc sweep MODEL --target 'isaac{adc-bits=4..8 xbar-rows=128,256}' [--data D.npz [--noise 'read=0,0.04']] -o DIR`.

    DIR/points/<id>/report.json, result.json   each point: what `pimc compile` reports, and its row
    DIR/sweep.csv, sweep.json                   one row per point: options, costs, accuracy, seconds
    DIR/accuracy_energy.svg/.png, accuracy_area, <option>_energy, noise.<option>_top1   the figures (with --data)

Every point compiles (and, with --data, simulates the first --limit samples) as one Dask task
(pimc/scaleout.py). A point whose result.json holds the same inputs is not computed again, so a
rerun after an interruption, or with more points, does only the new work. A point that fails is a
row with its one-line error; the others go on. With --noise, every point of the target space is also
scored on each point of the noise space (docs/noise.md), from the one compile of its target point.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import time

import numpy as np

from pimc.commands.eval import add_cluster_arguments
from pimc.commands.import_onnx import add_input_shape_argument, check_model_path, parse_input_shapes
from pimc.diagnostics import UsageError, UserError

HELP = "compile (and evaluate) a model over a design space of target options"
COLUMNS = ["id", "target", "spec", "crossbars", "area_mm2", "energy_pj", "latency_ns", "converts_per_mac",
           "top1", "reference_top1", "agreement", "cosine", "samples", "compile_s", "simulate_s", "error"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the ONNX file")
    parser.add_argument("--target", required=True, action="append", metavar="SPACE",
                        help="targets with lists (a,b,c) or ranges (a..b) of option values; repeatable")
    parser.add_argument("--target-config", metavar="FILE", help="a TOML file of target options under every point's")
    parser.add_argument("--calib", metavar="NPZ", default="", help="calibration inputs (default: seeded normal samples)")
    parser.add_argument("--calib-samples", type=int, default=16, metavar="N", help="inputs quantization calibrates on")
    add_input_shape_argument(parser)
    parser.add_argument("--data", default="", metavar="NPZ", help="labelled samples (x, y) to score every point on")
    parser.add_argument("--limit", type=int, default=100, metavar="N", help="samples of --data per point (default 100)")
    parser.add_argument("--noise", default="", metavar="SPACE",
                        help="with --data: also score on imperfect devices, lists of noise option values, e.g. "
                             "'read=0,0.04,0.08 prog=0,0.02' (docs/noise.md)")
    parser.add_argument("--noise-seed", type=int, default=0, metavar="N", help="seed of the noise's draws (default 0)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="the sweep directory (reused by reruns)")
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from pimc.frontend.load import check_arrays, check_input
    from pimc.inputs import read_dataset
    from pimc.scaleout import Cluster
    from pimc.sweep import expand, expand_noise, file_digest, point_id
    from pimc.targets import config_class, load_config
    from pimc.targets.base import ConfigError
    from pimc.targets.noise import NoiseConfig, check_seed
    from pimc.targets.simulator import progress_bar

    check_model_path(args.model)
    if args.limit < 1:
        raise UserError(f"--limit {args.limit}: give a positive number of samples")
    if args.noise and not args.data:
        raise UsageError("--noise: noise acts when points are scored; give --data")
    check_seed(args.noise_seed)
    check_arrays(args.calib, "--calib")
    check_input(args.target_config, "--target-config")
    if args.data:
        check_input(args.data, "--data")
    dataset = read_dataset(args.data) if args.data else None  # bad data is an error before any point is written
    cluster = Cluster(args.workers, args.scheduler, args.blas_threads)
    try:
        points = expand(args.target, config_class)
    except ConfigError as error:
        raise UserError(str(error)) from None
    noises = _noise_space(expand_noise(args.noise, NoiseConfig)) if args.noise else [(None, None)]
    shapes = parse_input_shapes(args.input_shape)
    inputs = {"model": file_digest(args.model), "target_config": file_digest(args.target_config or ""),
              "calib": file_digest(args.calib), "calib_samples": args.calib_samples, "input_shape": args.input_shape,
              "data": file_digest(args.data), "limit": args.limit if args.data else 0}
    rows, order, todo, invalid, reused = {}, [], [], [], 0
    for point in points:
        scorings = []  # (id, noise point, its inputs, its NoiseConfig) of this target point's rows to compute
        for noise, parsed in noises:
            mine = inputs if noise is None else {**inputs, "noise": noise.spec, "noise_seed": args.noise_seed}
            ident = point_id(point, mine)
            order.append(ident)
            kept = _kept(args.output, ident, mine)
            if kept is not None:
                rows[ident], reused = kept, reused + 1
            elif isinstance(parsed, str):  # a noise value out of range in this noise point
                invalid.append((ident, point, noise, mine, parsed))
            else:
                scorings.append((ident, noise, mine, parsed))
        if not scorings:
            continue
        try:
            load_config(point.spec, args.target_config)
        except ConfigError as error:  # one point's value out of range: its rows say so, once the others ran
            invalid.extend((ident, point, noise, mine, str(error)) for ident, noise, mine, _ in scorings)
            continue
        todo.append((point, scorings))
    shared = {"model": args.model, "shapes": shapes, "calib": args.calib, "calib_samples": args.calib_samples,
              "target_config": args.target_config, "data": _scoring_data(args, dataset) if dataset and todo else None,
              "noise_seed": args.noise_seed}
    groups: dict[tuple, list[tuple]] = {}  # points that calibrate alike: the first one calibrates for all
    for point, scorings in todo:
        groups.setdefault(_calibration_group(point, args), []).append((point, scorings))
    first = [members[0] for members in groups.values()]
    bar = progress_bar("points")

    def wave(start: int):  # one bar over both waves
        return (lambda done, _: bar(start + done, len(todo))) if bar else None

    def recorder(members: list[tuple]):  # each point written as it completes: an interrupted sweep resumes
        def record(index: int, result: tuple) -> None:
            point, scorings = members[index]
            for (ident, noise, mine, _), values in zip(scorings, result[0]):
                rows[ident] = _record(args.output, ident, point, noise, mine, values, result[1])

        return record

    def task(member: tuple, reused: str) -> tuple:  # the target point, its group's calibration, its noises
        point, scorings = member
        return point, reused, tuple(parsed for *_, parsed in scorings)

    with cluster.runner() as runner:
        handle = runner.share(shared)
        calibrated = runner.map(compile_point, handle, [task(m, "") for m in first], [1] * len(first),
                                wave(0), recorder(first))
        ranges = {group: result[2] for group, result in zip(groups, calibrated)}
        rest = [(group, member) for group, members in groups.items() for member in members[1:]]
        runner.map(compile_point, handle, [task(m, ranges[g]) for g, m in rest], [1] * len(rest),
                   wave(len(first)), recorder([m for _, m in rest]))
    for ident, point, noise, mine, error in invalid:
        rows[ident] = _record(args.output, ident, point, noise, mine, {"error": error}, None)
    ordered = [rows[ident] for ident in order]
    computed = sum(len(scorings) for _, scorings in todo)
    _write_tables(args.output, ordered)
    figures = _write_figures(args.output, ordered)
    failed = sum(1 for r in ordered if r.get("error"))
    print(f"pimc sweep: {len(ordered)} points ({computed} computed, {reused} reused, "
          f"{failed} failed) -> {args.output}/sweep.csv, sweep.json" + (f", {len(figures)} figures" if figures else ""))
    for row in ordered:
        if row.get("error"):
            noise = f" --noise '{row['options']['noise']}'" if "noise" in row["options"] else ""
            print(f"  {row['spec']}{noise}: error: {row['error']}")
    return 0


def _noise_space(space: list) -> list[tuple]:
    """(noise point, its NoiseConfig or the one-line error of a value out of range in it) for each noise point."""
    from pimc.targets.base import ConfigError
    from pimc.targets.noise import parse_noise

    parsed = []
    for noise in space:
        try:
            parsed.append((noise, parse_noise(noise.spec)))
        except ConfigError as error:
            parsed.append((noise, str(error)))
    return parsed


def _scoring_data(args, dataset: tuple[np.ndarray, np.ndarray]) -> dict:
    """The first --limit samples of --data and onnxruntime fp32's outputs on them, computed once for every point."""
    from pimc import runtime
    from pimc.frontend.load import load_onnx

    x, y = dataset[0][: args.limit], dataset[1][: args.limit]
    model = load_onnx(args.model)
    name = next(i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer})
    session = runtime.make_session(model)
    first = session.get_outputs()[0].name
    logits = np.concatenate([runtime.run(session, [first], {name: x[i : i + 1]})[0].reshape(1, -1) for i in range(len(x))])
    return {"name": name, "x": x, "y": y, "logits": logits}


def _calibration_group(point, args) -> tuple:
    """What a point's calibration depends on besides the model and data: its target's stages up to quantize."""
    from pimc.targets import load_config

    stages = load_config(point.spec, args.target_config).stages(args.calib, args.calib_samples)
    names = [name for name, _ in stages]
    return tuple(stages[: names.index("quantize") + 1]) if "quantize" in names else (point.spec,)


def compile_point(shared: dict, task: tuple) -> tuple[list[dict], dict | None, str]:
    """(rows, report, calibration.json text) of one target point, given the calibration.json text its group's first
    point wrote (or "" to calibrate): compiled once as `pimc compile` would, then scored on the shared data with each
    of its noises (None: noise-free), one row each; runs on a worker. A user error is every row's error."""
    import tempfile

    from pimc.commands.compile import build_report, simulate_sample
    from pimc.compiler import compile_model
    from pimc.frontend.importer import host_ops
    from pimc.targets import load_config

    point, reused, noises = task
    try:
        started = time.perf_counter()
        config = load_config(point.spec, shared["target_config"])
        data = shared["data"]
        shapes = {data["name"]: (1, *data["x"].shape[1:])} if data else shared["shapes"]
        with tempfile.TemporaryDirectory(prefix="pimc-point-") as scratch:  # the worker's own files
            given, saved = os.path.join(scratch, "given.json"), os.path.join(scratch, "calibration.json")
            if reused:
                with open(given, "w") as file:
                    file.write(reused)
            compiled = compile_model(shared["model"], config, shapes, shared["calib"], samples=shared["calib_samples"],
                                     calib_ranges=given if reused else "", save_ranges=saved)
            with open(saved) as file:
                ranges = file.read()
        simulation, stats = simulate_sample(shared["model"], compiled, shared["calib"])
        recovery = {x: s.recovery_converts for x, s in stats.items() if s.recovery_converts}
        report = build_report(shared["model"], config, compiled, dict(host_ops(compiled.module)), recovery)
        report["simulation"] = simulation
        row = {**_costs(report["totals"]), "compile_s": round(time.perf_counter() - started, 3)}
        if not data:
            return [row] * len(noises), report, ranges
        return [{**row, **_score(compiled.program, data, n, shared["noise_seed"])} for n in noises], report, ranges
    except UserError as error:
        return [{"error": str(error)}] * len(noises), None, ""


def _costs(totals: dict) -> dict:
    return {key: totals.get(key) for key in ("crossbars", "area_mm2", "energy_pj", "latency_ns", "converts_per_mac")}


def _score(program, data: dict, noise, seed: int) -> dict:
    """Top-1 and agreement with onnxruntime of the program on the data, with `noise` (None: none) drawn from `seed`
    and each sample's index, as `pimc eval` draws it."""
    from pimc.memory import reuse_freed_memory
    from pimc.targets.simulator import Simulator

    reuse_freed_memory()  # sample after sample allocates the same arrays
    started = time.perf_counter()
    sim = Simulator(program, noise=noise, seed=seed, outputs_only=True)
    x, name = data["x"], data["name"]
    logits = np.concatenate([sim.run({name: x[i : i + 1]}, i)[0].reshape(1, -1) for i in range(len(x))]).astype(np.float64)
    reference = data["logits"].astype(np.float64)
    cosine = float((logits * reference).sum() / (np.linalg.norm(logits) * np.linalg.norm(reference) or 1.0))
    got, ref = logits.argmax(axis=1), reference.argmax(axis=1)
    return {"top1": float((got == data["y"]).mean()), "reference_top1": float((ref == data["y"]).mean()),
            "agreement": float((got == ref).mean()), "cosine": round(cosine, 6), "samples": len(x),
            "simulate_s": round(time.perf_counter() - started, 3)}


def _kept(directory: str, ident: str, inputs: dict) -> dict | None:
    """The row a previous run wrote for this point with the same inputs, if any."""
    path = os.path.join(directory, "points", ident, "result.json")
    try:
        with open(path) as file:
            kept = json.load(file)
    except (OSError, ValueError):
        return None
    return kept["row"] if kept.get("inputs") == inputs else None


def _record(directory: str, ident: str, point, noise, inputs: dict, values: dict, report: dict | None) -> dict:
    """The point's row, written with its report into DIR/points/<id>/ (each file whole or not at all); a noise
    point's spec and options are options named `noise` and `noise.<option>`, which no target option is."""
    noise_options = {}
    if noise is not None:
        noise_options = {"noise": noise.spec, **{f"noise.{k}": v for k, v in noise.options.items()}}
    row = {"id": ident, "target": point.target, "spec": point.spec, "options": {**point.options, **noise_options},
           **values}
    home = os.path.join(directory, "points", ident)
    os.makedirs(home, exist_ok=True)
    if report is not None:
        _write_json(os.path.join(home, "report.json"), report)
    _write_json(os.path.join(home, "result.json"), {"inputs": inputs, "row": row})
    return row


def _write_json(path: str, value) -> None:
    staging = f"{path}.tmp"
    with open(staging, "w") as file:
        json.dump(value, file, indent=1, allow_nan=False)
        file.write("\n")
    os.replace(staging, path)


def _write_tables(directory: str, rows: list[dict]) -> None:
    options = list(dict.fromkeys(key for row in rows for key in row["options"]))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS[:3] + options + COLUMNS[3:])
    for row in rows:
        values = [row.get(c) for c in COLUMNS]
        writer.writerow([_cell(v) for v in values[:3]] + [row["options"].get(o, "") for o in options]
                        + [_cell(v) for v in values[3:]])
    staging = os.path.join(directory, "sweep.csv.tmp")
    with open(staging, "w") as file:
        file.write(text.getvalue())
    os.replace(staging, os.path.join(directory, "sweep.csv"))
    _write_json(os.path.join(directory, "sweep.json"), rows)


def _cell(value) -> str:
    return "" if value is None else str(value)


def _write_figures(directory: str, rows: list[dict]) -> list[str]:
    from pimc import plots

    usable = [{**r, **{k: _number(v) for k, v in r["options"].items()}, "energy_nj": r["energy_pj"] / 1e3}
              for r in rows if not r.get("error") and r.get("energy_pj") is not None]
    if not usable:
        return []
    written = []
    if any(r.get("top1") is not None for r in usable):
        written += plots.write_figure(plots.accuracy_against(usable, "energy_nj", "energy per inference (nJ)"),
                                      os.path.join(directory, "accuracy_energy"))
        written += plots.write_figure(plots.accuracy_against(usable, "area_mm2", "area (mm²)"),
                                      os.path.join(directory, "accuracy_area"))
    for option in dict.fromkeys(k for r in usable for k in r["options"]):
        if option == "noise" or len({r.get(option) for r in usable}) < 2:
            continue
        if not option.startswith("noise."):
            written += plots.write_figure(plots.option_against(usable, option, "energy_nj", "energy per inference (nJ)"),
                                          os.path.join(directory, f"{option}_energy"))
            continue
        alike = [{**r, "others": _others(r, option)} for r in usable]  # one series per value of everything else
        written += plots.write_figure(plots.option_against(alike, option, "top1", "simulated top-1", "others"),
                                      os.path.join(directory, f"{option}_top1"))
    return written


def _others(row: dict, option: str) -> str:
    """The row's target spec and its noise options other than `option`."""
    others = [f"{k}={v}" for k, v in row["options"].items() if k.startswith("noise.") and k != option]
    return " ".join([row["spec"], *others])


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text

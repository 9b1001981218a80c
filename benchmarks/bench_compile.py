"""Whole `pimc` commands as the user runs them, against whole onnxruntime processes doing the matching work.

    python benchmarks/bench_compile.py [--models resnet18,resnet50] [--targets isaac,raella,epim] [--repeat 3]
                                       [--images 4] [--json benchmarks/results/bench_compile.json]

Per model and target, each a separate process, run alternately --repeat times (so that drifts in the
machine's load hit all alike), medians reported:
  - `pimc compile --estimate-only` and the full `pimc compile` (with its simulated sample), against a
    process that imports onnxruntime and creates a session for the model ("ORT session"); the full
    compile also against ORT session plus the calibration's onnxruntime runs (16 single-image runs,
    what `pimc compile` runs for its default 16 samples on a batch-1 model);
  - `pimc run` per image: (wall of --images + 1 images - wall of 1 image) / --images, start-up and
    program loading cancelled out, against the same difference for an onnxruntime process running
    the same images one at a time (fp32 inference);
  - the peak resident memory of each process (its own, from wait4).
Writes the medians and their ratios to --json; benchmarks/compare_bench.py compares two such files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench_import import build  # the zoo network, written to a folder

ORT_SESSION = "import sys, onnxruntime; onnxruntime.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])"
ORT_RUNS = """import sys, numpy, onnxruntime
s = onnxruntime.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])
x = numpy.load(sys.argv[2]).astype(numpy.float32)
name = s.get_inputs()[0].name
for i in range(int(sys.argv[3])):
    s.run(None, {name: x[i % len(x) : i % len(x) + 1]})
"""
CALIBRATION_RUNS = 16  # pimc compile's default --calib-samples, one onnxruntime run each on a batch-1 model


def measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one process running `command`; exits if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    error = process.stderr.read().decode(errors="replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}\n{error}")
    return wall, usage.ru_maxrss / 1024  # Linux: kilobytes


def commands(model: str, target: str, folder: str, images: str, one: str, count: int) -> dict[str, list[str]]:
    pimc = [sys.executable, "-m", "pimc"]
    program = os.path.join(folder, f"program-{target}")
    return {
        "ort_session": [sys.executable, "-c", ORT_SESSION, model],
        "ort_calibration": [sys.executable, "-c", ORT_RUNS, model, images, str(CALIBRATION_RUNS + 1)],
        "estimate_only": [*pimc, "compile", model, "--target", target, "--estimate-only", "-o", program],
        "compile": [*pimc, "compile", model, "--target", target, "-o", program],
        "run_1": [*pimc, "run", program, "--input", one, "-o", os.path.join(folder, "y1.npz")],
        "run_n": [*pimc, "run", program, "--input", images, "-o", os.path.join(folder, "yn.npz")],
        "ort_1": [sys.executable, "-c", ORT_RUNS, model, images, "1"],
        "ort_n": [sys.executable, "-c", ORT_RUNS, model, images, str(count)],
    }


def bench(model: str, target: str, folder: str, repeat: int, images: int) -> dict:
    x = np.random.default_rng(0).standard_normal((images + 1, 3, 224, 224)).astype(np.float32)
    many, one = os.path.join(folder, "x.npy"), os.path.join(folder, "x1.npy")
    np.save(many, x)
    np.save(one, x[:1])
    runs = commands(model, target, folder, many, one, images + 1)
    walls: dict[str, list[float]] = {name: [] for name in runs}
    peaks: dict[str, float] = {name: 0.0 for name in runs}
    for _ in range(repeat):
        for name, command in runs.items():  # compile before run: the run reads the program compile wrote
            wall, peak = measured(command)
            walls[name].append(wall)
            peaks[name] = max(peaks[name], peak)
    m = {name: statistics.median(values) for name, values in walls.items()}
    per_image = {"pimc": (m["run_n"] - m["run_1"]) / images, "ort": (m["ort_n"] - m["ort_1"]) / images}
    calibration_runs = max(m["ort_calibration"] - m["ort_1"], 0.0)
    return {
        "seconds": {"ort_session": m["ort_session"], "ort_calibration_runs": calibration_runs,
                    "estimate_only": m["estimate_only"], "compile": m["compile"],
                    "run_per_image": per_image["pimc"], "ort_per_image": per_image["ort"]},
        "peak_mb": {"estimate_only": peaks["estimate_only"], "compile": peaks["compile"], "run": peaks["run_n"],
                    "ort_session": peaks["ort_session"], "ort_run": peaks["ort_n"]},
        "ratios": {"estimate_only_vs_ort_session": m["estimate_only"] / m["ort_session"],
                   "compile_vs_ort_session": m["compile"] / m["ort_session"],
                   "compile_vs_ort_session_and_calibration": m["compile"] / (m["ort_session"] + calibration_runs),
                   "run_per_image_vs_ort_inference": per_image["pimc"] / per_image["ort"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--targets", default="isaac,raella,epim")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--images", type=int, default=4, help="images per-image times are measured over")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "pimc-bench-models"),
                        help="where the zoo models are built, once")
    parser.add_argument("--json", default="", metavar="FILE", help="write the medians and ratios here")
    args = parser.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    results = {}
    for name in args.models.split(","):
        model = os.path.join(args.cache, f"{name}.onnx")
        if not os.path.exists(model):
            build(name, args.cache)
        for target in args.targets.split(","):
            with tempfile.TemporaryDirectory(prefix="bench-compile-") as folder:
                results[f"{name}/{target}"] = result = bench(model, target, folder, args.repeat, args.images)
            s, r, p = result["seconds"], result["ratios"], result["peak_mb"]
            print(f"{name} on {target} (medians of {args.repeat}; ORT session {s['ort_session']:.2f} s, "
                  f"calibration runs {s['ort_calibration_runs']:.2f} s, inference {s['ort_per_image'] * 1e3:.0f} ms)")
            print(f"  compile --estimate-only {s['estimate_only']:6.2f} s  {r['estimate_only_vs_ort_session']:5.1f}x ORT session"
                  f"  {p['estimate_only']:6.0f} MB")
            print(f"  compile                 {s['compile']:6.2f} s  {r['compile_vs_ort_session']:5.1f}x ORT session, "
                  f"{r['compile_vs_ort_session_and_calibration']:.1f}x with calibration runs  {p['compile']:6.0f} MB")
            print(f"  run, per image          {s['run_per_image']:6.2f} s  {r['run_per_image_vs_ort_inference']:5.1f}x ORT "
                  f"inference  {p['run']:6.0f} MB")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as file:
            json.dump({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                   "load_average": os.getloadavg()[0]},
                       "repeat": args.repeat, "images": args.images, "results": results}, file, indent=1)
            file.write("\n")


if __name__ == "__main__":
    main()

"""Whole `pimc` commands as the user runs them, against whole onnxruntime processes doing the matching work.

    python benchmarks/bench_commands.py [--models resnet18,resnet50] [--targets isaac,raella,epim] [--repeat 3]
                                        [--images 4] [--verify] [--json benchmarks/results/bench_commands.json]

Per model and target, each a separate process, run alternately --repeat times (so that drifts in the
machine's load hit all alike), medians reported:
  - `pimc compile --estimate-only` and the full `pimc compile` (with its simulated sample), against a
    process that imports onnxruntime and creates a session for the model ("ORT session"); the full
    compile also against ORT session plus the calibration's onnxruntime runs (16 inferences, what
    `pimc compile` runs for its default 16 samples on a batch-1 model);
  - `pimc run` per image: (wall of --images + 1 images - wall of 1 image) / --images, start-up and
    program loading cancelled out, the median over the repeats of that difference within each (the two runs
    are neighbours in time, so a drift of the machine's speed hits both), against onnxruntime's fp32 inference
    of one image (default threads), the median over the same images in one process after a warm-up run;
  - with --verify, `pimc verify MODEL --target T` as a whole process (its bit-exactness check against the
    integer reference and its tensors against onnxruntime);
  - the peak resident memory of each process (its own, from wait4).
pimc's modules are compiled to bytecode first, as an install leaves them.
A target may carry options: --targets 'isaac{chips=3}' (VGG-16 needs three of ISAAC's chips).
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
ORT_INFERENCE = """import sys, time, statistics, numpy, onnxruntime
s = onnxruntime.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])
x = numpy.load(sys.argv[2]).astype(numpy.float32)
feed = lambda i: {s.get_inputs()[0].name: x[i : i + 1]}
s.run(None, feed(0))
seconds = []
for i in range(len(x)):
    start = time.perf_counter()
    s.run(None, feed(i))
    seconds.append(time.perf_counter() - start)
print(statistics.median(seconds))
"""
CALIBRATION_RUNS = 16  # pimc compile's default --calib-samples, one onnxruntime run each on a batch-1 model


def measured(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB and stdout of one process running `command`; exits if it fails."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE)
        error = process.stderr.read().decode(errors="replace")  # to its end: the process has exited
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}\n{error}")
        out.seek(0)
        return wall, usage.ru_maxrss / 1024, out.read().decode()  # Linux: ru_maxrss in kilobytes


def commands(model: str, target: str, folder: str, images: str, one: str, verify: bool) -> dict[str, list[str]]:
    pimc = [sys.executable, "-m", "pimc"]
    program = os.path.join(folder, "program")
    runs = {
        "ort_session": [sys.executable, "-c", ORT_SESSION, model],
        "ort_inference": [sys.executable, "-c", ORT_INFERENCE, model, images],
        "estimate_only": [*pimc, "compile", model, "--target", target, "--estimate-only", "-o", program],
        "compile": [*pimc, "compile", model, "--target", target, "-o", program],  # after: the runs read it
        "run_1": [*pimc, "run", program, "--input", one, "-o", os.path.join(folder, "y1.npy")],
        "run_n": [*pimc, "run", program, "--input", images, "-o", os.path.join(folder, "yn.npy")],
    }
    if verify:
        runs["verify"] = [*pimc, "verify", model, "--target", target]
    return runs


def bench(model: str, target: str, folder: str, repeat: int, images: int, verify: bool) -> dict:
    x = np.random.default_rng(0).standard_normal((images + 1, 3, 224, 224)).astype(np.float32)
    many, one = os.path.join(folder, "x.npy"), os.path.join(folder, "x1.npy")
    np.save(many, x)
    np.save(one, x[:1])
    runs = commands(model, target, folder, many, one, verify)
    walls: dict[str, list[float]] = {name: [] for name in runs}
    peaks: dict[str, float] = {name: 0.0 for name in runs}
    inference: list[float] = []
    for _ in range(repeat):
        for name, command in runs.items():
            wall, peak, out = measured(command)
            walls[name].append(wall)
            peaks[name] = max(peaks[name], peak)
            if name == "ort_inference":
                inference.append(float(out))
    m = {name: statistics.median(values) for name, values in walls.items()}
    ort_image = statistics.median(inference)
    # each repeat's two runs are neighbours in time: the median of their differences, not the difference of medians
    pimc_image = statistics.median(n - one for n, one in zip(walls["run_n"], walls["run_1"])) / images
    session_and_calibration = m["ort_session"] + CALIBRATION_RUNS * ort_image
    timed = ("ort_session", "estimate_only", "compile", *(["verify"] if verify else []))
    return {
        "seconds": {**{name: m[name] for name in timed}, "ort_inference": ort_image, "run_one_image": m["run_1"],
                    "run_per_image": pimc_image},
        "peak_mb": {name: peaks[name] for name in (*timed, "run_n")},
        "ratios": {"estimate_only_vs_ort_session": m["estimate_only"] / m["ort_session"],
                   "compile_vs_ort_session": m["compile"] / m["ort_session"],
                   "compile_vs_ort_session_and_calibration": m["compile"] / session_and_calibration,
                   "run_per_image_vs_ort_inference": pimc_image / ort_image},
    }


def report(name: str, target: str, result: dict, repeat: int) -> None:
    s, r, p = result["seconds"], result["ratios"], result["peak_mb"]
    print(f"{name} on {target} (medians of {repeat}; ORT session {s['ort_session']:.2f} s, "
          f"inference {s['ort_inference'] * 1e3:.1f} ms)")
    print(f"  compile --estimate-only {s['estimate_only']:6.2f} s  {r['estimate_only_vs_ort_session']:5.1f}x ORT session"
          f"  {p['estimate_only']:6.0f} MB")
    print(f"  compile                 {s['compile']:6.2f} s  {r['compile_vs_ort_session']:5.1f}x ORT session, "
          f"{r['compile_vs_ort_session_and_calibration']:.1f}x with {CALIBRATION_RUNS} inferences  {p['compile']:6.0f} MB")
    print(f"  run, one image          {s['run_one_image']:6.2f} s  (start-up, program load and one image)")
    print(f"  run, per image          {s['run_per_image']:6.3f} s  {r['run_per_image_vs_ort_inference']:5.1f}x ORT "
          f"inference  {p['run_n']:6.0f} MB")
    if "verify" in s:
        print(f"  verify                  {s['verify']:6.2f} s  {p['verify']:6.0f} MB")


def compile_to_bytecode() -> None:
    """pimc's modules compiled beside their sources, as `pip install` leaves an installed package (and onnxruntime's):
    where PYTHONDONTWRITEBYTECODE is set, as on the machine of the committed results, every process of an editable
    install would otherwise compile all of them again (0.1 s)."""
    import compileall

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for package in ("pimc", "passes", "targets"):
        compileall.compile_dir(os.path.join(root, package), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--targets", default="isaac,raella,epim")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--images", type=int, default=4, help="images per-image times are measured over")
    parser.add_argument("--verify", action="store_true", help="also time `pimc verify --target` and its memory")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "pimc-bench-models"),
                        help="where the zoo models are built, once")
    parser.add_argument("--json", default="", metavar="FILE", help="write the medians and ratios here")
    args = parser.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    compile_to_bytecode()
    results = {}
    for name in args.models.split(","):
        model = os.path.join(args.cache, f"{name}.onnx")
        if not os.path.exists(model):
            build(name, args.cache)
        for target in args.targets.split(","):
            with tempfile.TemporaryDirectory(prefix="bench-commands-") as folder:
                results[f"{name}/{target}"] = bench(model, target, folder, args.repeat, args.images, args.verify)
            report(name, target, results[f"{name}/{target}"], args.repeat)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as file:
            json.dump({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                   "load_average": os.getloadavg()[0]},
                       "repeat": args.repeat, "images": args.images, "results": results}, file, indent=1)
            file.write("\n")


if __name__ == "__main__":
    main()

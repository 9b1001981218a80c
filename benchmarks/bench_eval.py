"""`pimc eval` on a zoo network (ResNet-18 by default) with 1 and 2 Dask workers, as the user runs it.

    python benchmarks/bench_eval.py [--model resnet18] [--target isaac] [--samples 192] [--repeat 3]

Each run is a whole `pimc eval --json` process. Reported, as medians over --repeat alternating runs:
  - throughput: the samples per second the command measures over its simulation (compile and cluster
    start-up excluded), and the whole command's wall time;
  - the peak resident memory of the command and of each Dask worker process (sampled every 0.1 s);
  - three settings: 1 worker in process with one BLAS thread (the default), 1 worker in process with as
    many BLAS threads as cores (`--blas-threads`, numpy's own default), and 2 workers (a LocalCluster of two
    processes, one BLAS thread each: `--workers 2`).
The images are seeded normal samples labelled with onnxruntime's own classes, so top-1 is not the point.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime
import psutil

from bench_import import build  # the zoo network, written to a folder


def labelled_samples(model: str, count: int, path: str) -> None:
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((count, 3, 224, 224)).astype(np.float32)
    y = np.array([int(session.run(None, {name: x[i : i + 1]})[0].argmax()) for i in range(count)], np.int64)
    np.savez(path, x=x, y=y)


def measured(command: list[str]) -> dict:
    """Run `command`, sampling the peak memory of it and of its child processes; its JSON and the wall time."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watched, peaks = psutil.Process(process.pid), {}
    while process.poll() is None:
        try:
            for p in [watched, *watched.children(recursive=True)]:
                peaks[p.pid] = max(peaks.get(p.pid, 0), p.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    out = process.stdout.read()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    result = json.loads(out)
    command_peak = peaks.pop(process.pid, 0)
    workers = sorted(peaks.values(), reverse=True)
    return {"throughput": result["throughput_samples_per_s"], "wall": wall, "command_mb": command_peak / 2**20,
            "worker_mb": workers[0] / 2**20 if workers else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--target", default="isaac")
    parser.add_argument("--samples", type=int, default=192,
                        help="scored samples: enough that each worker's start (its first sample, the first shards' "
                             "data) weighs little, as over a dataset")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-eval-")
    model = build(args.model, folder)
    data = os.path.join(folder, "data.npz")
    labelled_samples(model, args.samples + 2, data)
    base = [sys.executable, "-m", "pimc", "eval", model, "--target", args.target, "--data", data,
            "--calib-samples", "2", "--json"]
    cores = str(os.cpu_count())
    settings = {"1 worker, 1 BLAS thread (default)": base,
                f"1 worker, {cores} BLAS threads": [*base, "--blas-threads", cores],
                "2 workers, 1 BLAS thread each": [*base, "--workers", "2"]}
    runs = {name: [] for name in settings}
    for _ in range(args.repeat):
        for name, command in settings.items():  # alternating, so drifts in machine load hit all alike
            runs[name].append(measured(command))
    print(f"pimc eval {args.model} on {args.target}, {args.samples} samples, medians of {args.repeat} runs")
    print(f"  {'setting':34} {'samples/s':>10} {'wall (s)':>9} {'command MB':>11} {'worker MB':>10}")
    medians = {}
    for name, values in runs.items():
        medians[name] = {key: statistics.median(v[key] for v in values) for key in values[0]}
        m = medians[name]
        print(f"  {name:34} {m['throughput']:10.2f} {m['wall']:9.1f} {m['command_mb']:11.0f} {m['worker_mb']:10.0f}")
    one, many, two = (medians[name]["throughput"] for name in settings)
    print(f"  2 workers against 1: {two / one:.2f}x; against 1 worker with {cores} BLAS threads: {two / many:.2f}x")
    print("  by default `pimc eval` runs in process (no cluster to start) with one BLAS thread per worker: the "
          "crossbar products run on onnxruntime's one-threaded integer kernel, so more BLAS threads gain nothing "
          "here, and on a busy machine BLAS threads that spin are several times slower; workers, one thread each, "
          "are faster than both")


if __name__ == "__main__":
    main()

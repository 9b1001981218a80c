"""Import a zoo network (ResNet-50 by default) and report each phase against onnx's own load time.

    python benchmarks/bench_import.py [--model resnet50] [--repeat 3]

Phases: onnx.load (the baseline), check (checker and strict shape inference on the weight-free skeleton),
convert (ONNX nodes -> nn ops), verify, canonicalize (folds BatchNormalization), and, outside the import,
writing the .pimc text and the .npz weights.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

import onnx

from pimc.dialects.nn_conv import WeightOp
from pimc.frontend.importer import Importer
from pimc.frontend.load import load_onnx
from pimc.frontend.prepare import prepare
from pimc.ir.verifier import verify
from pimc.passes.canonicalize import Canonicalize
from pimc.text.printer import print_module
from pimc.weights import WeightStore

ROOT = Path(__file__).resolve().parent.parent


def build(name: str, folder: str) -> str:
    spec = importlib.util.spec_from_file_location("zoo", ROOT / "samples" / "zoo.py")
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)
    path = os.path.join(folder, f"{name}.onnx")
    onnx.save(zoo.build(name, seed=0, batch=1), path)
    return path


def measure(path: str, folder: str) -> dict[str, float]:
    times, start = {}, time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal start
        now = time.perf_counter()
        times[phase], start = now - start, now

    onnx.load(path)
    lap("onnx.load")
    model = load_onnx(path)
    lap("load")
    prepared = prepare(model, {})
    lap("check")
    module = Importer(prepared, "bench").run()
    lap("convert")
    verify(module)
    lap("verify")
    Canonicalize().apply(module)
    module.weights = WeightStore({op.ref: module.weights[op.ref] for op in module.walk() if isinstance(op, WeightOp)})
    lap("canonicalize")
    times["import"] = sum(times[p] for p in ("load", "check", "convert", "verify", "canonicalize"))
    start = time.perf_counter()
    Path(folder, "bench.pimc").write_text(print_module(module))
    module.weights.save(os.path.join(folder, "bench.npz"))
    lap("write")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50", choices=["resnet18", "resnet50", "mobilenetv2", "vgg16"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = build(args.model, folder)
        runs = [measure(path, folder) for _ in range(args.repeat)]
        size = os.path.getsize(path) / 1e6
    median = {phase: statistics.median(r[phase] for r in runs) for phase in runs[0]}
    print(f"{args.model}: {size:.0f} MB; median of {args.repeat} runs")
    for phase, seconds in median.items():
        print(f"  {phase:<13} {seconds:6.3f} s")
    print(f"  import beyond onnx.load: {median['import'] - median['onnx.load']:.3f} s")


if __name__ == "__main__":
    main()

"""The crossbar back end on a zoo network (ResNet-50 by default), against onnxruntime in the same run.

    python benchmarks/bench_backend.py [--model resnet50] [--target isaac] [--repeat 3] [--calib-samples 16]

Reports medians of:
  - compile: `pimc compile --estimate-only` in process, phase by phase (import, each pass, of which
    quantize's calibration, verification after each stage, emission; then the cost model), against
    onnxruntime's session creation for the same model;
  - simulate: one bit-exact simulated image, program already loaded, against one onnxruntime fp32
    inference; loading the program from disk is reported beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from functools import partial

import numpy as np
import onnxruntime

from bench_import import build  # the zoo network, written to a folder

import pimc.compiler
import pimc.frontend.importer
import pimc.passes.quantize
import pimc.targets.emit
from pimc.compiler import compile_model
from pimc.pass_manager import Instrumentation
from pimc.targets import load_config
from pimc.targets.cost import estimate
from pimc.targets.program import read_program
from pimc.targets.simulator import Simulator


def session(path: str) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


class Phases:
    """Times the compile's phases that are not passes, by wrapping the functions that run them."""

    WRAPPED = ((pimc.frontend.importer, "import_onnx", "import"),
               (pimc.passes.quantize, "observed_ranges", "calibration"),
               (pimc.compiler, "verify_after", "verify"),
               (pimc.targets.emit, "emit_program", "emit"))

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        for module, name, label in self.WRAPPED:
            setattr(module, name, self._timed(getattr(module, name), label))

    def _timed(self, function, label: str):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start

        return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--target", default="isaac")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calib-samples", type=int, default=16, help="seeded inputs quantization calibrates on")
    args = parser.parse_args()
    config = load_config(args.target)
    image = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    rows: dict[str, list[float]] = {}
    phases = Phases()
    with tempfile.TemporaryDirectory() as folder:
        path = build(args.model, folder)
        for _ in range(args.repeat):
            seconds, ort = timed(session, path)
            rows.setdefault("onnxruntime session creation", []).append(seconds)
            feeds = {ort.get_inputs()[0].name: image}
            ort.run(None, feeds)
            rows.setdefault("onnxruntime fp32 inference", []).append(timed(ort.run, None, feeds)[0])
            inst = Instrumentation(verify_each=True)
            phases.seconds.clear()
            seconds, compiled = timed(partial(compile_model, samples=args.calib_samples), path, config, {}, "", inst)
            rows.setdefault("pimc compile (to the program)", []).append(seconds)
            rows.setdefault("  import", []).append(phases.seconds["import"])
            for pass_name, pass_seconds in inst.timings:
                rows.setdefault(f"  pass {pass_name.split('{')[0]}", []).append(pass_seconds)
                if pass_name.startswith("quantize"):
                    rows.setdefault("    of which calibration", []).append(phases.seconds["calibration"])
            rows.setdefault("  verify (after each stage)", []).append(phases.seconds["verify"])
            rows.setdefault("  emit", []).append(phases.seconds["emit"])
            rows.setdefault("  cost model", []).append(timed(estimate, compiled.program)[0])
            program_dir = os.path.join(folder, "program")
            rows.setdefault("  write the program", []).append(timed(compiled.program.write, program_dir)[0])
            seconds, program = timed(read_program, program_dir)
            loaded, sim = timed(Simulator, program)
            rows.setdefault("load the program (read + crossbars)", []).append(seconds + loaded)
            sim.run(feeds)  # warm the caches of the digital ops
            rows.setdefault("pimc simulate one image", []).append(timed(sim.run, feeds)[0])
    medians = {label: statistics.median(values) for label, values in rows.items()}
    print(f"{args.model} on {args.target}, calibrated on {args.calib_samples} inputs, medians of {args.repeat} runs")
    for label, value in medians.items():
        print(f"  {label:<40} {value:8.3f} s")
    compile_ratio = medians["pimc compile (to the program)"] / medians["onnxruntime session creation"]
    simulate_ratio = medians["pimc simulate one image"] / medians["onnxruntime fp32 inference"]
    print(f"  compile / session creation: {compile_ratio:.1f}x")
    print(f"  simulate / fp32 inference:  {simulate_ratio:.1f}x")


if __name__ == "__main__":
    main()

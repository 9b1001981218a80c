"""Top-1 of the digits CNN on isaac and raella under device noise (issue 15, docs/noise.md).

    python benchmarks/noise_sweep.py [--trials 3] [--figure docs/figures/noise_sweep]

The digits CNN (samples/digits_cnn.onnx) is compiled once per target, calibrated on samples/digits_calib.npz,
and its program runs on the 360 samples of samples/digits_test.npz for every noise level, over `--trials`
seeds: read noise of E from 0 to 16% in RAELLA's definition (σ = E·sqrt(N+ + N-)), programming variation
and stuck-at faults (as many stuck low as stuck high). Each row gives the mean top-1 and its spread over the
seeds, and the relative L2 error noise adds to the last layer's MVM results (over every sample and seed).
The figure is written as deterministic SVG and PNG. `--timing` measures the cost per image of a noisy run
against the noise-free program forced through its sliced datapath (every MVM, as a noisy run takes it): on the
360 digits, or with `--timing resnet18` (a zoo network, seeded weights, samples/zoo.py) on one seeded image.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from pimc.compiler import compile_model
from pimc.targets import load_config
from pimc.targets.noise import parse_noise
from pimc.targets.noise_effect import NoiseEffect
from pimc.targets.simulator import Simulator, one_blas_thread

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
TARGETS = ("isaac", "raella")
SWEEPS = {  # panel -> (noise option(s), values, axis label)
    "read": (("read",), [0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16], "read noise E (σ = E·sqrt(N+ + N-))"),
    "prog": (("prog",), [0.0, 0.05, 0.1, 0.2, 0.3, 0.5], "programming variation σ (relative)"),
    "stuck": (("saf-low", "saf-high"), [0.0, 0.001, 0.003, 0.01, 0.03], "stuck-at fraction, each of low and high"),
}


def compiled_program(target: str):
    return compile_model(str(SAMPLES / "digits_cnn.onnx"), load_config(target), {"x": (1, 1, 8, 8)},
                         str(SAMPLES / "digits_calib.npz")).program


def score(program, x: np.ndarray, y: np.ndarray, spec: str, seeds: range) -> dict:
    """Top-1 per seed and the last layer's relative L2 error over every seed, for one noise spec."""
    exact, noise = Simulator(program), parse_noise(spec)
    if not noise.active:
        top1 = np.mean([np.argmax(exact.run({"x": x[i : i + 1]})[0]) == y[i] for i in range(len(x))])
        return {"top1": [float(top1)] * len(seeds), "relative_l2": 0.0}
    top1, effects = [], []
    for seed in seeds:
        noisy = Simulator(program, noise=noise, seed=seed)
        effect = NoiseEffect.of(program, exact, noisy)
        correct = 0
        for i in range(len(x)):
            exact.run({"x": x[i : i + 1]})
            correct += int(np.argmax(noisy.run({"x": x[i : i + 1]}, i)[0]) == y[i])
            effect.add(exact, noisy)
        top1.append(correct / len(x))
        effects.append(effect)
    for effect in effects[1:]:
        effects[0].merge(effect)
    return {"top1": top1, "relative_l2": effects[0].rows()[-1]["relative_l2"]}


def sweep(programs: dict, x: np.ndarray, y: np.ndarray, trials: int) -> list[dict]:
    rows = []
    for panel, (options, values, _) in SWEEPS.items():
        for value in values:
            spec = " ".join(f"{option}={value:g}" for option in options)
            for target, program in programs.items():
                got = score(program, x, y, spec, range(trials))
                rows.append({"panel": panel, "value": value, "target": target, "spec": spec,
                             "top1": float(np.mean(got["top1"])), "spread": float(np.std(got["top1"])),
                             "relative_l2": got["relative_l2"]})
                print(f"{panel:<6} {spec:<28} {target:<7} top-1 {100 * rows[-1]['top1']:6.2f}% "
                      f"± {100 * rows[-1]['spread']:.2f}  last-layer rel. L2 {got['relative_l2']:.4f}", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = []
    for panel, (_, values, label) in SWEEPS.items():
        lines += [f"| {label} | " + " | ".join(f"{t} top-1 | {t} rel. L2" for t in TARGETS) + " |",
                  "|---|" + "---:|" * 2 * len(TARGETS)]
        for value in values:
            cells = []
            for target in TARGETS:
                row = next(r for r in rows if r["panel"] == panel and r["value"] == value and r["target"] == target)
                cells += [f"{100 * row['top1']:.2f}% ± {100 * row['spread']:.2f}", f"{row['relative_l2']:.3f}"]
            lines.append(f"| {value:g} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(rows: list[dict], stem: str) -> list[str]:
    import matplotlib.pyplot as plt

    from pimc.plots import STYLE, write_figure

    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(SWEEPS), figsize=(11, 6), sharey="row", sharex="col")
        for column, (panel, (_, _, label)) in enumerate(SWEEPS.items()):
            for target, marker in zip(TARGETS, "os"):
                points = [r for r in rows if r["panel"] == panel and r["target"] == target]
                levels = [r["value"] for r in points]
                axes[0, column].errorbar(levels, [100 * r["top1"] for r in points],
                                         yerr=[100 * r["spread"] for r in points], marker=marker, capsize=2,
                                         label=target)
                axes[1, column].plot(levels, [r["relative_l2"] for r in points], marker=marker, label=target)
            axes[1, column].set_xlabel(label)
            for ax in axes[:, column]:
                ax.grid(alpha=0.3)
                if panel == "stuck":
                    ax.set_xscale("symlog", linthresh=1e-3)
        axes[0, 0].set_ylabel("top-1 (%) on 360 digits")
        axes[1, 0].set_ylabel("last layer's rel. L2 error")
        axes[0, 0].legend()
        fig.tight_layout()
    return write_figure(fig, stem)


def sliced(sim: Simulator) -> Simulator:
    """The noise-free simulator with every MVM through its sliced datapath, as a noisy run takes it."""
    for model in sim.crossbars.values():
        model.__class__ = type(f"Sliced{type(model).__name__}", (type(model),), {"never_clips": lambda *_: False})
    sim.plan()
    return sim


def per_image_ms(sim: Simulator, x: np.ndarray) -> float:
    name = sim.program.inputs[0][0]
    with one_blas_thread():
        started = time.perf_counter()
        for i in range(len(x)):
            sim.run({name: x[i : i + 1]}, i)
        return 1000 * (time.perf_counter() - started) / len(x)


def zoo_programs(name: str) -> tuple[dict, np.ndarray]:
    """A zoo network's programs (calibrated on one seeded sample) and one seeded image."""
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_import import build  # the zoo network, written to a folder

    from pimc.ir.types import parse_type

    path = build(name, tempfile.mkdtemp())
    programs = {t: compile_model(path, load_config(t), {}, "", samples=1).program for t in TARGETS}
    program = programs[TARGETS[0]]
    shape = parse_type(program.buffers[program.inputs[0][1]].type).shape
    return programs, np.random.default_rng(0).normal(size=shape).astype(np.float32)


TIMED = {  # what a noisy run draws -> its spec
    "read noise": "read=0.08",
    "frozen": "prog=0.05 saf-low=1e-3 saf-high=1e-3 drift-s=3600 drift-nu-std=0.02",
    "everything": "prog=0.05 read=0.08 saf-low=1e-3 saf-high=1e-3 drift-s=3600 drift-nu-std=0.02 adc-offset=0.3 "
                  "adc-gain=0.01",
}


def timing(programs: dict, x: np.ndarray, repeats: int = 3) -> None:
    """Per target and noise: the median over `repeats` of the sliced and the noisy run, measured alternately so
    that a change in the machine's load hits both."""
    for target, program in programs.items():
        fast = per_image_ms(Simulator(program), x)
        print(f"{target}: {fast:.2f} ms/image exact (the fast path where proven)")
        for label, spec in TIMED.items():
            noise = parse_noise(spec)
            pairs = [(per_image_ms(sliced(Simulator(program)), x), per_image_ms(Simulator(program, noise=noise), x))
                     for _ in range(repeats)]
            slow, noisy = (float(np.median(side)) for side in zip(*pairs))
            print(f"  {label:<11} {slow:9.2f} ms sliced, {noisy:9.2f} ms noisy: {noisy / slow:.2f}x "
                  f"(ratios {', '.join(f'{n / s:.2f}' for s, n in pairs)})  --noise '{spec}'", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3, help="noise seeds per point (default 3)")
    parser.add_argument("--figure", default="docs/figures/noise_sweep", help="STEM of STEM.svg and STEM.png")
    parser.add_argument("--timing", nargs="?", const="digits", metavar="ZOO",
                        help="only measure the cost per image: of the digits CNN, or of a zoo network (resnet18)")
    args = parser.parse_args()
    if args.timing and args.timing != "digits":
        timing(*zoo_programs(args.timing))
        return
    with np.load(SAMPLES / "digits_test.npz") as data:
        x, y = data["x"], data["y"]
    programs = {target: compiled_program(target) for target in TARGETS}
    if args.timing:
        timing(programs, x)
        return
    with one_blas_thread():
        rows = sweep(programs, x, y, args.trials)
    print(markdown(rows))
    print("wrote", ", ".join(figure(rows, args.figure)))


if __name__ == "__main__":
    main()

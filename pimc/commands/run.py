"""`pimc run DIR --input x.npy -o y.npy`: execute a compiled program in the functional simulator.

For a program compiled at batch size 1, an input of N samples along the first axis runs
sample by sample, `--threads` of them at a time, and the outputs are joined along that axis. With
`--noise SPEC` the program runs on imperfect devices (docs/noise.md), and a table on stderr gives per
layer the error noise adds to its crossbars' outputs and the ADC saturations it causes.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from pimc.diagnostics import UsageError, UserError

HELP = "run a compiled program in the bit-accurate simulator"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", metavar="DIR", help="the directory `pimc compile -o` wrote")
    parser.add_argument("--input", required=True, metavar="FILE",
                        help="an .npy (one input) or .npz (arrays by input name)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the outputs: .npy (one output) or .npz")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="samples simulated at a time (default: one per CPU this process may use; without "
                             "noise only); the outputs do not depend on it")
    add_noise_arguments(parser)


def add_noise_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--noise", default="", metavar="SPEC",
                        help="run on imperfect devices, e.g. 'prog=0.02 read=0.04 saf-low=1e-3' (docs/noise.md)")
    parser.add_argument("--noise-seed", type=int, default=0, metavar="N", help="seed of the noise's draws (default 0)")


def noise_of(args: argparse.Namespace):
    """The NoiseConfig --noise gives, None when every non-ideality is off; a one-line error for a bad spec."""
    from pimc.targets.noise import check_seed, parse_noise

    noise = parse_noise(args.noise)
    check_seed(args.noise_seed)
    return noise if noise.active else None


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from pimc.frontend.load import check_input
    from pimc.inputs import read_program_inputs
    from pimc.ir.types import parse_type
    from pimc.outputs import check_output, output_files
    from pimc.targets.program import read_program
    from pimc.threads import usable_cpus

    check_input(args.program, directory=True)
    check_input(args.input, "--input")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads}: give a positive number of threads")
    noise = noise_of(args)
    manifest = os.path.join(args.program, "program.json")
    if os.path.isfile(manifest) and '"target": "flexspim"' in open(manifest).read(200):  # a FlexSpIM program
        from pimc.targets.flexspim.commands import run_command

        if noise is not None:
            raise UserError(f"--noise: {args.program} is a FlexSpIM program, digital SRAM macros with no analog "
                            "devices to perturb")
        return run_command(args)
    if args.output is not None:
        check_output(args.output)
        if not args.output.endswith((".npy", ".npz")):
            raise UserError(f"-o {args.output}: name an .npy file (one output) or an .npz file (outputs by name)")
    program = read_program(args.program)
    shapes = {name: parse_type(program.buffers[buffer].type).shape for name, buffer in program.inputs}
    inputs = read_program_inputs(args.input, shapes)
    if args.output and args.output.endswith(".npy") and len(program.outputs) != 1:
        raise UserError(f"the program has {len(program.outputs)} outputs; write them to an .npz, not '{args.output}'")
    with ExitStack() as stack:
        temporary = stack.enter_context(output_files(args.output))[0] if args.output else None
        outputs, sim, batch, effect = simulate(program, inputs, shapes, noise, args.noise_seed,
                                               args.threads or usable_cpus())
        if temporary is not None:
            write_outputs(temporary, args.output, [name for name, _ in program.outputs], outputs)
    saturated = sum(s.saturated for s in sim.stats.values())
    converts = sum(s.adc_converts for s in sim.stats.values())
    print(f"pimc run: {batch or 1} sample(s), {converts:,} ADC conversions, {saturated:,} saturated", file=sys.stderr)
    if effect is not None:
        from pimc.targets.noise_effect import print_effect

        print(f"noise {args.noise!r}, seed {args.noise_seed}, against the noise-free program:", file=sys.stderr)
        print_effect(effect.rows(), sys.stderr)
    if not args.output:
        for (name, _), array in zip(program.outputs, outputs):
            print(f"output {name}: shape {list(array.shape)}\n{np.array2string(array, threshold=64)}")
    return 0


def simulate(program, inputs: dict, shapes: dict, noise=None, seed: int = 0, threads: int = 1):
    """(outputs, the simulator, the batch run sample by sample or None, the NoiseEffect or None): with `noise`,
    the noisy simulator's outputs, and the noise-free one runs beside it for the effect; without, a batch's
    samples run `threads` at a time."""
    from pimc.memory import reuse_freed_memory
    from pimc.targets.noise_effect import NoiseEffect
    from pimc.targets.simulator import Simulator, one_blas_thread, progress_bar, run_samples

    reuse_freed_memory()  # sample after sample allocates the same arrays
    batch = next(iter(inputs.values())).shape[0] if _batched(inputs, shapes) else None
    sim = Simulator(program, None if batch else progress_bar("simulating"), noise, seed, outputs_only=noise is None)
    exact = Simulator(program) if noise is not None else None
    effect = NoiseEffect.of(program, exact, sim) if exact is not None else None
    samples = [inputs] if batch is None else [{n: a[i : i + 1] for n, a in inputs.items()} for i in range(batch or 0)]
    show = progress_bar("samples") if batch else None
    with one_blas_thread():
        results = run_samples(sim, samples, threads, show) if effect is None else \
            _beside_exact(sim, exact, effect, samples, show)
    if batch is None:
        return results[0], sim, batch, effect
    return [np.concatenate([r[k] for r in results]) for k in range(len(program.outputs))], sim, batch, effect


def _beside_exact(sim, exact, effect, samples: list[dict], show) -> list[list[np.ndarray]]:
    """The noisy simulator's outputs, sample by sample, the noise-free one run beside it into `effect`."""
    results = []
    for index, sample in enumerate(samples):
        results.append(sim.run(sample, index))
        exact.run(sample)
        effect.add(exact, sim)
        if show:
            show(index + 1, len(samples))
    return results


def _batched(inputs: dict, shapes: dict) -> bool:
    return all(a.shape != tuple(shapes[n]) and shapes[n][:1] == (1,) for n, a in inputs.items())


def write_outputs(temporary: str, path: str, names: list[str], outputs: list[np.ndarray]) -> None:
    """The outputs as one .npy (checked beforehand: the program has one output) or an .npz by name."""
    with open(temporary, "wb") as file:
        if path.endswith(".npz"):
            np.savez(file, **dict(zip(names, outputs)))
        else:
            np.save(file, outputs[0])

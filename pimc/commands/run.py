"""`pimc run DIR --input x.npy -o y.npy`: execute a compiled program in the functional simulator.

For a program compiled at batch size 1, an input of N samples along the first axis runs
sample by sample, and the outputs are joined along that axis.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from pimc.diagnostics import UserError

HELP = "run a compiled program in the bit-accurate simulator"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", metavar="DIR", help="the directory `pimc compile -o` wrote")
    parser.add_argument("--input", required=True, metavar="FILE",
                        help="an .npy (one input) or .npz (arrays by input name)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the outputs: .npy (one output) or .npz")


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from pimc.frontend.load import check_input
    from pimc.inputs import read_program_inputs
    from pimc.ir.types import parse_type
    from pimc.outputs import check_output, output_files
    from pimc.targets.program import read_program

    check_input(args.program, directory=True)
    check_input(args.input, "--input")
    manifest = os.path.join(args.program, "program.json")
    if os.path.isfile(manifest) and '"target": "flexspim"' in open(manifest).read(200):  # a FlexSpIM program
        from pimc.targets.flexspim.commands import run_command

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
        outputs, sim, batch = simulate(program, inputs, shapes)
        if temporary is not None:
            write_outputs(temporary, args.output, [name for name, _ in program.outputs], outputs)
    saturated = sum(s.saturated for s in sim.stats.values())
    converts = sum(s.adc_converts for s in sim.stats.values())
    print(f"pimc run: {batch or 1} sample(s), {converts:,} ADC conversions, {saturated:,} saturated", file=sys.stderr)
    if not args.output:
        for (name, _), array in zip(program.outputs, outputs):
            print(f"output {name}: shape {list(array.shape)}\n{np.array2string(array, threshold=64)}")
    return 0


def simulate(program, inputs: dict, shapes: dict):
    """(outputs, the simulator, the batch run sample by sample or None)."""
    from pimc.targets.simulator import Simulator, one_blas_thread, progress_bar

    batch = next(iter(inputs.values())).shape[0] if _batched(inputs, shapes) else None
    sim = Simulator(program, None if batch else progress_bar("simulating"))
    if batch is None:
        with one_blas_thread():
            return sim.run(inputs), sim, None
    show = progress_bar("samples")
    results = []
    with one_blas_thread():
        for index in range(batch):
            results.append(sim.run({name: array[index : index + 1] for name, array in inputs.items()}))
            if show:
                show(index + 1, batch)
    return [np.concatenate([r[k] for r in results]) for k in range(len(program.outputs))], sim, batch


def _batched(inputs: dict, shapes: dict) -> bool:
    return all(a.shape != tuple(shapes[n]) and shapes[n][:1] == (1,) for n, a in inputs.items())


def write_outputs(temporary: str, path: str, names: list[str], outputs: list[np.ndarray]) -> None:
    """The outputs as one .npy (checked beforehand: the program has one output) or an .npz by name."""
    with open(temporary, "wb") as file:
        if path.endswith(".npz"):
            np.savez(file, **dict(zip(names, outputs)))
        else:
            np.save(file, outputs[0])

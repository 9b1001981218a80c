"""`pimc import`: ONNX -> the `nn` dialect, written as `model.pimc` with its weights in `model.npz`."""

from __future__ import annotations

import argparse
import os
import sys

from pimc.diagnostics import UserError

HELP = "import an ONNX model into the nn dialect"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the ONNX file")
    parser.add_argument("-o", "--output",
                        help="write the IR, with locations, here and its weights beside it (same name, .npz)")
    add_input_shape_argument(parser)
    parser.add_argument("--print-generic", action="store_true", help="quote op names: MLIR generic syntax")
    parser.add_argument("--print-loc", action="store_true",
                        help="print op locations (ONNX node names) on stdout; -o files always have them")


def add_input_shape_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...",
                        help="fix the shape of a graph input with symbolic dimensions (repeat for several)")


def parse_input_shapes(values: list[str]) -> dict[str, tuple[int, ...]]:
    """`["x=1,3,224,224"]` -> {"x": (1, 3, 224, 224)}; bad syntax or a size below 1 is a usage error."""
    from pimc.diagnostics import UsageError

    shapes = {}
    for value in values:
        name, _, dims = value.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(",")) if dims else ()
        except ValueError:
            shape = (-1,)
        if not name or any(d < 1 for d in shape):
            raise UsageError(f"--input-shape expects NAME=D0,D1,... with positive sizes, e.g. x=1,3,224,224; "
                             f"got '{value[:100]}'")
        if name in shapes:
            raise UsageError(f"--input-shape gives input '{name}' twice")
        shapes[name] = shape
    return shapes


def check_model_path(path: str) -> None:
    """A missing model, or a directory given for one, is a usage error (exit 2)."""
    from pimc.frontend.load import check_input

    check_input(path)


def note_host_ops(module, command: str) -> None:
    """Tell which ops pimc does not model: they run on the host."""
    from pimc.frontend.importer import host_ops

    counts = host_ops(module)
    if counts:
        listed = ", ".join(f"{name} ({n})" for name, n in sorted(counts.items()))
        print(f"pimc {command}: note: {sum(counts.values())} ops run on the host: {listed}", file=sys.stderr)


def note_defaults(module, command: str) -> None:
    """Say which input dimensions the importer chose, e.g. a symbolic batch dimension set to 1."""
    for note in getattr(module, "notes", ()):
        print(f"pimc {command}: note: {note}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from pimc.frontend.importer import import_onnx
    from pimc.text.printer import print_module

    from pimc.outputs import check_output, output_files

    args.source_name = args.model
    if args.model.endswith(".nir"):  # NIR spiking networks: the flexspim target
        from pimc.targets.flexspim.commands import import_command

        check_model_path(args.model)
        return import_command(args)
    shapes = parse_input_shapes(args.input_shape)
    check_model_path(args.model)
    if args.output is not None:
        check_output(args.output)
    module = import_onnx(args.model, shapes)
    if args.output is None:
        note_defaults(module, "import")
        note_host_ops(module, "import")
        sys.stdout.write(print_module(module, args.print_generic, args.print_loc))
        if module.weights.names():
            print(f"pimc import: note: {len(module.weights.names())} weights not written; give -o FILE to save them",
                  file=sys.stderr)
        return 0
    weights = os.path.splitext(args.output)[0] + ".npz"
    if os.path.abspath(weights) == os.path.abspath(args.output):
        raise UserError(f"-o {args.output}: the IR file would overwrite its own weight store; name a .pimc file")
    module.attributes["weights"] = os.path.basename(weights)
    text = print_module(module, args.print_generic, print_loc=True)  # a file keeps the ONNX node names
    with output_files(args.output, weights) as (ir_file, weights_file):
        module.weights.save(weights_file)
        with open(ir_file, "w") as file:
            file.write(text)
    module.weights.path = weights
    note_defaults(module, "import")
    note_host_ops(module, "import")
    return 0

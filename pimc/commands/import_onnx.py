"""`pimc import`: ONNX -> the `nn` dialect, written as `model.pimc` with its weights in `model.npz`."""

from __future__ import annotations

import argparse
import os
import sys

HELP = "import an ONNX model into the nn dialect"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the ONNX file")
    parser.add_argument("-o", "--output", help="write the IR here and its weights beside it (same name, .npz)")
    add_input_shape_argument(parser)
    parser.add_argument("--print-generic", action="store_true", help="quote op names: MLIR generic syntax")
    parser.add_argument("--print-loc", action="store_true", help="print op locations (ONNX node names)")


def add_input_shape_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...",
                        help="fix the shape of a graph input with symbolic dimensions (repeat for several)")


def parse_input_shapes(values: list[str]) -> dict[str, tuple[int, ...]]:
    """`["x=1,3,224,224"]` -> {"x": (1, 3, 224, 224)}; bad syntax is a usage error."""
    from pimc.cli import UsageError

    shapes = {}
    for value in values:
        name, _, dims = value.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(",")) if dims else ()
        except ValueError:
            shape = (-1,)
        if not name or any(d < 0 for d in shape):
            raise UsageError(f"--input-shape expects NAME=D0,D1,... with non-negative sizes, got '{value}'")
        if name in shapes:
            raise UsageError(f"--input-shape gives input '{name}' twice")
        shapes[name] = shape
    return shapes


def check_model_path(path: str) -> None:
    from pimc.cli import UsageError

    if not os.path.isfile(path):
        raise UsageError(f"cannot read '{path}': no such file")


def note_host_ops(module, command: str) -> None:
    """Tell which ops pimc does not model: they run on the host."""
    from pimc.frontend.importer import host_ops

    counts = host_ops(module)
    if counts:
        listed = ", ".join(f"{name} ({n})" for name, n in sorted(counts.items()))
        print(f"pimc {command}: note: {sum(counts.values())} ops run on the host: {listed}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from pimc.frontend.importer import import_onnx
    from pimc.text.printer import print_module

    args.source_name = args.model
    shapes = parse_input_shapes(args.input_shape)
    check_model_path(args.model)
    module = import_onnx(args.model, shapes)
    note_host_ops(module, "import")
    if args.output is None:
        sys.stdout.write(print_module(module, args.print_generic, args.print_loc))
        if module.weights.names():
            print(f"pimc import: note: {len(module.weights.names())} weights not written; give -o FILE to save them",
                  file=sys.stderr)
        return 0
    weights = os.path.splitext(args.output)[0] + ".npz"
    module.attributes["weights"] = os.path.basename(weights)
    text = print_module(module, args.print_generic, args.print_loc)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    module.weights.save(weights + ".tmp")
    with open(args.output + ".tmp", "w") as file:
        file.write(text)
    os.replace(weights + ".tmp", weights)
    os.replace(args.output + ".tmp", args.output)
    module.weights.path = weights
    return 0

"""`pimc opt`: parse IR, run a pass pipeline, print IR, as `mlir-opt` does."""

from __future__ import annotations

import argparse
import os
import re
import sys

HELP = "run a pass pipeline on an IR file"

SPLIT_MARKER = re.compile(r"^// -----", re.MULTILINE)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", default="-", help="IR file ('-' or nothing: standard input)")
    parser.add_argument("-p", "--pipeline", default="", help="passes to run, e.g. 'canonicalize'")
    parser.add_argument("-o", "--output", help="write IR here (and its weights beside it) instead of stdout")
    add_printing_arguments(parser)
    parser.add_argument("--allow-unregistered-dialect", action="store_true", help="accept ops no dialect declares")
    parser.add_argument("--split-input-file", action="store_true", help="treat '// -----' lines as separate inputs")
    parser.add_argument("--verify-diagnostics", action="store_true",
                        help="check reported errors against 'expected-error' comments")


def add_printing_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that runs passes."""
    parser.add_argument("--print-generic", action="store_true", help="quote op names: MLIR generic syntax")
    parser.add_argument("--print-loc", action="store_true", help="print op locations")
    parser.add_argument("--no-verify", action="store_true", help="do not verify after each pass")
    parser.add_argument("--print-ir-before", default="", metavar="PASSES", help="dump IR before these passes")
    parser.add_argument("--print-ir-after", default="", metavar="PASSES", help="dump IR after these passes")
    parser.add_argument("--print-ir-after-all", action="store_true", help="dump IR after every pass")
    parser.add_argument("--print-ir-after-change", action="store_true", help="dump IR after passes that change it")
    parser.add_argument("--dump-dir", metavar="DIR", help="write the IR after every pass into DIR, one numbered file each")
    parser.add_argument("--time-passes", action="store_true", help="report the time each pass took")


def instrumentation(args: argparse.Namespace):
    from pimc.pass_manager import Instrumentation

    return Instrumentation(
        verify_each=not args.no_verify,
        print_before=frozenset(filter(None, args.print_ir_before.split(","))),
        print_after=frozenset(filter(None, args.print_ir_after.split(","))),
        print_after_all=args.print_ir_after_all,
        print_after_change=args.print_ir_after_change,
        dump_dir=args.dump_dir,
        time_passes=args.time_passes,
        print_loc=args.print_loc,
        generic=args.print_generic,
    )


def pipeline(spec: str):
    """Parse a pipeline string; a bad one is a usage error."""
    from pimc.cli import UsageError
    from pimc.options import OptionError
    from pimc.pass_manager import parse_pipeline
    from pimc.passes import PASSES

    try:
        return parse_pipeline(spec, PASSES)
    except OptionError as error:
        raise UsageError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    from pimc.text.parser import read_text

    passes = pipeline(args.pipeline)
    name = "<stdin>" if args.file == "-" else args.file
    if args.file != "-" and not os.path.isfile(args.file):
        from pimc.cli import UsageError

        raise UsageError(f"cannot read '{args.file}': no such file")
    from pimc.text.printer import print_module

    text = read_text(args.file)
    chunks = split_chunks(text) if args.split_input_file else [(text, 0)]
    modules, failed = [], False
    for chunk, offset in chunks:
        module, ok = _process(chunk, offset, name, passes, args)
        failed |= not ok
        if module is not None:
            modules.append(module)
    if failed:
        return 1
    if args.output and os.path.dirname(args.output):
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
    for module in modules:
        _save_weights(module, args.output)
    _emit("// -----\n".join(print_module(m, args.print_generic, args.print_loc) for m in modules), args.output)
    return 0


def split_chunks(text: str) -> list[tuple[str, int]]:
    """The parts between '// -----' lines, each with the number of lines before it."""
    chunks, offset, start = [], 0, 0
    for match in SPLIT_MARKER.finditer(text):
        chunks.append((text[start : match.start()], offset))
        offset += text.count("\n", start, match.end()) + 1
        start = text.find("\n", match.end()) + 1 if "\n" in text[match.end() :] else len(text)
    chunks.append((text[start:], offset))
    return chunks


def _process(chunk: str, offset: int, name: str, passes: list, args: argparse.Namespace):
    """Parse, verify and transform one chunk; return (the module or None, success)."""
    from pimc.context import Context
    from pimc.diagnostics import DiagnosticError
    from pimc.ir.verifier import verify
    from pimc.pass_manager import run_pipeline
    from pimc.text.parser import parse_module
    from pimc.weights import store_beside

    from pimc.commands.expected import check_expectations

    try:
        module = parse_module(chunk, name, Context(args.allow_unregistered_dialect), offset)
        module.weights = store_beside(name, module.attributes.get("weights"))
        verify(module)
        run_pipeline(module, passes, instrumentation(args))
    except DiagnosticError as error:
        if args.verify_diagnostics:
            return None, check_expectations(chunk, offset, name, error.diagnostic)
        print(error.diagnostic.render(name), file=sys.stderr)
        return None, False
    if args.verify_diagnostics and not check_expectations(chunk, offset, name, None):
        return None, False
    return module, True


def _save_weights(module, output: str | None) -> None:
    """Keep the weight reference valid for the output: save the arrays still used beside it if needed."""
    from pimc.weights import used_refs

    store, used = module.weights, used_refs(module)
    if not used:
        return
    if output is None:
        if store.changed:
            count = len(used)
            print(f"pimc opt: note: {count} weight{'s' * (count != 1)} not written; give -o FILE to save them", file=sys.stderr)
        return
    target = os.path.splitext(output)[0] + ".npz"
    if store.path is None or store.changed or os.path.abspath(store.path) != os.path.abspath(target):
        store.save(target, used)
    module.attributes["weights"] = os.path.basename(target)


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    temporary = output + ".tmp"
    with open(temporary, "w") as file:
        file.write(text)
    os.replace(temporary, output)

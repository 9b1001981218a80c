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
    parser.add_argument("-o", "--output",
                        help="write IR, with locations, here (and its weights beside it) instead of stdout")
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
    """The pass manager's instrumentation from the printing flags; an unknown pass name or a --dump-dir
    that cannot be a directory is a usage error, before any work."""
    from pimc.pass_manager import Instrumentation

    return Instrumentation(
        verify_each=not args.no_verify,
        print_before=_pass_names(args.print_ir_before, "--print-ir-before"),
        print_after=_pass_names(args.print_ir_after, "--print-ir-after"),
        print_after_all=args.print_ir_after_all,
        print_after_change=args.print_ir_after_change,
        dump_dir=_dump_dir(args.dump_dir),
        time_passes=args.time_passes,
        print_loc=args.print_loc,
        generic=args.print_generic,
    )


def _pass_names(value: str, flag: str) -> frozenset[str]:
    from pimc.diagnostics import UsageError
    from pimc.targets.passes import all_passes

    names = frozenset(filter(None, value.split(",")))
    unknown = sorted(names - set(all_passes()))
    if unknown:
        raise UsageError(f"{flag}: unknown pass '{unknown[0][:100]}' (see `pimc passes`)")
    return names


def _dump_dir(path: str | None) -> str | None:
    """--dump-dir, checked and created before any pass runs (dumps are written as passes run, to debug them)."""
    from pimc.diagnostics import UserError
    from pimc.outputs import check_output

    if path is None:
        return None
    check_output(path, "--dump-dir", directory=True)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as failure:
        raise UserError(f"--dump-dir {path}: cannot create it: {failure.strerror or failure}") from None
    return path


def pipeline(spec: str):
    """Parse a pipeline string; a bad one is a usage error."""
    from pimc.diagnostics import UsageError
    from pimc.options import OptionError
    from pimc.pass_manager import parse_pipeline
    from pimc.targets.passes import all_passes

    try:
        return parse_pipeline(spec, all_passes())
    except OptionError as error:
        raise UsageError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    from pimc.frontend.load import check_input
    from pimc.outputs import check_output, output_files
    from pimc.text.parser import read_text
    from pimc.text.printer import print_module

    passes = pipeline(args.pipeline)
    instrumentation(args)  # bad printing flags are usage errors before any work
    name = "<stdin>" if args.file == "-" else args.file
    if args.file != "-":
        check_input(args.file)
    if args.output is not None:
        check_output(args.output)
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
    if args.output is None:
        for module in modules:
            _note_unsaved(module)
        sys.stdout.write("// -----\n".join(print_module(m, args.print_generic, args.print_loc) for m in modules))
        return 0
    store = _store_to_write(modules, args.output)
    paths = [args.output] + ([os.path.splitext(args.output)[0] + ".npz"] if store is not None else [])
    if len(paths) == 2 and os.path.abspath(paths[0]) == os.path.abspath(paths[1]):
        from pimc.diagnostics import UserError

        raise UserError(f"-o {args.output}: the IR file would overwrite its own weight store; name a .pimc file")
    with output_files(*paths) as temporaries:
        if store is not None:
            module, used = store
            module.weights.save(temporaries[1], used)
        with open(temporaries[0], "w") as file:  # a file keeps the locations: they name the ONNX nodes
            file.write("// -----\n".join(print_module(m, args.print_generic, print_loc=True) for m in modules))
    if store is not None:
        store[0].weights.path = paths[1]
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
    from pimc.weights import check_store, store_beside

    from pimc.commands.expected import check_expectations

    try:
        module = parse_module(chunk, name, Context(args.allow_unregistered_dialect), offset)
        module.weights = store_beside(name, module.attributes.get("weights"))
        verify(module)
        check_store(module)
        run_pipeline(module, passes, instrumentation(args))
    except DiagnosticError as error:
        if args.verify_diagnostics:
            return None, check_expectations(chunk, offset, name, error.diagnostic)
        print(error.diagnostic.render(name), file=sys.stderr)
        return None, False
    if args.verify_diagnostics and not check_expectations(chunk, offset, name, None):
        return None, False
    return module, True


def _note_unsaved(module) -> None:
    from pimc.weights import used_refs

    used = used_refs(module)
    if used and module.weights.changed:
        count = len(used)
        print(f"pimc opt: note: {count} weight{'s' * (count != 1)} not written; give -o FILE to save them", file=sys.stderr)


def _store_to_write(modules: list, output: str):
    """(module, refs) whose weights must be saved beside `output` to keep its `weights` reference valid, or None;
    the module's `weights` attribute is pointed at that file."""
    from pimc.weights import used_refs

    target = os.path.splitext(output)[0] + ".npz"
    found = None
    for module in modules:
        store, used = module.weights, used_refs(module)
        if not used:
            continue
        missing = sorted(ref for ref in used if ref not in store)
        if missing:
            from pimc.diagnostics import UserError

            if store.absent:
                raise UserError(f"-o {output}: the module's weight store '{store.absent}' does not exist, so the "
                                f"weights its ops name cannot be written ('{missing[0]}')")
            raise UserError(f"-o {output}: the module's ops name arrays no weight store holds ('{missing[0]}'"
                            f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}); give the IR a `weights` "
                            f"attribute naming its .npz")
        module.attributes["weights"] = os.path.basename(target)
        if store.path is None or store.changed or os.path.abspath(store.path) != os.path.abspath(target):
            found = (module, used)
    return found

"""The `pimc` command line: one subcommand per module in `pimc.commands`.

Exit status: 0 success, 1 a diagnostic was reported, 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pimc.diagnostics import DiagnosticError, UserError

COMMANDS = {
    "opt": "pimc.commands.opt",
    "passes": "pimc.commands.passes",
    "targets": "pimc.commands.targets",
    "import": "pimc.commands.import_onnx",
    "verify": "pimc.commands.verify",
    "compile": "pimc.commands.compile",
    "eval": "pimc.commands.eval",
    "run": "pimc.commands.run",
}


class UsageError(Exception):
    """Bad flags or values on the command line; exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pimc", description="Compile ONNX models onto crossbar PIM accelerators.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        command = importlib.import_module(module)
        command.add_arguments(sub.add_parser(name, help=command.HELP, description=command.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = importlib.import_module(COMMANDS[args.command])
    try:
        return command.run(args)
    except UsageError as error:
        print(f"pimc {args.command}: error: {error}", file=sys.stderr)
        return 2
    except UserError as error:
        print(f"pimc {args.command}: error: {error}", file=sys.stderr)
        return 1
    except DiagnosticError as error:
        print(error.diagnostic.render(getattr(args, "source_name", "<input>")), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0

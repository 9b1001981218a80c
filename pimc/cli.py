"""The `pimc` command line: one subcommand per module in `pimc.commands`.

Exit status: 0 success, 1 a diagnostic was reported, 2 bad usage (flags, values, a missing input file),
130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Every error is one line on stderr; outputs are
written through `pimc.outputs`, so an error or a signal leaves no partial file behind.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from typing import NoReturn

from pimc.diagnostics import DiagnosticError, UsageError, UserError
from pimc.signals import STOPS, ignore_signals

__all__ = ["UsageError", "main", "program"]

COMMANDS = {
    "opt": "pimc.commands.opt",
    "passes": "pimc.commands.passes",
    "targets": "pimc.commands.targets",
    "import": "pimc.commands.import_onnx",
    "verify": "pimc.commands.verify",
    "compile": "pimc.commands.compile",
    "eval": "pimc.commands.eval",
    "run": "pimc.commands.run",
    "sweep": "pimc.commands.sweep",
    "report": "pimc.commands.report",
}


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that cleanup runs as it does for Ctrl-C."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: `pimc compile: error: ... (see pimc compile --help)`."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pimc", description="Compile ONNX models onto crossbar PIM accelerators.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        command = importlib.import_module(module)
        command.add_arguments(sub.add_parser(name, help=command.HELP, description=command.HELP))
    return parser


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run one command in this process and return its exit status; the signal handlers are restored after."""
    if not _main_thread():
        return _command(argv)
    saved = {signum: signal.getsignal(signum) for signum in STOPS}
    try:
        return _command(argv)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def program() -> NoReturn:
    """`pimc` as a process: once the command has its exit status, a late signal cannot change it, and the
    process ends with that status at once. Not through the interpreter's exit: a Ctrl-C that landed in
    code run by `exec` (dataclasses build their methods so) leaves CPython flagged to re-kill itself with
    SIGINT at exit even though pimc handled it."""
    from pimc.memory import fewer_collections

    fewer_collections()
    status = _command(sys.argv[1:], settled=ignore_signals)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe: nothing more can be said
            pass
    os._exit(status)


def _command(argv: list[str] | None, settled=lambda: None) -> int:
    name = "pimc"
    try:
        if _main_thread():
            signal.signal(signal.SIGTERM, _terminate)
        parser = build_parser()
        args = parser.parse_args(argv)
        name = f"pimc {args.command}"
        status = _run(importlib.import_module(COMMANDS[args.command]), args, name)
        settled()
        return status
    except (KeyboardInterrupt, Terminated) as stop:
        return _stopped(name, stop, settled)
    except Exception as error:
        stop = _signal_behind(error)
        if stop is None:
            raise
        return _stopped(name, stop, settled)


def _stopped(name: str, stop: BaseException, settled) -> int:
    """The one line and the exit status of a command that a signal stopped."""
    settled()
    interrupted = isinstance(stop, KeyboardInterrupt)
    print(f"{name}: {'interrupted' if interrupted else 'terminated'}", file=sys.stderr)
    return 130 if interrupted else 143


def _signal_behind(error: BaseException) -> BaseException | None:
    """The KeyboardInterrupt or Terminated that `error` was raised from, if any: Python re-raises what a class
    body's `__set_name__` raises as a RuntimeError (dataclass fields do, while a module is imported)."""
    cause = error.__cause__
    while cause is not None and not isinstance(cause, (KeyboardInterrupt, Terminated)):
        cause = cause.__cause__
    return cause


def _run(command, args: argparse.Namespace, name: str) -> int:
    try:
        return command.run(args)
    except UsageError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    except UserError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 1
    except DiagnosticError as error:
        print(error.diagnostic.render(getattr(args, "source_name", "<input>")), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except UnicodeDecodeError as error:  # protobuf hands over a name's bytes only when it is read
        where = getattr(args, "source_name", None)
        print(f"{where or name}: error: a name or string is not UTF-8 (byte 0x{error.object[error.start]:02x})",
              file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{name}: error: out of memory", file=sys.stderr)
        return 1
    except OSError as error:  # a file that cannot be read or written midway (disk full, removed, ...)
        where = f"{error.filename}: " if error.filename else ""
        print(f"{name}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

"""Diagnostics in MLIR's format: `file:line:col: error: message`, the source line, a caret.

Passes and the verifier raise `DiagnosticError`; only the command line prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from pimc.ir.core import Operation
from pimc.ir.location import FileLoc, Location, NameLoc, UnknownLoc, names_of


@dataclass(frozen=True)
class Diagnostic:
    """One message about a place: a file position, an ONNX node, or nowhere in particular."""

    message: str
    location: Location = UnknownLoc()
    severity: str = "error"

    def headline(self, source: str = "<unknown>") -> str:
        """The one line that says what is wrong and where."""
        if isinstance(self.location, FileLoc):
            loc = self.location
            return f"{loc.file}:{loc.line}:{loc.col}: {self.severity}: {self.message}"
        names = names_of(self.location)
        where = f'{source}: node "{names[0]}"' if names else source
        return f"{where}: {self.severity}: {self.message}"

    def render(self, source: str = "<unknown>", text: str | None = None) -> str:
        """The headline, then the source line with a caret when the text is at hand."""
        head = self.headline(source)
        if not isinstance(self.location, FileLoc):
            return head
        lines = (text if text is not None else _read(self.location.file)).split("\n")  # as the parser counts lines
        if not 1 <= self.location.line <= len(lines):
            return head
        line, col = _excerpt(lines[self.location.line - 1].rstrip("\r"), self.location.col)
        return f"{head}\n{line}\n{' ' * (col - 1)}^"


EXCERPT = 200  # at most this many characters of the offending line are echoed


def _excerpt(line: str, col: int) -> tuple[str, int]:
    """The part of `line` around column `col`, cut to EXCERPT characters with '...' where cut; the new column."""
    if len(line) <= EXCERPT:
        return line, col
    start = max(0, min(col - 1 - EXCERPT // 2, len(line) - EXCERPT))
    part = line[start : start + EXCERPT]
    prefix = "..." if start else ""
    suffix = "..." if start + EXCERPT < len(line) else ""
    return prefix + part + suffix, col - start + len(prefix)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""


class UserError(Exception):
    """A one-line error about the user's input that is not tied to an op, e.g. a bad option value; exit 1."""


class UsageError(Exception):
    """Bad flags or values on the command line, or a missing input file; exit status 2."""


class DiagnosticError(Exception):
    """A user-facing error; the command line renders it and exits with status 1."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def error_at(location: Location, message: str) -> DiagnosticError:
    return DiagnosticError(Diagnostic(message, location))


def op_error(op: Operation, message: str) -> DiagnosticError:
    """An error about `op`, placed at its text position if it was parsed, else at its ONNX node."""
    where = op.span or op.location
    if isinstance(where, FileLoc) and isinstance(op.location, NameLoc):
        message = f"{message} (node \"{op.location.name}\")"
    return DiagnosticError(Diagnostic(f"'{op.op_name}' op {message}", where))

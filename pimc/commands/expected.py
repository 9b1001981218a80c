"""`--verify-diagnostics`: match reported diagnostics against `expected-error` comments, as MLIR does.

    // expected-error@+1 {{unknown operation 'nn.conv'}}
"""

from __future__ import annotations

import re
import sys

from pimc.diagnostics import Diagnostic
from pimc.ir.location import FileLoc

EXPECTATION = re.compile(r"expected-(error|warning|note|remark)(?:@([+-][0-9]+|above|below))?\s*\{\{(.*?)\}\}")


def expectations(chunk: str, offset: int) -> list[tuple[int, str, str]]:
    """(line, severity, message) for every annotation in the chunk, lines counted in the whole file."""
    found = []
    for index, line in enumerate(chunk.split("\n"), start=offset + 1):
        for match in EXPECTATION.finditer(line):
            severity, where, message = match.groups()
            target = index
            if where in ("above", "below"):
                target = index + (-1 if where == "above" else 1)
            elif where:
                target = index + int(where)
            found.append((target, severity, message))
    return found


def check_expectations(chunk: str, offset: int, name: str, diagnostic: Diagnostic | None) -> bool:
    """Print every mismatch to stderr; return whether the diagnostics were exactly those expected."""
    wanted = expectations(chunk, offset)
    ok = True
    if diagnostic is not None:
        loc = diagnostic.location
        line = loc.line if isinstance(loc, FileLoc) else None
        match = next((w for w in wanted if w[0] == line and w[1] == diagnostic.severity and w[2] in diagnostic.message), None)
        if match is None:
            print(Diagnostic(f"unexpected {diagnostic.severity}: {diagnostic.message}", loc).headline(name), file=sys.stderr)
            ok = False
        else:
            wanted.remove(match)
    for line, severity, message in wanted:
        print(f"{name}:{line}: error: expected {severity} \"{message}\" was not produced", file=sys.stderr)
        ok = False
    return ok

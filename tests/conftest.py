"""Every `// RUN:` line of a `.pimc` file under tests/filecheck becomes a pytest item, as lit would run it.

Substitutions: %s (this file), %S (its folder), %t (a fresh temporary path), and the
commands pimc, python, filecheck and `not` (expects exit status 1 and no traceback;
`not --status=2` for usage errors).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BIN = os.path.dirname(sys.executable)
NOT = r"""
not() {
  local want=1
  case "$1" in --status=*) want="${1#--status=}"; shift;; esac
  local err; err=$(mktemp)
  "$@" 2>"$err"; local status=$?
  cat "$err" >&2
  if grep -q "Traceback (most recent call last)" "$err"; then rm -f "$err"; echo "not: a Python traceback was printed" >&2; return 1; fi
  rm -f "$err"
  [ "$status" -eq "$want" ] || { echo "not: expected exit status $want, got $status" >&2; return 1; }
}
"""
COMMANDS = {
    "pimc": f"{shlex.quote(sys.executable)} -m pimc",
    "python": shlex.quote(sys.executable),
    "filecheck": shlex.quote(os.path.join(BIN, "filecheck")),
    "xdsl-opt": shlex.quote(os.path.join(BIN, "xdsl-opt")),
}
WORD = re.compile(r"(?<![\w./%-])(" + "|".join(map(re.escape, COMMANDS)) + r")(?![\w./-])")


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".pimc" and "filecheck" in file_path.parts:
        return RunFile.from_parent(parent, path=file_path)
    return None


def run_lines(text: str) -> list[tuple[int, str]]:
    """(line number, command) for each RUN line; a trailing backslash continues it."""
    lines, pending, start = [], "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.search(r"//\s*RUN:(.*)$", line)
        if not match:
            continue
        body = match.group(1).strip()
        start = start or number
        if body.endswith("\\"):
            pending += body[:-1] + " "
            continue
        lines.append((start, pending + body))
        pending, start = "", 0
    return lines


class RunFile(pytest.File):
    def collect(self):
        for number, command in run_lines(self.path.read_text(encoding="utf-8", errors="replace")):
            yield RunLine.from_parent(self, name=f"RUN@{number}", command=command)


class RunLine(pytest.Item):
    def __init__(self, *, command: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.command = command

    def runtest(self) -> None:
        with tempfile.TemporaryDirectory(prefix="pimc-test-") as folder:
            self._run(Path(folder))

    def _run(self, tmp: Path) -> None:
        script = self.command.replace("%s", shlex.quote(str(self.path)))
        script = script.replace("%S", shlex.quote(str(self.path.parent))).replace("%t", str(tmp / "t"))
        script = WORD.sub(lambda m: COMMANDS[m.group(1)], script)
        done = subprocess.run(["bash", "-o", "pipefail", "-c", NOT + script], cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            raise RunFailure(script, done)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, RunFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}: RUN: {self.command}"


class RunFailure(Exception):
    def __init__(self, script: str, done: subprocess.CompletedProcess) -> None:
        super().__init__(f"$ {script}\nexit status {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")

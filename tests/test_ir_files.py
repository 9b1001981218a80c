"""Every IR file shipped in samples/ and tests/ round-trips through `pimc opt`, and its generic form is MLIR.

Samples must come back byte-identical; test files (whose comments the printer drops) must
print to a fixed point. Files that are broken on purpose (expected errors) are left out.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
XDSL_OPT = os.path.join(os.path.dirname(sys.executable), "xdsl-opt")


def ir_files() -> list[Path]:
    files = sorted(ROOT.glob("samples/**/*.pimc")) + sorted(ROOT.glob("tests/**/*.pimc"))
    return [f for f in files if _holds_valid_ir(f.read_text(errors="replace"))]


def _holds_valid_ir(text: str) -> bool:
    """A sample, or a test whose RUN lines feed this very file to `pimc opt` and expect success."""
    runs = [line for line in text.splitlines() if "RUN:" in line]
    on_purpose = ("--verify-diagnostics", "not pimc", "--allow-unregistered-dialect")
    reads_itself = any("pimc opt %s" in run for run in runs)
    return not runs or (reads_itself and not any(marker in run for run in runs for marker in on_purpose))


def opt(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "pimc", "opt", *args], input=stdin, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("path", ir_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_round_trip(path: Path):
    split = ["--split-input-file"] if "--split-input-file" in path.read_text() else []
    printed = opt(str(path), "--print-loc", *split)
    if path.is_relative_to(ROOT / "samples"):
        assert printed == path.read_text()
    assert opt("-", "--print-loc", *split, stdin=printed) == printed


@pytest.mark.parametrize("path", ir_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_generic_form_parses_as_mlir(path: Path, tmp_path: Path):
    split = ["--split-input-file"] if "--split-input-file" in path.read_text() else []
    generic = tmp_path / "generic.mlir"
    generic.write_text(opt(str(path), "--print-generic", "--print-loc", *split))
    done = subprocess.run([XDSL_OPT, "--allow-unregistered-dialect", *split, str(generic)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

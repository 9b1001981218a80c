"""Ctrl-C and SIGTERM during a real `pimc compile` subprocess: one line, exit 130 or 143, and nothing left
behind, neither the output directory nor its hidden staging directory."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _staging_appears(folder: Path, process: subprocess.Popen, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if any(folder.rglob(".pimc-*")):
            return True
        time.sleep(0.005)
    return False


def _interrupt(tmp_path: Path, signum: int, delay: float) -> tuple[int, str] | None:
    """Start a compile, send `signum` `delay` s after its staging directory appears; None if it finished first."""
    command = [sys.executable, "-m", "pimc", "compile", str(ROOT / "samples" / "digits_cnn.onnx"), "--target", "isaac",
               "--calib", str(ROOT / "samples" / "digits_test.npz"), "-o", str(tmp_path / "out" / "cnn")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _staging_appears(tmp_path, process), "the compile never started writing"
    time.sleep(delay)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    if process.returncode == 0:  # it finished before the signal landed: a busy machine's scheduling
        shutil.rmtree(tmp_path / "out")
        return None
    return process.returncode, err


@pytest.mark.parametrize("signum, status, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
@pytest.mark.parametrize("delay", [0.0, 0.15])  # the compile writes for about 0.6 s after staging starts
def test_signal_during_compile_leaves_nothing(signum, status, word, delay, tmp_path: Path):
    for attempt in range(4):
        outcome = _interrupt(tmp_path, signum, delay / 2**attempt)
        if outcome is not None:
            break
    assert outcome is not None, "every compile finished before the signal"
    returncode, err = outcome
    assert returncode == status, err
    assert err.strip().splitlines() == [f"pimc compile: {word}"], err
    assert list(tmp_path.iterdir()) == [], f"left behind: {sorted(p.name for p in tmp_path.rglob('*'))}"

"""Ctrl-C and SIGTERM during a real `pimc compile` subprocess: one line, exit 130 or 143, and nothing left
behind, neither the output directory nor its hidden staging directory; or, once the output is in place,
a whole output and exit 0. Never a traceback, and never death by the signal itself."""

from __future__ import annotations

import os
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


def _signalled(tmp_path: Path, signum: int, delay: float) -> tuple[int, str]:
    """Start a compile and send `signum` `delay` s after its staging directory appears: (exit status, stderr)."""
    command = [sys.executable, "-m", "pimc", "compile", str(ROOT / "samples" / "digits_cnn.onnx"), "--target", "isaac",
               "--calib", str(ROOT / "samples" / "digits_test.npz"), "-o", str(tmp_path / "out" / "cnn")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _staging_appears(tmp_path, process), "the compile never started writing"
    time.sleep(delay)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


def _stopped(process: subprocess.Popen) -> bool:
    """SIGSTOP the compile and wait until it has stopped: True; False if it exited first (its status kept)."""
    process.send_signal(signal.SIGSTOP)  # not sent if the compile has already been reaped
    if process.returncode is not None:
        return False
    _, status = os.waitpid(process.pid, os.WUNTRACED)
    if os.WIFSTOPPED(status):
        return True
    process.returncode = os.waitstatus_to_exitcode(status)
    return False


def _signalled_while_staging(tmp_path: Path, signum: int, delay: float) -> tuple[int, str] | None:
    """The outcome of a compile that gets `signum` while it is stopped with its staging directory in place, at least
    `delay` s after that appeared (the signal lands where it stopped, however slowly this machine schedules the
    test); None if it finished first."""
    command = [sys.executable, "-m", "pimc", "compile", str(ROOT / "samples" / "digits_cnn.onnx"), "--target", "isaac",
               "--calib", str(ROOT / "samples" / "digits_test.npz"), "-o", str(tmp_path / "out" / "cnn")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    appeared = None
    while _stopped(process):
        if any(tmp_path.rglob(".pimc-*")):
            appeared = appeared or time.monotonic()
            if time.monotonic() - appeared >= delay:
                process.send_signal(signum)
                process.send_signal(signal.SIGCONT)
                break
        process.send_signal(signal.SIGCONT)
        time.sleep(0.002)
    _, err = process.communicate(timeout=60)
    if process.returncode == 0:  # it finished writing before `delay` was up
        shutil.rmtree(tmp_path / "out")
        return None
    return process.returncode, err


@pytest.mark.parametrize("signum, status, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
@pytest.mark.parametrize("delay", [0.0, 0.05])  # the compile writes for about 0.1 s after staging starts
def test_signal_during_compile_leaves_nothing(signum, status, word, delay, tmp_path: Path):
    for attempt_delay in (delay, 0.0, 0.0):  # 0.0: the first stop that finds staging, unless the test slept through it
        outcome = _signalled_while_staging(tmp_path, signum, attempt_delay)
        if outcome is not None:
            break
    assert outcome is not None, "every compile finished staging between two stops"
    returncode, err = outcome
    assert returncode == status, err
    assert err.strip().splitlines() == [f"pimc compile: {word}"], err
    assert list(tmp_path.iterdir()) == [], f"left behind: {sorted(p.name for p in tmp_path.rglob('*'))}"


@pytest.mark.parametrize("signum, status, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_at_any_moment_leaves_a_whole_output_or_none(signum, status, word, tmp_path: Path):
    """Signals from the first write to past the end: each compile is interrupted cleanly or finishes whole.
    Ctrl-C inside onnxruntime's import once became a fallback and then a traceback, and inside an `exec`
    (a dataclass being built) death by SIGINT after pimc had handled it."""
    whole = None
    for delay in (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.3):
        returncode, err = _signalled(tmp_path, signum, delay)
        if returncode == 0:
            files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
            assert whole in (None, files), f"a different output after a late signal: {files}"
            assert not any(p.name.startswith(".") for p in files), files
            whole = files
            shutil.rmtree(tmp_path / "out")
            continue
        assert (returncode, err.strip().splitlines()[-1:]) == (status, [f"pimc compile: {word}"]), err
        assert list(tmp_path.iterdir()) == [], f"left behind: {sorted(p.name for p in tmp_path.rglob('*'))}"


def test_a_signal_inside_a_class_body_still_reads_as_the_signal():
    """Python 3.11 re-raises what a descriptor's `__set_name__` raises as a RuntimeError, so a Ctrl-C that lands
    while a dataclass is built (a module being imported) came out as an internal error with a traceback."""
    from pimc.cli import Terminated, _signal_behind

    for stop in (KeyboardInterrupt(), Terminated()):
        class Landing:
            def __set_name__(self, owner, name, stop=stop):
                raise stop

        try:
            type("Built", (), {"field": Landing()})
        except BaseException as error:  # a RuntimeError on 3.11, the signal's own exception from 3.12 on
            caught = error
        assert (caught if caught is stop else _signal_behind(caught)) is stop
    assert _signal_behind(RuntimeError("not a signal")) is None

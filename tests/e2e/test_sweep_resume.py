"""An interrupted `pimc sweep` keeps the points it finished, and its rerun computes only the others."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_interrupted_sweep_resumes(tmp_path: Path):
    command = [sys.executable, "-m", "pimc", "sweep", str(SAMPLES / "digits_cnn.onnx"), "--target", "isaac{adc-bits=4..10}",
               "--calib", str(SAMPLES / "digits_calib.npz"), "--input-shape", "x=1,1,8,8", "-o", str(tmp_path / "sw")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline and not list(tmp_path.glob("sw/points/*/result.json")):
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    kept = len(list(tmp_path.glob("sw/points/*/result.json")))
    assert kept >= 1
    if process.returncode == 0:  # the machine ran every point before the signal landed
        assert kept == 7
        return
    assert (process.returncode, err.strip().splitlines()[-1]) == (130, "pimc sweep: interrupted"), err
    assert not (tmp_path / "sw" / "sweep.csv").exists()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"pimc sweep: 7 points ({7 - kept} computed, {kept} reused, 0 failed)" in again.stdout

"""The backend conformance run as a test: no applicable case fails (see run.py; ~20 s)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from run import conformance  # noqa: E402


def test_backend_conformance():
    summary = conformance()
    assert summary["failed"] == 0, summary["failures"]
    assert summary["pass_rate"] >= 0.95 and summary["applicable"] > 400, summary

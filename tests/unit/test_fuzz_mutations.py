"""Fuzzing (b): valid ONNX files and IR texts mutated byte by byte (overwritten, inserted, deleted, truncated).
Every outcome is a success or a clean error: exit status 0, 1 or 2, an error that is one headline line, never
a traceback (an exception escaping `pimc.cli.main`) and never a hang (each run has 60 s).

    python tests/unit/test_fuzz_mutations.py 500      # a longer run than CI's few examples
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
ONNX_SEED = (ROOT / "samples" / "digits_mlp.onnx").read_bytes()
IR_SEED = (ROOT / "samples" / "digits_mlp.pimc").read_bytes()


@st.composite
def mutations(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def run_clean(argv: list[str]) -> None:
    from pimc.cli import main

    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    lines = err.getvalue().rstrip("\n").split("\n") if err.getvalue() else []
    assert status in (0, 1, 2), (status, lines[:5])
    errors = [line for line in lines if re.search(r"\berror: ", line)]
    if status:
        assert len(errors) == 1 and errors[0] == lines[0], lines[:5]
    assert all(len(line) < 1000 for line in lines)


def check_onnx(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.onnx")
        Path(path).write_bytes(data)
        run_clean(["import", path])


def check_ir(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "digits_mlp.pimc")
        Path(path).write_bytes(data)
        (Path(folder) / "digits_mlp.npz").write_bytes((ROOT / "samples" / "digits_mlp.npz").read_bytes())
        run_clean(["opt", path, "-p", "canonicalize"])


FEW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
test_mutated_onnx = FEW(given(mutations(ONNX_SEED))(check_onnx))
test_mutated_ir = FEW(given(mutations(IR_SEED))(check_ir))


if __name__ == "__main__":
    many = settings(max_examples=int(sys.argv[1]), deadline=None, suppress_health_check=list(HealthCheck))
    many(given(mutations(ONNX_SEED))(check_onnx))()
    many(given(mutations(IR_SEED))(check_ir))()
    print(f"{sys.argv[1]} mutated ONNX files and {sys.argv[1]} mutated IR texts: every outcome clean")

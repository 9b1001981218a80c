"""Run the error corpus (`error_cases.py`): each bad input gives its exit status, one error line matching its
message (an IR diagnostic adds the source excerpt and a caret), no traceback, and no file left behind,
neither where the command ran nor among the inputs."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re

import pytest

from pimc.cli import main


def _module(name: str):
    """A sibling module by path, so that its name cannot clash with other test folders' modules."""
    path = os.path.join(os.path.dirname(__file__), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"pimc_errors_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = _module("error_cases").CASES
_inputs = _module("make_inputs")
SAMPLES, write_all = _inputs.SAMPLES, _inputs.write_all


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp("corpus"))
    with contextlib.redirect_stdout(io.StringIO()):
        write_all(folder)
    return folder


def listing(*folders: str) -> set[str]:
    return {os.path.join(root, name) for folder in folders for root, dirs, files in os.walk(folder)
            for name in dirs + files}


def test_corpus_is_large_and_distinct():
    assert len(CASES) >= 60
    assert len({name for name, *_ in CASES}) == len(CASES)
    assert len({message for *_, message in CASES}) == len(CASES)


@pytest.mark.parametrize("name, arguments, status, message", CASES, ids=[c[0] for c in CASES])
def test_error(name, arguments, status, message, inputs, tmp_path, monkeypatch):
    argv = [a.replace("{in}", inputs).replace("{samples}", SAMPLES) for a in arguments]
    monkeypatch.chdir(tmp_path)
    before = listing(inputs)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            got = main(argv)
        except SystemExit as exit:  # argparse
            got = exit.code
    lines = err.getvalue().rstrip("\n").split("\n") if err.getvalue() else []
    assert got == status, f"exit status {got}, stderr:\n{err.getvalue()[:2000]}"
    assert lines, "nothing on stderr"
    assert re.search(message, lines[0]), f"{lines[0][:300]!r} does not match {message!r}"
    located = re.match(r"\S+:\d+:\d+: error: ", lines[0])
    assert len(lines) == (3 if located and len(lines) == 3 else 1), "more than one line:\n" + "\n".join(lines[:10])
    assert all(len(line) < 400 for line in lines)
    assert listing(str(tmp_path)) == set(), "files left behind where the command ran"
    assert listing(inputs) == before, "files left behind among the inputs"

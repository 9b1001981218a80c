"""Where commands write: every output path is checked before any work, and appears only whole.

    with output_directory("out/cnn") as staging: ...             # out/cnn appears only if the block succeeds
    with output_files("m.pimc", "m.npz") as (ir, weights): ...     # both appear, or neither

Outputs are staged beside their final place (a hidden `.pimc-*` directory or `.NAME.*.tmp` file) and
moved there at the end. On any failure, Ctrl-C and SIGTERM included (the command line turns SIGTERM
into an exception), the staging and every parent directory created for it are removed. Moving the
output into place is the point of no return: from then on the command ignores both signals (`pimc.cli`
restores their handlers when the command returns), so a command that exits 130 or 143 left nothing.
A command writes its output as its last act.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

from pimc.diagnostics import UserError
from pimc.signals import held_signals, ignore_signals


def check_output(path: str, flag: str = "-o", directory: bool = False) -> None:
    """A UserError unless `path` can become a file (or, with `directory`, a directory): not empty, not
    an existing directory where a file is meant, and no regular file where a parent directory must be."""
    if not path:
        raise UserError(f"{flag}: the path is empty; name a {'directory' if directory else 'file'}")
    if not directory and (os.path.isdir(path) or path.endswith(os.sep)):
        raise UserError(f"{flag} {path}: is a directory; name a file")
    if directory and os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{flag} {path}: exists and is a file, not a directory; choose another {flag}")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError(f"{flag} {path}: '{parent}' is a file, so nothing can be created under it")


@contextmanager
def output_directory(path: str, flag: str = "-o"):
    """A fresh directory that appears at `path` only if the block succeeds: no partial output. An existing
    `path` is replaced only if it is empty or a previous pimc output (it has a report.json)."""
    check_output(path, flag, directory=True)
    if os.path.exists(path) and not _replaceable(path):
        raise UserError(f"{path}: exists and is not a pimc output directory (no report.json); choose another {flag}")
    created, staging = [], None
    try:  # a signal held while the staging is made is raised as the `with` ends: inside, so it is removed
        with held_signals():
            created = _make_parents(path, flag)
            staging = _create(lambda parent: tempfile.mkdtemp(prefix=".pimc-", dir=parent), path, flag, created)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        yield staging
    except BaseException:
        with held_signals():
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            _remove(created)
        raise
    ignore_signals()  # the point of no return: the output is whole, so a signal from here on changes nothing
    if os.path.exists(path):
        shutil.rmtree(path)
    os.replace(staging, path)


@contextmanager
def output_files(*paths: str, flag: str = "-o"):
    """Temporary files, one per path, that replace `paths` together only if the block succeeds."""
    for path in paths:
        check_output(path, flag)
    created, temporaries = [], []
    try:  # as for a directory: a signal held while the files are made is raised inside
        with held_signals():
            for path in paths:
                created += _make_parents(path, flag)
                temporaries.append(_create(_temporary_file(path), path, flag, []))
        yield temporaries
    except BaseException:
        with held_signals():
            for temporary in temporaries:
                if os.path.exists(temporary):
                    os.remove(temporary)
            _remove(created)
        raise
    ignore_signals()  # the point of no return, as for a directory
    for temporary, path in zip(temporaries, paths):
        os.replace(temporary, path)


def _temporary_file(path: str):
    def create(parent: str) -> str:
        handle, name = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
        os.close(handle)
        return name

    return create


def _create(make, path: str, flag: str, created: list[str]) -> str:
    try:
        return make(os.path.dirname(os.path.abspath(path)))
    except OSError as failure:
        _remove(created)
        raise UserError(f"{flag} {path}: cannot write there: {failure.strerror or failure}") from None


def _make_parents(path: str, flag: str) -> list[str]:
    """Create the missing parent directories of `path`; return them, deepest first, for removal on failure."""
    missing, parent = [], os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    created = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except OSError as failure:
            _remove(created)
            raise UserError(f"{flag} {path}: cannot create '{directory}': {failure.strerror or failure}") from None
        created.insert(0, directory)
    return created


def _remove(directories: list[str]) -> None:
    for directory in directories:
        try:
            os.rmdir(directory)
        except OSError:
            return


def _replaceable(path: str) -> bool:
    return os.path.isdir(path) and (not os.listdir(path) or os.path.exists(os.path.join(path, "report.json")))


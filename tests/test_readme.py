"""The README is true: its two quick-start commands are exactly what CI runs, its tour runs as written, and
the figures it quotes are what the commands print."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_commands():
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    commands = quick_start_commands()
    assert len(commands) == 2
    for command in commands:
        assert command in ci, f"README command not in .ci/run: {command}"


def tour_commands() -> list[str]:
    """The tour's commands, without their trailing comments."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A tour", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```sh\n(.*?)```", section, re.S)[0]
    return [re.sub(r"\s+#\s.*$", "", line) for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_tour_runs_as_written(tmp_path):
    """Every tour command succeeds from a folder that holds what a fresh clone holds (samples/), in order."""
    import os
    import subprocess
    import sys

    (tmp_path / "samples").symlink_to(ROOT / "samples")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    commands = tour_commands()
    assert len(commands) >= 12
    for command in commands:
        command = re.sub(r"^python ", f"{sys.executable} ", command)
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"$ {command}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr
        if "--print-loc" in command:
            assert 'loc("/fc/Gemm")' in done.stdout, "the imported IR lost its locations"
    assert (tmp_path / "out" / "cnn" / "report.json").is_file() and (tmp_path / "out" / "y.npy").is_file()


def test_the_figures_it_quotes():
    """Numbers the README quotes that a command prints: the isaac option count, the adc-bits=6 saturations."""
    import contextlib
    import io

    from pimc.cli import main

    readme = (ROOT / "README.md").read_text()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["targets", "isaac"]) == 0
    rows = out.getvalue().splitlines()[2:]
    derived = [row for row in rows if "derived" in row]
    assert f"`pimc targets isaac` lists {len(rows) - len(derived)}, each" in readme
    assert len(derived) == 2 and "and two\nderived values" in readme
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["verify", str(ROOT / "samples" / "digits_cnn.onnx"), "--target", "isaac{adc-bits=6}",
              "--inputs", str(ROOT / "samples" / "digits_test.npz"), "--json"])
    import json

    saturated = json.loads(out.getvalue())["integer_reference"]["saturated_converts"]
    assert f"saturates {saturated:,} of its ADC conversions" in readme


def test_the_layout_names_every_folder_and_module():
    """Every top-level folder in git, pimc/ subpackage and module, target folder and shared targets/ module is in
    the README's layout."""
    import subprocess

    readme = (ROOT / "README.md").read_text()
    layout = re.findall(r"```\n(.*?)```", readme.split("## Layout", 1)[1].split("\n## ", 1)[0], re.S)[0]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    names = sorted({f"{path.split('/')[0]}/" for path in tracked if "/" in path and not path.startswith(".")})
    names += [f"{p.name}/" for folder in ("pimc", "targets") for p in (ROOT / folder).iterdir() if (p / "__init__.py").exists()]
    names += [p.name for folder in ("pimc", "targets") for p in (ROOT / folder).glob("*.py") if p.name != "__init__.py"]
    assert [name for name in names if name not in layout] == []

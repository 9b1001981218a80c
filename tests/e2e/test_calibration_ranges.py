"""`pimc compile` writes calibration.json; `--calib-ranges` reuses it and gives the program a fresh calibration gives."""

from __future__ import annotations

import json
import os

import pytest

from pimc.cli import main

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "samples")
CNN, CALIB = os.path.join(SAMPLES, "digits_cnn.onnx"), os.path.join(SAMPLES, "digits_calib.npz")


def compile_to(out: str, target: str, *extra: str) -> None:
    assert main(["compile", CNN, "--target", target, "--calib", CALIB, "--estimate-only", "-o", out, *extra]) == 0


@pytest.mark.parametrize("target", ["isaac{adc-bits=6}", "raella"])
def test_reused_ranges_give_the_same_program(tmp_path, target):
    compile_to(str(tmp_path / "first"), "isaac")  # the ranges come from another target with the same quantize stage
    with open(tmp_path / "first" / "calibration.json") as file:
        saved = json.load(file)
    assert saved["key"]["samples"] == 16 and saved["key"]["calibration"].startswith("sha256:")
    assert saved["ranges"]["x"] == [0.0, 1.0] and len(saved["ranges"]) >= 4
    compile_to(str(tmp_path / "fresh"), target)
    compile_to(str(tmp_path / "reused"), target, "--calib-ranges", str(tmp_path / "first" / "calibration.json"))
    for name in ("program.json", "cells.npz", "constants.npz", "report.json", "calibration.json"):
        assert (tmp_path / "fresh" / name).read_bytes() == (tmp_path / "reused" / name).read_bytes(), name


def test_ranges_for_other_samples_are_refused(tmp_path, capsys):
    compile_to(str(tmp_path / "first"), "isaac")
    status = main(["compile", CNN, "--target", "isaac", "--calib", CALIB, "--calib-samples", "8", "--estimate-only",
                   "--calib-ranges", str(tmp_path / "first" / "calibration.json"), "-o", str(tmp_path / "other")])
    assert status == 1 and not (tmp_path / "other").exists()
    assert "were made for another number of samples: its samples is '16', this compile's is '8'" in capsys.readouterr().err

"""A target added by writing only its folder and one registration: tests/fixtures/toy_target, ISAAC with an ADC
that saturates at a quarter of its range, compiles and simulates the digits CNN, and differs from ISAAC exactly where
a column sum passes that ADC's top code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimc.compiler import compile_model
from pimc.diagnostics import UserError
from pimc.targets import TARGETS, load_config
from pimc.targets.datapath import shifts
from pimc.targets.simulator import Simulator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def toy(monkeypatch):
    """The one registration a new target needs."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setitem(TARGETS, "toy", "toy_target")


def clipping_rows(x: np.ndarray, levels: np.ndarray, widths: tuple[int, ...], top_code: int) -> np.ndarray:
    """Per input vector: does some input slice drive a cell column's analog sum past `top_code`?"""
    sums = [((x >> shift) & ((1 << width) - 1)) @ levels for width, shift in zip(widths, shifts(widths))]
    return np.any([s > top_code for s in sums], axis=(0, 2))


def test_toy_target_differs_from_isaac_exactly_where_its_adc_clips(toy):
    with np.load(SAMPLES / "digits_test.npz") as data:
        x = data["x"][:32]
    model, calib = str(SAMPLES / "digits_cnn.onnx"), str(SAMPLES / "digits_calib.npz")
    compiled = {name: compile_model(model, load_config(name), {"x": x.shape}, calib) for name in ("isaac", "toy")}
    isaac, toy_program = compiled["isaac"].program, compiled["toy"].program
    assert toy_program.target == "toy" and toy_program.instructions == isaac.instructions
    np.testing.assert_array_equal(toy_program.cells["levels"], isaac.cells["levels"])
    sims = {name: Simulator(c.program) for name, c in compiled.items()}
    outputs = {name: sim.run({"x": x})[0] for name, sim in sims.items()}

    top_code = (1 << (isaac.config["adc_bits"] - 2)) - 1
    crossbars = {c.id: c for c in isaac.crossbars}
    compared = {True: 0, False: 0}  # rows compared, by whether the toy's ADC clips on them
    for i in isaac.instructions:
        if i.op != "mvm":
            continue
        (v0, v1), (c0, c1) = i.args["vectors"], i.args["src_cols"]
        inputs = [sims[name].buffers[i.args["src"]][v0:v1, c0:c1].astype(np.int64) for name in ("isaac", "toy")]
        if not np.array_equal(*inputs):
            continue  # an earlier clip changed this MVM's inputs
        clips = clipping_rows(inputs[0], isaac.levels(crossbars[i.args["xbar"]]).astype(np.int64),
                              tuple(i.args["input_slices"]), top_code)
        results = [sims[name].buffers[i.args["dst"]][v0:v1] for name in ("isaac", "toy")]
        np.testing.assert_array_equal(np.any(results[0] != results[1], axis=1), clips, err_msg=f"mvm {i.seq}")
        compared[True] += int(clips.sum())
        compared[False] += int((~clips).sum())
    assert compared[True] > 0 and compared[False] > 0, compared
    assert sum(s.saturated for s in sims["isaac"].stats.values()) == 0
    assert sum(s.saturated for s in sims["toy"].stats.values()) > 0
    assert not np.array_equal(outputs["isaac"], outputs["toy"])


def test_an_encoding_the_target_does_not_model_is_a_clear_error():
    program = compile_model(str(SAMPLES / "digits_mlp.onnx"), load_config("isaac{signed-encoding=differential}"),
                            {"x": (1, 1, 8, 8)}, str(SAMPLES / "digits_calib.npz")).program
    program.target = "raella"  # a program whose crossbars its target's datapaths do not model
    with pytest.raises(UserError, match="target 'raella' has no datapath model for differential encoding "
                                        r"\(it models: center-offset\)"):
        Simulator(program)

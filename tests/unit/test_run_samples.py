"""Samples run side by side on forks of one simulator give what one simulator gives running them in turn: the same
outputs, bit for bit and type for type, and the same counts per crossbar, whatever the number of threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["isaac", "raella", "epim"])
def program(request):
    from pimc.compiler import compile_model
    from pimc.targets import load_config

    return compile_model(str(ROOT / "samples" / "digits_cnn.onnx"), load_config(request.param), {},
                         str(ROOT / "samples" / "digits_calib.npz"), samples=4).program


def samples(program, count: int) -> list[dict[str, np.ndarray]]:
    x = np.load(ROOT / "samples" / "digits_test.npz")["x"]
    return [{program.inputs[0][0]: x[i : i + 1]} for i in range(count)]


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_threads_change_neither_outputs_nor_counts(program, threads):
    from pimc.targets.simulator import Simulator, run_samples

    inputs = samples(program, 7)
    alone = Simulator(program, outputs_only=True)
    expected = [[a.copy() for a in alone.run(sample, index)] for index, sample in enumerate(inputs)]
    sim = Simulator(program, outputs_only=True)
    finished = []
    got = run_samples(sim, inputs, threads, lambda done, total: finished.append((done, total)))
    for want, have in zip(expected, got, strict=True):
        for a, b in zip(want, have, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    assert {k: vars(v) for k, v in sim.stats.items()} == {k: vars(v) for k, v in alone.stats.items()}
    assert finished == [(k, 7) for k in range(1, 8)]


def test_a_fork_shares_the_crossbars_and_plan_but_not_the_run(program):
    from pimc.targets.simulator import Simulator

    sim = Simulator(program, outputs_only=True)
    sim.run(samples(program, 1)[0])
    twin = sim.fork()
    assert twin.crossbars is sim.crossbars and twin.groups is sim.groups
    assert twin.buffers == {} and twin.stats is not sim.stats and twin.cache is not sim.cache
    assert all(vars(s) == vars(type(s)()) for s in twin.stats.values())


def test_a_noisy_simulator_does_not_fork(program):
    from pimc.targets.noise import parse_noise
    from pimc.targets.simulator import Simulator

    with pytest.raises(ValueError, match="cannot fork"):
        Simulator(program, noise=parse_noise("read=0.05")).fork()


def test_counts_add_up_over_runs_however_often_they_are_read(program):
    """A fast group's counts are added when `stats` is read: three runs count three times one run's, read in
    between or not."""
    from pimc.targets.simulator import Simulator

    sample = samples(program, 1)[0]
    once = Simulator(program, outputs_only=True)
    once.run(sample)
    read, unread = Simulator(program, outputs_only=True), Simulator(program, outputs_only=True)
    for _ in range(3):
        read.run(sample)
        assert read.stats.keys() == once.stats.keys()  # read between runs
        unread.run(sample)
    for counts in (read.stats, unread.stats):
        for xbar, one in once.stats.items():
            tripled = {k: v * 3 if k != "fast" else v for k, v in vars(one).items()}
            assert vars(counts[xbar]) == tripled, xbar

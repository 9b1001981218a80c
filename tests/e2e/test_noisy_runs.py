"""Noisy runs of compiled programs (docs/noise.md) on every analog target: all-zero noise is the exact simulator,
byte for byte; vanishing noise through the noisy path is the exact datapath; the same seed gives the same
result whatever the number of Dask workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pimc.compiler import compile_model
from pimc.targets import load_config
from pimc.targets.noise import parse_noise
from pimc.targets.simulator import Simulator

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CALIB = str(SAMPLES / "digits_calib.npz")
PROGRAMS = {  # target spec -> model: ISAAC provably exact (fast path) and clipping (sliced), RAELLA, EPIM, MLG
    "isaac": "digits_cnn", "isaac{adc-bits=6}": "digits_cnn", "isaac{signed-encoding=differential}": "digits_cnn",
    "raella": "digits_cnn", "epim": "digits_epitome", "mlg": "digits_mlg",
}
SAMPLE_COUNT = 12


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    with np.load(SAMPLES / "digits_test.npz") as data:
        return data["x"][:SAMPLE_COUNT]


@pytest.fixture(scope="module", params=list(PROGRAMS))
def program(request):
    return compile_model(str(SAMPLES / f"{PROGRAMS[request.param]}.onnx"), load_config(request.param),
                         {"x": (1, 1, 8, 8)}, CALIB).program


def outputs(sim: Simulator, x: np.ndarray) -> tuple[bytes, list]:
    results = b"".join(sim.run({"x": x[i : i + 1]}, i)[0].tobytes() for i in range(len(x)))
    return results, [vars(s) for s in sim.stats.values()]


def test_all_zero_noise_is_the_exact_simulator(program, digits):
    """Rates at zero, shape parameters not: the exact datapaths, byte-identical outputs and identical counts."""
    spec = parse_noise("drift-nu=0.2 drift-nu-std=0.05 drift-comp prog-dist=lognormal")
    assert outputs(Simulator(program, noise=spec, seed=9), digits) == outputs(Simulator(program), digits)


@pytest.mark.parametrize("spec", ["adc-gain=1e-12", "prog=1e-9 read=1e-9", "read-abs=1e-6 saf-low=1e-12"])
def test_vanishing_noise_through_the_noisy_path_is_the_exact_datapath(program, digits, spec):
    """Noise far below a level unit takes every MVM through the noisy models (with device levels as drawn, read
    noise drawn, N+ + N- computed), which then give the exact integers and saturations (the fast path's programs
    included: their sliced datapath never clips). A relative variation of 1e-9 rounds to the level in float32."""
    noisy = Simulator(program, noise=parse_noise(spec), seed=1)
    got, stats = outputs(noisy, digits)
    want, exact_stats = outputs(Simulator(program), digits)
    assert got == want
    assert [s["saturated"] for s in stats] == [s["saturated"] for s in exact_stats]
    assert not any(s["fast"] for s in stats)


def test_noise_is_seeded_by_seed_and_sample(program, digits):
    spec = parse_noise("read=0.08 prog=0.05 saf-low=0.01")
    first = outputs(Simulator(program, noise=spec, seed=3), digits)[0]
    assert first == outputs(Simulator(program, noise=spec, seed=3), digits)[0]
    assert first != outputs(Simulator(program, noise=spec, seed=4), digits)[0]
    one = Simulator(program, noise=spec, seed=3)
    assert not np.array_equal(one.run({"x": digits[:1]}, 0)[0], one.run({"x": digits[:1]}, 1)[0])


def pimc(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "pimc", *args], capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    return done


def test_run_with_zero_noise_writes_the_same_bytes(tmp_path, digits):
    program = compile_model(str(SAMPLES / "digits_cnn.onnx"), load_config("raella"), {"x": (1, 1, 8, 8)}, CALIB).program
    program.write(str(tmp_path / "program"))
    np.save(tmp_path / "x.npy", digits)
    pimc("run", str(tmp_path / "program"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "exact.npy"))
    pimc("run", str(tmp_path / "program"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "zero.npy"),
         "--noise", "prog=0 read=0 saf-low=0", "--noise-seed", "5")
    noisy = pimc("run", str(tmp_path / "program"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "noisy.npy"),
                 "--noise", "read=0.1", "--noise-seed", "5")
    assert (tmp_path / "zero.npy").read_bytes() == (tmp_path / "exact.npy").read_bytes()
    assert (tmp_path / "noisy.npy").read_bytes() != (tmp_path / "exact.npy").read_bytes()
    table = noisy.stderr.decode()
    assert "noise rel. L2" in table and "/fc/Gemm" in table


def eval_json(*extra: str, target: str = "raella") -> dict:
    done = pimc("eval", str(SAMPLES / "digits_cnn.onnx"), "--target", target, "--data", str(SAMPLES / "digits_test.npz"),
                "--calib", CALIB, "--limit", "96", "--json", "--noise", "read=0.1 prog=0.03 saf-high=0.002",
                "--noise-seed", "11", "--noise-trials", "2", *extra)
    result = json.loads(done.stdout)
    assert result.pop("throughput_samples_per_s") > 0
    return result


def test_the_same_seed_gives_the_same_result_on_one_and_two_workers():
    serial = eval_json("--shard-size", "7")
    assert eval_json("--workers", "2", "--shard-size", "16") == serial
    noise = serial["noise"]
    assert noise["trials"] == 2 and len(noise["top1"]) == 2
    assert [row["layer"] for row in noise["layers"]] == ["/features/features.0/Conv", "/features/features.4/Conv",
                                                          "/fc/Gemm"]
    assert all(row["relative_l2"] > 0 for row in noise["layers"])

"""`pimc eval` on real Dask clusters: a LocalCluster of two worker processes, and a scheduler and workers
started as separate processes on the loopback address, one of which is killed mid-run."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
DASK = [sys.executable, "-m", "dask"]  # the `dask` command of this environment


def eval_json(*extra: str, model: str = "digits_cnn", target: str = "isaac") -> dict:
    command = [sys.executable, "-m", "pimc", "eval", str(SAMPLES / f"{model}.onnx"), "--target", target,
               "--data", str(SAMPLES / "digits_test.npz"), "--calib", str(SAMPLES / "digits_calib.npz"), "--json", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return without_throughput(json.loads(done.stdout))


def without_throughput(result: dict) -> dict:
    assert result.pop("throughput_samples_per_s") > 0
    return result


@pytest.fixture(scope="module")
def serial() -> dict:
    return eval_json("--shard-size", "7")


def test_local_cluster_gives_the_serial_result(serial):
    assert serial["samples"] == 360 and sum(c["samples"] for c in serial["per_class"]) == 360
    assert eval_json("--workers", "2", "--shard-size", "16") == serial


def test_calibration_samples_are_not_scored():
    command = [sys.executable, "-m", "pimc", "eval", str(SAMPLES / "digits_cnn.onnx"), "--target", "isaac",
               "--data", str(SAMPLES / "digits_test.npz"), "--calib-samples", "20", "--json"]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, timeout=600, check=True).stdout)
    assert result["samples"] == 340
    assert result["calibration"] == f"the first 20 samples of {SAMPLES / 'digits_test.npz'} (not scored)"


def test_workers_read_their_samples_from_the_file_or_receive_them(tmp_path):
    """LocalCluster workers read the scored rows (after calibration's) from an uncompressed file in place, and
    receive them from a compressed one: the same result as in process, either way."""
    data = dict(np.load(SAMPLES / "digits_test.npz"))
    np.savez_compressed(tmp_path / "compressed.npz", **data)

    def scored(path, *extra: str) -> dict:
        command = [sys.executable, "-m", "pimc", "eval", str(SAMPLES / "digits_cnn.onnx"), "--target", "isaac",
                   "--data", str(path), "--calib-samples", "30", "--limit", "100", "--json", *extra]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return {k: v for k, v in without_throughput(json.loads(done.stdout)).items() if k not in ("data", "calibration")}

    in_process = scored(SAMPLES / "digits_test.npz")
    assert in_process["samples"] == 100
    assert scored(SAMPLES / "digits_test.npz", "--workers", "2", "--shard-size", "9") == in_process
    assert scored(tmp_path / "compressed.npz", "--workers", "2", "--shard-size", "9") == in_process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture
def scheduler_and_workers():
    """`dask scheduler` and two `dask worker` processes (no nanny: a killed worker stays dead) on 127.0.0.1."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    started = [subprocess.Popen([*DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                 address.rsplit(":", 1)[1], "--no-dashboard"], stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            started.append(subprocess.Popen([*DASK, "worker", address, "--nthreads", "1",
                                             "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                                            stderr=subprocess.DEVNULL))
        client = wait_for(lambda: _connected(Client, address), 60, "the scheduler")
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 2, 60, "two workers")
        yield address, client, started[1:]
        client.close()
    finally:
        for process in started:
            process.kill()
            process.wait(timeout=30)


def _connected(client_class, address: str):
    try:
        return client_class(address, timeout="1s")
    except (OSError, TimeoutError):
        return None


def test_scheduler_workers_and_a_worker_killed_mid_run(serial, scheduler_and_workers):
    address, client, workers = scheduler_and_workers
    command = [sys.executable, "-m", "pimc", "eval", str(SAMPLES / "digits_cnn.onnx"), "--target", "raella",
               "--data", str(SAMPLES / "digits_test.npz"), "--calib", str(SAMPLES / "digits_calib.npz"), "--json",
               "--scheduler", address, "--shard-size", "30"]
    reference = eval_json("--shard-size", "30", target="raella")
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    by_address = client.run(os.getpid)  # worker address -> its process id

    def busy_worker():
        busy = [w for w, tasks in client.processing().items() if any(str(t).startswith("pimc-") for t in tasks)]
        return busy[0] if busy else None

    victim = wait_for(busy_worker, 120, "a worker running an eval shard")
    assert running.poll() is None, "the eval finished before a worker could be killed"
    os.kill(by_address[victim], signal.SIGKILL)
    out, err = running.communicate(timeout=600)
    assert running.returncode == 0, err
    assert without_throughput(json.loads(out)) == reference
    assert len(client.scheduler_info()["workers"]) == 1


def test_unreachable_scheduler_is_one_line():
    port = free_port()
    command = [sys.executable, "-m", "pimc", "eval", str(SAMPLES / "digits_cnn.onnx"), "--target", "isaac",
               "--data", str(SAMPLES / "digits_test.npz"), "--limit", "2", "--scheduler", f"tcp://127.0.0.1:{port}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith(f"pimc eval: error: --scheduler tcp://127.0.0.1:{port}: cannot reach a Dask scheduler")
    assert len(done.stderr.strip().splitlines()) == 1

"""Work spread over Dask: in process for one worker, else a LocalCluster or a scheduler's workers.

    with Cluster(workers=2).runner() as runner:
        shared = runner.share(program, prepare=build_simulator)    # sent to each worker once, prepared there
        results = runner.map(run_shard, shared, shards, sizes, progress)

What every task needs (a compiled program) reaches each worker once and stays there, not once per
task, and is prepared on each worker (its simulator built) before tasks start.
Results come back in task order, whatever order the workers finish in, so a run's output does not
depend on the number of workers. A few tasks per worker are submitted at a time, the next as one
finishes, so the scheduler never holds a whole dataset's shards. A task whose worker dies is rerun by
the scheduler on another one (Dask's `distributed.scheduler.allowed-failures`); since a task is a pure
function of its shard, a rerun neither loses nor double-counts it. Tasks run with `blas_threads` BLAS threads: the
simulator's products are small, and BLAS threads that spin on them cost more than they give
(benchmarks/bench_eval.py).
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any, ClassVar

from pimc.diagnostics import UserError

Progress = Callable[[int, int], None] | None
BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# The LocalCluster's settings: on a machine whose cores the workers fill, every cycle a worker does not simulate
# is lost (docs/scale-out.md).
LOCAL_CLUSTER = {
    # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_ set, which turns off glibc's adaptive mmap
    # threshold: every array the simulator allocates was mapped and unmapped anew, at half the in-process speed.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # Each worker samples its task's stack every 10 ms for the dashboard's profile, which pimc does not show, and
    # every process wakes every 20 ms to time its event loop and every 0.5 s to record its load: an idle cluster's
    # processes used about 3% of a core each, under 1% without.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


@dataclass(frozen=True)
class Cluster:
    """Where tasks run: `workers` processes of a LocalCluster, or the workers of the scheduler at `scheduler`."""

    workers: int = 1
    scheduler: str = ""
    blas_threads: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise UserError(f"--workers {self.workers}: give a positive number of worker processes")
        if self.blas_threads < 1:
            raise UserError(f"--blas-threads {self.blas_threads}: give a positive number of threads")

    @contextmanager
    def runner(self) -> Iterator[Runner]:
        """A Runner on this cluster's workers, started for the block and stopped after it."""
        if self.workers == 1 and not self.scheduler:
            yield Runner(None, self.blas_threads)
            return
        import dask
        from distributed import Client, LocalCluster

        if self.scheduler:
            client = _connect(Client, self.scheduler)
            try:
                yield Runner(client, self.blas_threads, local=False)
            finally:
                client.close()
            return
        env = {**_inherited_blas_settings(), **{name: str(self.blas_threads) for name in BLAS_VARIABLES}}
        with dask.config.set(LOCAL_CLUSTER), \
                LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                             host="127.0.0.1", silence_logs=40, env=env) as cluster, Client(cluster) as client:
            yield Runner(client, self.blas_threads)


@dataclass(frozen=True)
class Runner:
    """Runs tasks on a Dask client's workers, or in this process when `client` is None; `local` when they run on
    this machine (in process or a LocalCluster), so they can read its files."""

    client: Any
    blas_threads: int
    local: bool = True

    IN_FLIGHT: ClassVar[int] = 4  # shards submitted per worker at a time: the scheduler holds those, not a dataset

    @property
    def workers(self) -> int:
        """How many processes run the tasks."""
        return 1 if self.client is None else len(self.client.scheduler_info()["workers"])

    def share(self, value: Any, prepare: Callable[[Any], Any] | None = None) -> Any:
        """`value` made available to every task, with `prepare(value)` run on each worker (building what its tasks
        reuse) before any task starts; in process, `value` itself. On a cluster it is the result of a task that
        returns it, not scattered data: a worker that dies with the only copy loses nothing, since the scheduler
        recomputes a lost result, while scattered data is simply gone (dask/distributed#3149). Each worker
        fetches it once, from a peer."""
        if self.client is None:
            if prepare:
                _limited(self.blas_threads, prepare, value)
            return value
        with warnings.catch_warnings():  # Dask warns of a large graph: the value goes to the scheduler once
            warnings.simplefilter("ignore", UserWarning)
            handle = self.client.submit(_itself, value, pure=False, key=f"pimc-shared-{uuid.uuid4().hex}")
        if prepare:  # on each worker; a worker that dies meanwhile has its preparation run on another
            workers = list(self.client.scheduler_info()["workers"])
            self.client.gather([self.client.submit(_prepared, self.blas_threads, prepare, handle, workers=[w],
                                                   allow_other_workers=True, pure=False) for w in workers])
        return handle

    def map(self, task: Callable, shared: Any, shards: Sequence[Any], sizes: Sequence[int],
            progress: Progress = None, finished: Callable[[int, Any], None] | None = None) -> list[Any]:
        """[task(shared, shard) for shard in shards], `shared` from `share`; `sizes` (samples per shard) drive
        `progress(done, total)` as shards complete, and `finished(index, result)` is called (in this process)
        for each shard as it completes."""
        total, done = sum(sizes), 0
        if self.client is None:
            results = []
            for index, (shard, size) in enumerate(zip(shards, sizes)):
                results.append(_limited(self.blas_threads, task, shared, shard))
                if finished:
                    finished(index, results[-1])
                done += size
                if progress:
                    progress(done, total)
            return results
        from distributed import as_completed

        run = uuid.uuid4().hex  # keys unique to this call: other clients may share the scheduler
        waiting, position, running = iter(enumerate(shards)), {}, as_completed()

        def submit(count: int) -> None:
            for index, shard in islice(waiting, count):
                future = self.client.submit(_limited, self.blas_threads, task, shared, shard, pure=False,
                                            key=f"pimc-{run}-{index}")
                position[future.key] = index
                running.add(future)

        submit(self.IN_FLIGHT * max(1, self.workers))  # a scheduler may have no workers yet
        results: list[Any] = [None] * len(shards)
        for future in running:
            index = position.pop(future.key)
            results[index] = future.result()
            submit(1)
            if finished:
                finished(index, results[index])
            done += sizes[index]
            if progress:
                progress(done, total)
        return results


def _itself(value: Any) -> Any:
    return value


def _prepared(threads: int, prepare: Callable[[Any], Any], value: Any) -> None:
    """prepare(value) on this worker, for its tasks; what it returns (a simulator) stays here, not sent back."""
    _limited(threads, prepare, value)


def _limited(threads: int, function: Callable, *args: Any) -> Any:
    """function(*args) with at most `threads` BLAS threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        return function(*args)


def _connect(client_class, address: str):
    try:
        return client_class(address, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise UserError(f"--scheduler {address}: cannot reach a Dask scheduler there ({error})") from None
    except ValueError as error:
        raise UserError(f"--scheduler {address}: not a scheduler address such as tcp://127.0.0.1:8786 ({error})") from None


def _inherited_blas_settings() -> dict[str, str]:
    """The processor settings OpenBLAS needs on some machines, passed on to the workers unchanged."""
    return {name: os.environ[name] for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if name in os.environ}


def shard_bounds(count: int, workers: int, size: int | None = None) -> list[tuple[int, int]]:
    """[start, stop) ranges covering `count` samples in order: `size` samples each when given, else at most 16,
    shrinking with the work left (a quarter of it per worker), since shards finish unevenly: the last ones hold
    a sample or two, so no worker waits long for another's at the end.

    shard_bounds(48, 2)  ->  [(0, 6), (6, 12), (12, 17), (17, 21), ..., (45, 46), (46, 47), (47, 48)]
    """
    bounds, start = [], 0
    while start < count:
        step = size or min(16, -(-(count - start) // (4 * workers)))
        bounds.append((start, min(start + step, count)))
        start += step
    return bounds

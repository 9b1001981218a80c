"""The functional simulator: runs a crossbar program (docs/isa.md) instruction by instruction, from its cells.

    sim = Simulator(read_program("out/"))
    outputs = sim.run({"x": image})         # sim.stats: per crossbar activations, converts, saturations
    noisy = Simulator(program, noise=parse_noise("read=0.04"), seed=1)
    outputs = noisy.run({"x": image}, sample=7)      # read noise drawn from (seed, sample, crossbar)
    Simulator(program, observer=look).run(inputs)  # look(name, array) after a buffer's last write; drops dead buffers
    Simulator(program, outputs_only=True)          # partial sums one xbar.add reads are not kept: faster
    outputs = run_samples(sim, [{"x": a}, {"x": b}], threads=2)   # samples side by side, on forks of `sim`

An `mvm` runs on its crossbar's datapath model, the one the program's target declares for the
crossbar's cell encoding (targets/datapath.py: ISAAC's offset-encoded crossbars in
targets/isaac/datapath.py, RAELLA's 2T2R pairs in targets/raella/datapath.py). When a model proves
its ADC cannot clip, the same integers come from one matrix product per group of MVMs over the
same inputs (targets/fast_path.py); with `outputs_only`, so do the sums of such MVMs' outputs over
adjacent input columns, which the simulator then never holds apart. With a noise model that is on
(targets/noise.py), every crossbar is its model's noisy one instead and no MVM takes the fast path.
Digital ops (`vop`) run the semantics of the IR op they name, from pimc's interpreter.
"""

from __future__ import annotations

import bisect
import copy
import queue
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pimc.context import Context
from pimc.diagnostics import UserError
from pimc.interp.interpreter import evaluate
from pimc.interp.registry import implementation
from pimc.ir.core import Operation, Value
from pimc.ir.location import UnknownLoc
from pimc.ir.types import parse_type
from pimc.text.parser import parse_attr_dict
from pimc.threads import in_order
from pimc.targets import target
from pimc.targets.datapath import CrossbarStats, Datapath
from pimc.targets.fast_path import FastGroup, plan_groups, speculative
from pimc.targets.noise import CrossbarNoise, NoiseConfig
from pimc.targets.program import FIELDS, Instruction, Program


@dataclass
class Simulator:
    """Executes a program's instructions in sequence order; `buffers` holds every tile's tensors."""

    program: Program
    progress: Callable[[int, int], None] | None = None
    noise: NoiseConfig | None = None  # None or all zero: the exact datapaths
    seed: int = 0  # the noise's
    observer: Callable[[str, np.ndarray], None] | None = None  # given: `buffers` drops what no later step reads
    outputs_only: bool = False  # only `run`'s outputs are read: partial sums that one add reads are not kept
    crossbars: dict[int, Datapath] = field(default_factory=dict)
    _counts: dict[int, CrossbarStats] = field(default_factory=dict)  # `stats` but the fast groups' runs not yet added
    _fast_runs: Counter = field(default_factory=Counter)  # a fast group's step -> its runs not yet in `_counts`
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    groups: dict[int, FastGroup] = field(default_factory=dict)  # the step a fast group runs at -> the group
    cache: dict = field(default_factory=dict)  # per-op state of the interpreter's implementations (onnx evaluators)
    _ops: dict[int, Operation] = field(default_factory=dict)  # vop's seq -> the IR op whose semantics it runs
    _steps: list[tuple[int, Instruction]] = field(default_factory=list)  # (index, instruction) a run executes
    _rows: dict[str, int] = field(default_factory=dict)  # buffer -> its vectors
    _noisy: list[CrossbarNoise] = field(default_factory=list)
    _retired: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)  # step: (written last, dead)

    def __post_init__(self) -> None:
        declared = target(self.program.target)
        if self.noise is not None and self.noise.active:
            self._noisy = [CrossbarNoise(self.noise, self.seed, x.id) for x in self.program.crossbars]
            self.crossbars = {x.id: declared.datapath(x.encoding).load_noisy(x, self.program, n)
                              for x, n in zip(self.program.crossbars, self._noisy)}
        else:
            self.crossbars = {x.id: declared.datapath(x.encoding).load(x, self.program) for x in self.program.crossbars}
        self._counts = {x.id: CrossbarStats() for x in self.program.crossbars}
        config = self.program.config
        self.adc = (config["adc_bits"], config["adc_step"])
        self._ops = {i.seq: _digital_op(i) for i in self.program.instructions if i.op == "vop"}
        self.plan()

    def plan(self) -> None:
        """Plan the fast groups and the steps a run takes, from the crossbars' models as they are: done when the
        simulator is made, and again by whoever changes its models."""
        self._add_fast_runs()  # counted by the groups they ran in
        self.groups = plan_groups(self.program.instructions, self.crossbars, self.adc,
                                  sums=self.outputs_only and self.observer is None)
        skipped = {i.seq for group in self.groups.values() for i in group.instructions} - set(self.groups)
        self._steps = [(index, i) for index, i in enumerate(self.program.instructions)
                       if i.seq not in skipped and i.op != "program"]  # cells are in the crossbars already
        if self.observer is not None:
            self._retired = _retired_at([index for index, _ in self._steps], _lifetimes(self.program))

    @property
    def stats(self) -> dict[int, CrossbarStats]:
        """Per crossbar, what it did over the runs so far."""
        self._add_fast_runs()
        return self._counts

    def _add_fast_runs(self) -> None:
        """Add each fast group's counts times its runs since the last time: the same every run, so they are added
        when asked for, not once per crossbar per run (ResNet-50: 6,260 additions, 3 ms of a 78 ms image)."""
        for step, runs in self._fast_runs.items():
            for xbar, events in self.groups[step].events:
                self._counts[xbar].add(events, runs)
        self._fast_runs.clear()

    def run(self, inputs: dict[str, np.ndarray], sample: int = 0) -> list[np.ndarray]:
        """The program's outputs on `inputs` (by graph input name), sample `sample` of a dataset (its read noise)."""
        self.buffers = {}
        for noise in self._noisy:
            noise.start(sample)
        units = {op: getattr(self, f"_{op}") for op in FIELDS}
        for done, (index, instruction) in enumerate(self._steps, start=1):
            units[instruction.op](instruction, inputs)
            if index in self._retired:
                self._retire(index)
            if self.progress is not None:
                self.progress(done, len(self._steps))
        return [self.buffers[name] for _, name in self.program.outputs]

    def fork(self) -> Simulator:
        """A simulator sharing this one's program, crossbars and plan, with its own buffers, counts and cache: it
        runs other samples at the same time, on another thread. Noise-free only: noise follows the sample."""
        if self._noisy:
            raise ValueError("a noisy simulator cannot fork: its crossbars draw each sample's read noise")
        twin = copy.copy(self)
        twin._counts, twin._fast_runs = {x: CrossbarStats() for x in self._counts}, Counter()
        twin.buffers, twin.cache = {}, {}
        return twin

    def _retire(self, index: int) -> None:
        """Show the observer the buffers step `index` wrote last, and drop those no later step uses."""
        written, dead = self._retired[index]
        for name in written:
            self.observer(name, self.buffers[name])
        for name in dead:
            del self.buffers[name]

    def _load(self, i: Instruction, inputs: dict[str, np.ndarray]) -> None:
        name, buffer = i.args["input"], self.program.buffers[i.args["dst"]]
        if name not in inputs:
            raise UserError(f"the program needs input '{name}' (given: {', '.join(inputs) or 'none'})")
        expected = parse_type(buffer.type)
        array = np.asarray(inputs[name])
        if array.shape != expected.shape:
            raise UserError(f"input '{name}' has shape {list(array.shape)}, but the program takes {expected}")
        self.buffers[i.args["dst"]] = array.astype(expected.element.numpy_dtype())

    def _const(self, i: Instruction, inputs) -> None:
        self.buffers[i.args["dst"]] = self.program.constants[i.args["key"]]

    def _program(self, i: Instruction, inputs) -> None:
        """Cells are written when the program loads; a crossbar keeps them for every inference."""

    def _send(self, i: Instruction, inputs) -> None:
        a = i.args
        source = self.buffers[a["src"]]
        if "rows" not in a:
            self.buffers[a["dst"]] = source
            return
        v0, v1 = a["rows"]
        target = self.buffers.setdefault(a["dst"], np.zeros_like(source))
        target[v0:v1] = source[v0:v1]

    def _recv(self, i: Instruction, inputs) -> None:
        if i.args["dst"] not in self.buffers:
            raise RuntimeError(f"instruction {i.seq}: %{i.args['dst']} was never sent")

    def _store(self, i: Instruction, inputs) -> None:
        """The output stays in its buffer; `run` returns it."""

    def _mvm(self, i: Instruction, inputs) -> None:
        group = self.groups.get(i.seq)
        a = i.args
        (v0, v1), (c0, c1), widths = a["vectors"], a["src_cols"], tuple(a["input_slices"])
        if group is not None:
            g0, g1 = group.columns
            self._fast_group(group, self.buffers[a["src"]][v0:v1, g0:g1])
            self._fast_runs[i.seq] += 1
            return
        x = self.buffers[a["src"]][v0:v1, c0:c1]
        crossbar, stats, z = self.crossbars[a["xbar"]], self._counts[a["xbar"]], a.get("zero_point", 0)
        if not z:
            product = crossbar.mvm(x.astype(np.int64), widths, speculative(i), *self.adc, stats)
        else:  # signed input planes: code - z in a positive and a negative pass, then z times W's column sums
            signed = x.astype(np.int64) - z
            product = (crossbar.mvm(np.maximum(signed, 0), widths, speculative(i), *self.adc, stats)
                       - crossbar.mvm(np.maximum(-signed, 0), widths, speculative(i), *self.adc, stats)
                       + z * crossbar.column_sums)
        self._output(a["dst"], v0, v1, product)

    def _fast_group(self, group: FastGroup, x: np.ndarray) -> None:
        """One matrix product for crossbars that read the same inputs and provably never clip."""
        product = group.product(x)
        for dst, v0, v1, start, stop in group.outputs:
            self._output(dst, v0, v1, product[:, start:stop])

    def _output(self, name: str, v0: int, v1: int, rows: np.ndarray) -> None:
        out = self.buffers.get(name)
        if out is None and v0 == 0 and v1 == self.program_rows(name):  # the whole buffer: the rows themselves
            self.buffers[name] = rows
            return
        if out is None:
            out = self.buffers[name] = np.zeros((self.program_rows(name), rows.shape[1]), np.int64)
        out[v0:v1] = rows

    def program_rows(self, name: str) -> int:
        if name not in self._rows:
            self._rows[name] = parse_type(self.program.buffers[name].type).shape[0]
        return self._rows[name]

    def _vop(self, i: Instruction, inputs) -> None:
        arrays = evaluate(self, self._ops[i.seq], [self.buffers[name] for name in i.args["srcs"]])
        self.buffers.update(zip(i.writes, arrays))


def run_samples(sim: Simulator, samples: list[dict[str, np.ndarray]], threads: int,
                done: Callable[[int, int], None] | None = None) -> list[list[np.ndarray]]:
    """Each sample's outputs, sample i run as `sim.run(samples[i], i)`, up to `threads` at a time on forks of `sim`
    (pimc/threads.py); the forks' counts are added to `sim.stats`. Every sample runs alone on its fork, so neither
    the outputs nor the counts depend on `threads`. `done(k, n)` after the first k samples."""
    forks = [sim] + [sim.fork() for _ in range(min(threads, len(samples)) - 1)]
    idle: queue.SimpleQueue[Simulator] = queue.SimpleQueue()
    for fork in forks:
        idle.put(fork)

    def one(index: int) -> list[np.ndarray]:
        fork = idle.get()
        try:
            return fork.run(samples[index], index)
        finally:
            idle.put(fork)

    results: list[list[np.ndarray]] = []
    for result in in_order(one, range(len(samples)), len(forks)):
        results.append(result)
        if done is not None:
            done(len(results), len(samples))
    for fork in forks[1:]:
        for xbar, counts in fork.stats.items():
            sim.stats[xbar].add(counts)
    return results


def _retired_at(steps: list[int], retired: dict[int, tuple[list[str], list[str]]]) -> dict[int, tuple[list[str], list[str]]]:
    """`retired` moved from each step to the last of `steps` (those a run executes) at or before it: a group's
    product wrote the buffers of the steps it does, and those steps read nothing."""
    moved: dict[int, tuple[list[str], list[str]]] = {}
    for index, (written, dead) in sorted(retired.items()):
        at = steps[max(bisect.bisect_right(steps, index) - 1, 0)]
        moved.setdefault(at, ([], []))[0].extend(written)
        moved[at][1].extend(dead)
    return moved


def _lifetimes(program: Program) -> dict[int, tuple[list[str], list[str]]]:
    """Per step: the buffers it writes last, and those no later step uses (the outputs stay)."""
    outputs = {name for _, name in program.outputs}
    last_write: dict[str, int] = {}
    last_use: dict[str, int] = {}
    for index, i in enumerate(program.instructions):
        last_write.update((name, index) for name in i.writes)
        last_use.update((name, index) for name in [*i.writes, *i.reads] if name not in outputs)
    retired: dict[int, tuple[list[str], list[str]]] = {}
    for name, index in last_write.items():
        retired.setdefault(index, ([], []))[0].append(name)
    for name, index in last_use.items():
        retired.setdefault(index, ([], []))[1].append(name)
    return retired


def _digital_op(i: Instruction) -> Operation:
    """A detached IR op of the instruction's kind, attributes and types, for its semantics."""
    kind, signature = i.args["kind"], i.args["type"]
    cls = Context().lookup(kind)
    if cls is None or implementation(cls) is None:
        raise UserError(f"instruction {i.seq}: the digital unit has no op '{kind}'")
    left, right = signature.split(" -> ")
    operands = [Value(parse_type(t)) for t in left.strip()[1:-1].split(", ") if t]
    results = [parse_type(t) for t in right.strip().removeprefix("(").removesuffix(")").split(", ")]
    return cls(operands, results, parse_attr_dict(i.args["attrs"]), (), UnknownLoc(), kind)


def one_blas_thread():
    """A context in which BLAS runs on one thread: the simulator's products are small (a crossbar's rows), and
    BLAS threads that spin on them are slower, 5-10x so on a busy machine (benchmarks/bench_eval.py)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def progress_bar(label: str) -> Callable[[int, int], None] | None:
    """A one-line progress bar on stderr, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if done != total and done % max(1, total // 100):
            return
        filled = 30 * done // total
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")

    return show

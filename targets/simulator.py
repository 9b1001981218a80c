"""The functional simulator: runs a crossbar program (docs/isa.md) bit by bit, from its cells.

    sim = Simulator(read_program("out/"))
    outputs = sim.run({"x": image})         # sim.stats: per crossbar activations, converts, saturations

An `mvm` drives each input slice onto the crossbar's rows, sums every cell column in the
analog domain, converts the sums with a saturating ADC, undoes ISAAC's column inversion,
shifts and adds the slices, and subtracts the weight offset times the input sum. A
center-offset crossbar (RAELLA) reads each column as a signed 2T2R difference through a signed
ADC, recovers speculative slices whose conversion hit a rail bit by bit, and adds each
filter's center times the input sum. When the ADC provably cannot saturate for a crossbar, the
same integers come from one matrix product of the inputs with the weights the cells hold (the
fast path). Digital ops (`vop`) run the
semantics of the IR op they name, from pimc's interpreter.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pimc.context import Context
from pimc.diagnostics import UserError
from pimc.interp.interpreter import evaluate, implementation
from pimc.ir.core import Operation, Value
from pimc.ir.location import UnknownLoc
from pimc.ir.types import parse_type
from pimc.text.parser import parse_attr_dict
from pimc.targets.crossbar import shifts
from pimc.targets.program import Crossbar, Instruction, Program, destinations
from pimc.targets.raella.datapath import SlicedWeights, adc_range


@dataclass
class CrossbarStats:
    """What one crossbar did over a run."""

    activations: int = 0
    adc_converts: int = 0
    saturated: int = 0  # conversions that clipped
    recovery_converts: int = 0  # 1-bit conversions of columns whose speculative conversion hit a rail
    flagged: int = 0  # speculative conversions at a rail
    fast: bool = True  # every MVM took the provably exact path


@dataclass
class LoadedCrossbar:
    """A crossbar's cells, ready to compute: levels as stored, and how columns recombine into weights."""

    spec: Crossbar
    levels: np.ndarray  # rows x cell columns, as stored (uint8)
    flipped: np.ndarray  # bool per cell column
    maxima: np.ndarray  # largest level of each cell column
    column_scale: np.ndarray  # per cell column of one weight: +-2^shift of its slice
    stored: np.ndarray  # rows x weights: the (offset) weights the cells hold
    largest_column: float  # the largest sum of one cell column's levels
    correction: np.ndarray  # per weight: times the input sum, added digitally (-offset)

    @classmethod
    def load(cls, spec: Crossbar, program: Program) -> LoadedCrossbar:
        levels, flipped = program.levels(spec), program.flipped(spec).astype(bool)
        widths, count, planes = spec.cell_widths, len(spec.cell_widths), spec.planes
        maxima = np.tile(np.array([(1 << w) - 1 for w in widths], np.uint8), spec.weights * planes)
        true_levels = np.where(flipped, maxima - levels, levels).reshape(spec.rows, spec.weights, planes, count)
        scale = np.array([[1 << s for s in shifts(widths)], [-(1 << s) for s in shifts(widths)]][:planes], np.float64)
        stored = np.einsum("rnpc,pc->rn", true_levels, scale)
        largest = float(levels.sum(axis=0, dtype=np.int64).max(initial=0))
        return cls(spec, levels, flipped, maxima.astype(np.float64), scale.ravel(), stored, largest, program.centers(spec))

    @property
    def combine(self) -> np.ndarray:
        """Cell columns x weights: the signed power of two each column's sum is worth."""
        per_weight = len(self.column_scale)
        column = np.arange(self.levels.shape[1])
        combine = np.zeros((self.levels.shape[1], self.spec.weights))
        combine[column, column // per_weight] = self.column_scale[column % per_weight]
        return combine

    def never_clips(self, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int) -> bool:
        """No column sum can exceed the ADC's range, so conversion is exact."""
        largest_input = max((1 << w) - 1 for w in input_widths)
        return adc_step == 1 and largest_input * self.largest_column <= (1 << adc_bits) - 1

    def count(self, vectors: int, input_widths: tuple[int, ...], speculate: bool, stats: CrossbarStats) -> None:
        """Every activation converts every cell column."""
        stats.activations += vectors * len(input_widths)
        stats.adc_converts += vectors * len(input_widths) * self.levels.shape[1]

    def mvm(self, x: np.ndarray, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int,
            stats: CrossbarStats) -> np.ndarray:
        """x (vectors x rows, unsigned integers) times the weights the cells hold, as the datapath computes it."""
        self.count(x.shape[0], input_widths, speculate, stats)
        if self.never_clips(input_widths, speculate, adc_bits, adc_step):
            product = x.astype(np.float64) @ self.stored
        else:
            stats.fast = False
            product = self._sliced(x, input_widths, adc_bits, adc_step, stats) @ self.combine
        return np.rint(product).astype(np.int64) + self.correction * x.sum(axis=1, keepdims=True)

    def _sliced(self, x: np.ndarray, input_widths: tuple[int, ...], adc_bits: int, adc_step: int,
                stats: CrossbarStats) -> np.ndarray:
        """Per cell column: the shift-added ADC codes over every input slice, inversion undone."""
        max_code = (1 << adc_bits) - 1
        total = np.zeros((x.shape[0], self.levels.shape[1]))
        levels = self.levels.astype(np.float64)
        for width, shift in zip(input_widths, shifts(input_widths)):
            bits = ((x >> shift) & ((1 << width) - 1)).astype(np.float64)
            sums = bits @ levels  # the analog column sums
            codes = np.floor(sums / adc_step)
            stats.saturated += int(np.count_nonzero(codes > max_code))
            converted = np.minimum(codes, max_code) * adc_step
            driven = bits.sum(axis=1, keepdims=True)  # the input-sum unit's count of what was driven
            total += np.where(self.flipped, self.maxima * driven - converted, converted) * float(1 << shift)
        return total


@dataclass
class PairedCrossbar:
    """A center-offset crossbar: each column a 2T2R pair holding a signed slice of weight - center, converted by a
    signed ADC, with speculative input slices recovered bit by bit (targets/raella/datapath.py)."""

    spec: Crossbar
    slices: SlicedWeights  # the signed levels, positive device minus negative device, slices side by side
    stored: np.ndarray  # rows x weights: the offsets the pairs hold, slices recombined
    correction: np.ndarray  # per weight: its center, times the input sum
    largest: tuple[int, int]  # the largest positive and negative column sum of one slice over all rows

    @classmethod
    def load(cls, spec: Crossbar, program: Program) -> PairedCrossbar:
        count = len(spec.cell_widths)
        devices = program.levels(spec).reshape(spec.rows, spec.weights, 2, count).astype(np.int64)
        slices = (devices[:, :, 0] - devices[:, :, 1]).transpose(2, 0, 1)
        stored = np.einsum("srn,s->rn", slices, np.array([1 << s for s in shifts(spec.cell_widths)], np.int64))
        positive, negative = devices.sum(axis=0).max(axis=(0, 2), initial=0)
        return cls(spec, SlicedWeights.of(slices), stored.astype(np.float64), program.centers(spec),
                   (int(positive), int(negative)))

    @property
    def column_sums(self) -> np.ndarray:
        """Per weight, the sum of its rows' weights: offsets plus centers."""
        return np.rint(self.stored.sum(axis=0)).astype(np.int64) + self.spec.rows * self.correction

    def never_clips(self, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int) -> bool:
        """No slice's column sum can reach a rail, so no column is flagged and no conversion clips."""
        low, high = adc_range(adc_bits)
        largest_input = max((1 << w) - 1 for w in input_widths)
        return largest_input * self.largest[0] < high and -largest_input * self.largest[1] > low

    def count(self, vectors: int, input_widths: tuple[int, ...], speculate: bool, stats: CrossbarStats) -> None:
        """Activations and conversions when no column is flagged: speculation adds one activation per input bit."""
        steps = len(input_widths) + (sum(input_widths) if speculate else 0)
        stats.activations += vectors * steps
        stats.adc_converts += vectors * len(input_widths) * self.spec.adc_columns

    def mvm(self, x: np.ndarray, input_widths: tuple[int, ...], speculate: bool, adc_bits: int, adc_step: int,
            stats: CrossbarStats) -> np.ndarray:
        sums = x.sum(axis=1, keepdims=True)
        if self.never_clips(input_widths, speculate, adc_bits, adc_step):
            self.count(x.shape[0], input_widths, speculate, stats)
            return np.rint(x.astype(np.float64) @ self.stored).astype(np.int64) + self.correction * sums
        stats.fast = False
        y, run = self.slices.mvm(x, shifts(self.spec.cell_widths), input_widths, adc_bits, speculate)
        stats.activations += run.activations
        stats.adc_converts += run.adc_converts
        stats.recovery_converts += run.recovery_converts if speculate else 0
        stats.flagged += run.flagged
        stats.saturated += run.saturated
        return y + self.correction * sums


@dataclass(frozen=True)
class FastGroup:
    """Crossbars that read the same input vectors and provably never clip: their weights side by side, the
    digital correction folded in (x @ stored + correction * sum(x) = x @ (stored + correction), in integers).

    Every partial sum of the product is an integer of magnitude at most (2^input bits - 1) * max|weight| * rows:
    float32 computes it exactly below 2^24, float64 below 2^53, so the product needs no rounding."""

    instructions: list[Instruction]
    weights: np.ndarray  # rows x all their weights; float32 where every product is exact in it
    columns: list[tuple[int, int]]  # each crossbar's columns of `weights`

    @classmethod
    def build(cls, run: list[Instruction], crossbars: dict[int, LoadedCrossbar | PairedCrossbar]) -> FastGroup:
        parts = [crossbars[i.args["xbar"]] for i in run]
        weights = np.hstack([p.stored + p.correction for p in parts])
        widest = (1 << sum(run[0].args["input_slices"])) - 1
        exact_in_float32 = widest * float(np.abs(weights).max(initial=0)) * weights.shape[0] < 2**24
        bounds = np.cumsum([0] + [p.stored.shape[1] for p in parts])
        return cls(run, weights.astype(np.float32 if exact_in_float32 else np.float64),
                   [(int(a), int(b)) for a, b in zip(bounds, bounds[1:])])


def _inputs_of(i: Instruction) -> tuple:
    a = i.args
    return (i.tile, a["src"], tuple(a["src_cols"]), tuple(a["vectors"]), tuple(a["input_slices"]), _speculative(i),
            a.get("zero_point", 0))


def _speculative(i: Instruction) -> bool:
    return bool(i.args.get("speculate", False))


@dataclass
class Simulator:
    """Executes a program's instructions in sequence order; `buffers` holds every tile's tensors."""

    program: Program
    progress: Callable[[int, int], None] | None = None
    crossbars: dict[int, LoadedCrossbar | PairedCrossbar] = field(default_factory=dict)
    stats: dict[int, CrossbarStats] = field(default_factory=dict)
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # per-op state of the interpreter's implementations (onnx evaluators)
    _ops: dict[int, Operation] = field(default_factory=dict)
    _groups: dict[int, FastGroup] = field(default_factory=dict)  # first instruction's seq -> its group
    _grouped: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.crossbars = {x.id: (PairedCrossbar if x.encoding == "center-offset" else LoadedCrossbar).load(x, self.program)
                          for x in self.program.crossbars}
        self.stats = {x.id: CrossbarStats() for x in self.program.crossbars}
        config = self.program.config
        self.adc = (config["adc_bits"], config["adc_step"])
        self._plan_groups()

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The program's outputs on `inputs` (by graph input name)."""
        self.buffers = {}
        steps = self.program.instructions
        for index, instruction in enumerate(steps):
            getattr(self, f"_{instruction.op}")(instruction, inputs)
            if self.progress is not None:
                self.progress(index + 1, len(steps))
        return [self.buffers[name] for _, name in self.program.outputs]

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
        a = i.args
        (v0, v1), (c0, c1), widths = a["vectors"], a["src_cols"], tuple(a["input_slices"])
        x = self.buffers[a["src"]][v0:v1, c0:c1]
        group = self._groups.get(i.seq)
        if group is not None:
            self._fast_group(group, x, widths)
        elif i.seq not in self._grouped:
            crossbar, stats, z = self.crossbars[a["xbar"]], self.stats[a["xbar"]], a.get("zero_point", 0)
            if not z:
                product = crossbar.mvm(x.astype(np.int64), widths, _speculative(i), *self.adc, stats)
            else:  # signed input planes: code - z in a positive and a negative pass, then z times W's column sums
                signed = x.astype(np.int64) - z
                product = (crossbar.mvm(np.maximum(signed, 0), widths, _speculative(i), *self.adc, stats)
                           - crossbar.mvm(np.maximum(-signed, 0), widths, _speculative(i), *self.adc, stats)
                           + z * crossbar.column_sums)
            self._output(a["dst"], v0, v1, product)

    def _fast_group(self, group: FastGroup, x: np.ndarray, widths: tuple[int, ...]) -> None:
        """One matrix product for crossbars that read the same inputs and provably never clip."""
        product = x.astype(group.weights.dtype) @ group.weights  # exact integers
        for i, (start, stop) in zip(group.instructions, group.columns):
            v0, v1 = i.args["vectors"]
            for _ in range(2 if i.args.get("zero_point") else 1):  # signed planes: two passes, the same integers
                self.crossbars[i.args["xbar"]].count(v1 - v0, widths, _speculative(i), self.stats[i.args["xbar"]])
            self._output(i.args["dst"], v0, v1, product[:, start:stop])

    def _output(self, name: str, v0: int, v1: int, rows: np.ndarray) -> None:
        out = self.buffers.get(name)
        if out is None:
            out = self.buffers[name] = np.zeros((self.program_rows(name), rows.shape[1]), np.int64)
        out[v0:v1] = rows

    def _plan_groups(self) -> None:
        """MVMs over the same input vectors whose crossbars provably never clip: one product each.

        Buffers are written once per run, so a group may compute every member's output at its first.
        """
        runs: dict[tuple, list[Instruction]] = {}
        for i in self.program.instructions:
            if i.op == "mvm" and self._fast(i):
                runs.setdefault(_inputs_of(i), []).append(i)
        for run in runs.values():
            self._groups[run[0].seq] = FastGroup.build(run, self.crossbars)
            self._grouped.update(j.seq for j in run)

    def _fast(self, i: Instruction) -> bool:
        return self.crossbars[i.args["xbar"]].never_clips(tuple(i.args["input_slices"]), _speculative(i), *self.adc)

    def program_rows(self, name: str) -> int:
        return parse_type(self.program.buffers[name].type).shape[0]

    def _vop(self, i: Instruction, inputs) -> None:
        if i.seq not in self._ops:
            self._ops[i.seq] = _digital_op(i)
        arrays = evaluate(self, self._ops[i.seq], [self.buffers[name] for name in i.args["srcs"]])
        self.buffers.update(zip(destinations(i.args), arrays))


def _digital_op(i: Instruction) -> Operation:
    """A detached IR op of the instruction's kind, attributes and types, for its semantics."""
    from pimc.interp import ep_ops, nn_ops, nn_tensor, onnx_ops, q_ops, xbar_ops  # noqa: F401  (they register implementations)

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

"""design-epitomes: choose each conv's epitome for the fewest crossbars within an output-error budget (EPIM).

    %y = nn.conv2d(%x, %w, %b) : (tensor<1x16x4x4xf32>, tensor<32x16x3x3xf32>, tensor<32xf32>) -> tensor<1x32x4x4xf32>
  ->   (budget=0.1)
    %y = ep.conv2d(%x, %w_epitome, %b) {patch = [32, 14], stride = [32, 1], projection_error = 0.29} : (...) -> ...

An epitome Co_E x Ci_E x kh x kw takes ceil(Ci_E*kh*kw / rows) * ceil(Co_E*ceil(weight_bits/cell_bits) / cols)
crossbars. Candidates keep pimc's sampling model with whole-epitome patches (patch = shape): a stride equal to
the shape is NES's plain repeat, a smaller one rotates where the channels wrap. The objective is the total
crossbars of the convs; the constraint is the relative L2 error of the model's outputs on calibration inputs,
against the unfolded model, run in pimc's interpreter. The search (docs/epitome.md): a proxy (each layer's
own output error) ranks each layer's candidates, the best per crossbar count is measured alone, a greedy
pass takes the most crossbars per unit of error, and a seeded evolutionary search refines. The chosen
layers fold as `fold-epitome` folds them; the module attribute `epitome_design` reports every layer.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from pimc.calibrate import calibration_inputs
from pimc.diagnostics import Diagnostic, DiagnosticError, op_error
from pimc.dialects import ep
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_canonicalize import constant
from pimc.dialects.nn_conv import Conv2dOp, WeightOp
from pimc.interp.interpreter import Interpreter
from pimc.interp.nn_ops import kernel_taps, pad2d
from pimc.ir.core import Value
from pimc.ir.location import names_of
from pimc.pass_manager import ModulePass
from pimc.passes.fold_epitome import FoldEpitome
from pimc.text.printer import value_names

Gene = tuple[int, int, int, int] | None  # (Co_E, Ci_E, sigma_o, sigma_i), patch = (Co_E, Ci_E); None: unfolded
Design = tuple[Gene, ...]

POPULATION = 12
STRIDES = 32  # rotations tried per dimension: every one up to 2 * STRIDES - 1, evenly thinned beyond
REFINED = 2  # shapes per crossbar count whose strides are refined
BATCH = 64  # genes per proxy product
PIXELS = 4096  # at most this many output pixels in a layer's proxy


@dataclass(frozen=True)
class DesignEpitomes(ModulePass):
    """Choose each conv's epitome for the fewest crossbars whose outputs stay within a relative error budget."""

    name = "design-epitomes"
    budget: float = field(default=0.05, metadata={"doc": "largest relative L2 error of the model's outputs"})
    rows: int = field(default=128, metadata={"doc": "crossbar rows"})
    cols: int = field(default=128, metadata={"doc": "crossbar columns"})
    cell_bits: int = field(default=2, metadata={"doc": "bits per cell"})
    weight_bits: int = field(default=8, metadata={"doc": "bits per weight"})
    calib: str = field(default="", metadata={"doc": "an .npz of calibration inputs; seeded normal samples if empty"})
    samples: int = field(default=16, metadata={"doc": "how many inputs to measure the error on"})
    seed: int = field(default=0, metadata={"doc": "seed of the normal samples and of the evolutionary search"})
    generations: int = field(default=16, metadata={"doc": "rounds of evolutionary refinement (0: greedy only)"})
    layers: tuple[str, ...] = field(
        default=(), metadata={"doc": "convs to design, by ONNX node or SSA value name (default: every conv)"})

    def __post_init__(self) -> None:
        if not 0 < self.budget < float("inf"):
            raise ValueError(f"budget = {self.budget} must be a positive relative error of the outputs, e.g. 0.05")
        for option in ("rows", "cols", "cell_bits", "weight_bits", "samples"):
            if getattr(self, option) < 1:
                raise ValueError(f"{option.replace('_', '-')} = {getattr(self, option)} must be a positive integer")
        if self.generations < 0:
            raise ValueError(f"generations = {self.generations} must be a non-negative integer")

    @property
    def slices(self) -> int:
        """Cells per weight."""
        return -(-self.weight_bits // self.cell_bits)

    def crossbars(self, co: int, ci: int, taps: int) -> int:
        """Crossbars holding a co x ci x taps weight: input channel taps on rows, weight slices on columns."""
        return -(-ci * taps // self.rows) * -(-co * self.slices // self.cols)

    def apply(self, module: ModuleOp) -> None:
        func = next((f for f in module.funcs() if f.sym_name == "main"), None)
        if func is None:
            raise DiagnosticError(Diagnostic("design-epitomes: the module has no function @main"))
        inputs = calibration_inputs(func, self.calib, self.samples, self.seed, self.name)
        convs = [op for op in func.body.ops if isinstance(op, Conv2dOp)]
        printed = value_names(module)
        names = {op: (*names_of(op.location), printed[op.output]) for op in convs}
        refs = Counter(op.ref for op in module.walk() if isinstance(op, WeightOp))
        layers = []
        for op in self._selected(convs, names) if self.layers else convs:
            reason = _obstacle(op, refs)
            if reason is None:
                label = names[op][0] if names_of(op.location) else f"%{names[op][0]}"
                layers.append(_Layer(op, label, self))
            elif self.layers:
                raise op_error(op, f"cannot be designed as an epitome: {reason}")
            else:
                note = dataclasses.replace(op_error(op, f"is not designed: {reason}").diagnostic, severity="note")
                print(note.render("design-epitomes"), file=sys.stderr)
        search = _Search(module, layers, inputs, self.budget, self.seed)
        design = search.run(self.generations)
        report = [layer.report(gene) for layer, gene in zip(layers, design)]
        error, before = search.error(design), sum(layer.unfolded for layer in layers)
        report.append(f"crossbars {before} -> {search.total(design)} ({self.rows}x{self.cols}, "
                      f"{self.slices} cells per weight), output error {error:.3g} "
                      f"(budget {self.budget:g}) on {len(search.inputs)} calibration inputs, "
                      f"{len(search.errors)} designs evaluated")
        for layer, gene in zip(layers, design):
            if gene is not None:
                co_e, ci_e, *stride = gene
                FoldEpitome(shape=(co_e, ci_e), stride=tuple(stride))._fold(layer.op)
        module.attributes["epitome_design"] = tuple(report)

    def _selected(self, convs: list[Conv2dOp], names: dict[Conv2dOp, tuple[str, ...]]) -> list[Conv2dOp]:
        """The convs `layers` names, by any of their ONNX node names or their SSA value name."""
        chosen = []
        for wanted in self.layers:
            found = [op for op in convs if wanted.removeprefix("%") in names[op]]
            if not found:
                listed = ", ".join(names[op][0] for op in convs) or "none"
                raise DiagnosticError(Diagnostic(f"design-epitomes: no nn.conv2d is named '{wanted}'; the convs: {listed}"))
            chosen += found
        return [op for op in convs if op in chosen]


def _obstacle(op: Conv2dOp, refs: Counter) -> str | None:
    """Why `op` cannot be designed, or None; its weight must be its own, as the search replaces it by ref."""
    if op.group != 1:
        return f"group {op.group}; design-epitomes designs group-1 convs only"
    if not isinstance(getattr(op.weight, "op", None), WeightOp):
        return "its weight is not a constant (nn.weight)"
    if len(op.weight.users) > 1 or refs[op.weight.op.ref] > 1:
        return "its weight is shared with other ops"
    return None


def _sizes(channels: int, capacity: int, width: int) -> set[int]:
    """Epitome sizes along one dimension: the divisors and halvings of `channels`, and the most channels (each
    `width` wide) that each count of `capacity`-wide crossbar blocks holds."""
    blocks = -(-channels * width // capacity)
    fits = {min(channels, m * capacity // width) for m in range(1, blocks + 1)}
    divisors = {d for d in range(1, channels + 1) if channels % d == 0}
    return ({channels >> k for k in range(channels.bit_length())} | divisors | fits) - {0}


def _strides(channels: int, size: int) -> list[int]:
    """Patch start strides to try along a dimension: `size` (the plain repeat) first, then the rotations 1 to
    size - 1, evenly thinned to at most 2 * STRIDES; only `size` when one patch covers the channels."""
    if channels <= size:
        return [size]
    return [size, *sorted(set(range(1, size, max(1, size // STRIDES))))]


class _Layer:
    """One conv being designed: its weight, its crossbars unfolded, its candidates, its proxy data."""

    def __init__(self, op: Conv2dOp, name: str, spec: DesignEpitomes) -> None:
        self.op, self.name, self.spec = op, name, spec
        self.weight = constant(op.weight).astype(np.float64)
        self.dtype = op.weight.type.element.numpy_dtype()
        co, ci, kh, kw = self.weight.shape
        self.taps = kh * kw
        self.unfolded = spec.crossbars(co, ci, self.taps)
        self.shapes = sorted((a, b) for a in _sizes(co, spec.cols, spec.slices) for b in _sizes(ci, spec.rows, self.taps)
                             if spec.crossbars(a, b, self.taps) < self.unfolded)
        self.columns: np.ndarray | None = None  # im2col of its calibration inputs: Ci*kh*kw x pixels
        self.menu: list[tuple[Gene, float]] = []  # per crossbar count, its best gene and that gene's error alone
        self._weights: dict[Gene, np.ndarray] = {}

    def cost(self, gene: Gene) -> int:
        return self.unfolded if gene is None else self.spec.crossbars(gene[0], gene[1], self.taps)

    def materialized(self, gene: Gene) -> np.ndarray:
        """The weight the gene's epitome stands for, in float64."""
        if gene not in self._weights:
            co_e, ci_e, *stride = gene
            epitome = ep.project(self.weight, (co_e, ci_e), (co_e, ci_e), stride)
            self._weights[gene] = ep.materialize(epitome, *self.weight.shape[:2], (co_e, ci_e), stride)
        return self._weights[gene]

    def observe(self, x: np.ndarray) -> None:
        """Add the kernel windows of one calibration input to `columns`."""
        op = self.op
        _, _, oh, ow = op.output.type.shape
        taps = kernel_taps(pad2d(x.astype(np.float64), op.pads), self.weight.shape[2:], op.strides, op.dilations,
                           (oh, ow))
        windows = np.stack([view.reshape(x.shape[0], x.shape[1], oh * ow) for _, view in taps], axis=2)
        windows = windows.transpose(1, 2, 0, 3).reshape(x.shape[1] * self.taps, -1)
        self.columns = windows if self.columns is None else np.concatenate([self.columns, windows], axis=1)

    def proxies(self, genes: list[Gene]) -> np.ndarray:
        """Each gene's proxy: the layer's own relative output error on its calibration inputs."""
        step = max(1, self.columns.shape[1] // PIXELS)
        columns, flat = self.columns[:, ::step], self.weight.reshape(self.weight.shape[0], -1)
        scale = max(np.linalg.norm(flat @ columns), 1e-30)
        errors = []
        for start in range(0, len(genes), BATCH):
            chunk = genes[start : start + BATCH]
            deltas = np.concatenate([flat - self.materialized(gene).reshape(flat.shape) for gene in chunk]) @ columns
            errors += list(np.linalg.norm(deltas.reshape(len(chunk), -1), axis=1) / scale)
        return np.array(errors)

    def refined(self, gene: Gene) -> tuple[float, Gene]:
        """`gene` with the proxy's best input stride, then its best output stride, and its proxy."""
        (co, ci), (a, b, _, _) = self.weight.shape[:2], gene
        genes = [(a, b, a, s) for s in _strides(ci, b)]
        stride_i = genes[int(self.proxies(genes).argmin())][3]
        genes = [(a, b, s, stride_i) for s in _strides(co, a)]
        errors = self.proxies(genes)
        return float(errors.min()), genes[int(errors.argmin())]

    def candidates(self) -> list[Gene]:
        """Per crossbar count, most first: of the REFINED shapes whose plain repeat the proxy ranks best, the
        best with its strides refined."""
        costs: dict[int, list[Gene]] = {}
        for a, b in self.shapes:
            costs.setdefault(self.cost((a, b, a, b)), []).append((a, b, a, b))
        menu = []
        for cost in sorted(costs, reverse=True):
            plain = costs[cost]
            ranked = [plain[i] for i in np.argsort(self.proxies(plain), kind="stable")[:REFINED]]
            menu.append(min(self.refined(gene) for gene in ranked)[1])
        return menu

    def report(self, gene: Gene) -> str:
        co, ci = self.weight.shape[:2]
        if gene is not None:
            co_e, ci_e, so, si = gene
            norm = np.linalg.norm(self.weight)
            residual = np.linalg.norm(self.weight - self.materialized(gene)) / norm if norm > 0 else 0.0
            return (f"{self.name}: {co}x{ci} -> epitome {co_e}x{ci_e} patch [{co_e}, {ci_e}] stride [{so}, {si}], "
                    f"crossbars {self.unfolded} -> {self.cost(gene)}, projection error {residual:.3g}")
        if not self.menu:
            return f"{self.name}: {co}x{ci} kept, crossbars {self.unfolded}; no epitome takes fewer"
        (co_e, ci_e, so, si), alone = self.menu[-1]
        return (f"{self.name}: {co}x{ci} kept, crossbars {self.unfolded}; fewest alone: epitome {co_e}x{ci_e} "
                f"stride [{so}, {si}], crossbars {self.cost(self.menu[-1][0])}, output error {alone:.3g}")


class _TrialInterpreter(Interpreter):
    """pimc's interpreter with some weights, by ref, replaced."""

    def __init__(self, module: ModuleOp) -> None:
        super().__init__(module, record=False)
        self.replaced: dict[str, np.ndarray] = {}

    def weight(self, ref: str) -> np.ndarray:
        return self.replaced[ref] if ref in self.replaced else super().weight(ref)


class _Search:
    """The output error of each design (cached) and the search: sensitivity, greedy, evolution."""

    def __init__(self, module: ModuleOp, layers: list[_Layer], inputs: list[list[np.ndarray]], budget: float,
                 seed: int) -> None:
        self.layers, self.inputs, self.budget = layers, inputs, budget
        self.rng = np.random.default_rng(seed)
        self.trial = _TrialInterpreter(module)
        readers: dict[Value, list[_Layer]] = {}
        for layer in layers:
            readers.setdefault(layer.op.input, []).append(layer)

        def observe(value: Value, array: np.ndarray) -> None:
            for reader in readers.get(value, ()):
                reader.observe(array)

        observer = Interpreter(module, record=False, observer=observe)
        self.reference = [observer.run(x) for x in inputs]
        norm = np.sqrt(sum(np.sum(np.square(r, dtype=np.float64)) for refs in self.reference for r in refs))
        self.scale = float(norm) or 1.0  # all-zero outputs: the absolute error
        self.errors: dict[Design, float] = {(None,) * len(layers): 0.0}
        self.bounded: set[Design] = set()  # designs whose error is a lower bound

    def total(self, design: Design) -> int:
        return sum(layer.cost(gene) for layer, gene in zip(self.layers, design))

    def error(self, design: Design, full: bool = False) -> float:
        """The relative L2 error of the model's outputs with `design` against the unfolded model's. Unless `full`,
        measuring stops once the error exceeds the budget, and what it returns is then a lower bound."""
        if design not in self.errors or (full and design in self.bounded):
            self.trial.replaced = {layer.op.weight.op.ref: layer.materialized(gene).astype(layer.dtype)
                                   for layer, gene in zip(self.layers, design) if gene is not None}
            limit, squares = (self.budget * self.scale) ** 2, 0.0
            self.bounded.discard(design)
            for index, (x, refs) in enumerate(zip(self.inputs, self.reference)):
                squares += sum(float(np.sum(np.square(o.astype(np.float64) - r))) for o, r in zip(self.trial.run(x), refs))
                if squares > limit and not full and index + 1 < len(self.inputs):
                    self.bounded.add(design)
                    break
            self.errors[design] = float(np.sqrt(squares)) / self.scale
        return self.errors[design]

    def fitness(self, design: Design) -> tuple:
        error = self.error(design)
        return (error > self.budget, self.total(design), error)

    def run(self, generations: int) -> Design:
        """The feasible design with the fewest crossbars, then the least error, of those evaluated."""
        none = (None,) * len(self.layers)
        for index, layer in enumerate(self.layers):
            layer.menu = [(gene, self.error(none[:index] + (gene,) + none[index + 1 :], full=True))
                          for gene in layer.candidates()]
        design = self.greedy()
        if self.layers and generations:
            self.evolve(design, generations)
        return min(self.errors, key=self.fitness)

    def greedy(self) -> Design:
        """Fold one layer at a time, most crossbars saved per unit of error alone first, while within budget."""
        design = [None] * len(self.layers)
        moves = [(i, gene, alone) for i, layer in enumerate(self.layers) for gene, alone in layer.menu
                 if alone <= self.budget]
        while True:
            layers = self.layers
            open_moves = [m for m in moves if layers[m[0]].cost(m[1]) < layers[m[0]].cost(design[m[0]])]
            if not open_moves:
                return tuple(design)
            move = max(open_moves, key=lambda m: (layers[m[0]].cost(design[m[0]]) - layers[m[0]].cost(m[1]))
                       / max(m[2], 1e-12))
            moves.remove(move)
            trial = design.copy()
            trial[move[0]] = move[1]
            if self.error(tuple(trial)) <= self.budget:
                design = trial

    def evolve(self, start: Design, generations: int) -> None:
        """A seeded evolutionary search from `start`: the best half survives, and uniform crossover of two
        survivors, then one mutation, makes each child."""
        population = [start] + [self.mutate(start) for _ in range(POPULATION - 1)]
        for _ in range(generations):
            ranked = sorted(dict.fromkeys(population), key=self.fitness)
            parents = ranked[: POPULATION // 2]
            children = []
            while len(parents) + len(children) < POPULATION:
                a, b = (parents[i] for i in self.rng.integers(len(parents), size=2))
                mixed = tuple(x if keep else y for x, y, keep in zip(a, b, self.rng.random(len(a)) < 0.5))
                children.append(self.mutate(mixed))
            population = parents + children
        for design in population:
            self.error(design)

    def mutate(self, design: Design) -> Design:
        """Change one layer: a new shape (plain repeat) or unfolded, or a new stride along one dimension."""
        index = int(self.rng.integers(len(design)))
        layer, gene = self.layers[index], design[index]
        co, ci = layer.weight.shape[:2]
        kind = int(self.rng.integers(3))
        if gene is None or kind == 0:
            choices = [None, *layer.shapes]
            shape = choices[int(self.rng.integers(len(choices)))]
            gene = None if shape is None else (*shape, *shape)
        elif kind == 1:
            strides = _strides(co, gene[0])
            gene = (gene[0], gene[1], strides[int(self.rng.integers(len(strides)))], gene[3])
        else:
            strides = _strides(ci, gene[1])
            gene = (gene[0], gene[1], gene[2], strides[int(self.rng.integers(len(strides)))])
        return design[:index] + (gene,) + design[index + 1 :]

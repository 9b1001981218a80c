"""design-epitomes: choose each conv's epitome for the fewest crossbars within an output-error budget (EPIM).

    %y = nn.conv2d(%x, %w, %b) : (tensor<1x16x4x4xf32>, tensor<32x16x3x3xf32>, tensor<32xf32>) -> tensor<1x32x4x4xf32>
  ->   (budget=0.1)
    %y = ep.conv2d(%x, %w_epitome, %b) {patch = [32, 14], stride = [32, 1], projection_error = 0.29} : (...) -> ...

An epitome Co_E x Ci_E x kh x kw takes ceil(Ci_E*kh*kw / rows) * ceil(Co_E*ceil(weight_bits/cell_bits) / cols)
crossbars. Candidates keep pimc's sampling model with whole-epitome patches (patch = shape): a stride equal to
the shape is NES's plain repeat, a smaller one rotates where the channels wrap. The objective is the total
crossbars of the convs, then their ADC conversions, then their crossbar cycles (or either of those first),
each counted as the cost model counts the compiled layer; the constraint is the relative L2 error of the model's
outputs on calibration inputs against the unfolded model's, run in onnxruntime (pimc's interpreter for a
module it cannot export). The search (docs/epitome.md): a proxy, each conv's own output error on its
calibration inputs, ranks each conv's candidates into a menu; one run of the model per conv scales its
proxy to model error; a greedy pass, whose error target is corrected by measuring, takes the steps that
save the most per unit of squared error; a seeded evolutionary search refines. The
chosen layers fold as `fold-epitome` folds them; the module attribute `epitome_design` reports every layer.
"""

from __future__ import annotations

import dataclasses
import heapq
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from pimc.calibrate import Trials, calibration_inputs
from pimc.diagnostics import Diagnostic, DiagnosticError, op_error
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.nn_conv import Conv2dOp, WeightOp
from pimc.ir.location import names_of
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.targets.epim.fold_epitome import FoldEpitome
from pimc.targets.epim.candidates import Candidates, Gene
from pimc.text.printer import value_names

Design = tuple[Gene, ...]

Cost = Literal["crossbars", "conversions", "cycles"]  # what a design costs, in the order that breaks ties
COSTS: tuple[str, ...] = get_args(Cost)

POPULATION = 12
CORRECTIONS = 8  # measured corrections of the greedy pass's error target


@dataclass(frozen=True)
class DesignEpitomes(ModulePass):
    """Choose each conv's epitome for the fewest crossbars whose outputs stay within a relative error budget."""

    name = "design-epitomes"
    budget: float = param(0.05, "-", "largest relative L2 error of the model's outputs")
    rows: int = param(128, "rows", "crossbar height", 1, 1 << 16)
    cols: int = param(128, "columns", "crossbar width", 1, 1 << 16)
    cell_bits: int = param(2, "bits", "cell precision", 1, 16)
    weight_bits: int = param(8, "bits", "weight precision", 1, 16)
    calib: str = param("", "-", "an .npz of calibration inputs; seeded normal samples if empty")
    samples: int = param(16, "-", "how many inputs to measure the error on", 1, 1 << 16)
    seed: int = param(0, "-", "seed of the normal samples and of the evolutionary search")
    objective: Cost = param("crossbars", "-", "what to minimise first: crossbars, conversions (ADC conversions) or "
                            "cycles (crossbar cycles)")
    input_bits: int = param(8, "bits", "input precision", 1, 16)
    dac_bits: int = param(1, "bits", "input bits a DAC applies per crossbar cycle", 1, 16)
    generations: int = param(16, "-", "rounds of evolutionary refinement (0: greedy only)", 0, 1 << 16)
    layers: tuple[str, ...] = param((), "-", "convs to design, by ONNX node or SSA value name (default: every conv)")

    def check(self) -> None:
        if not self.budget > 0:
            raise ValueError(f"budget = {self.budget} must be a positive relative error of the outputs, e.g. 0.05")

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
                layers.append(Candidates(op, label, self))
            elif self.layers:
                raise op_error(op, f"cannot be designed as an epitome: {reason}")
            else:
                note = dataclasses.replace(op_error(op, f"is not designed: {reason}").diagnostic, severity="note")
                print(note.render("design-epitomes"), file=sys.stderr)
        trials = Trials(module, func, {layer.op.weight.op.ref for layer in layers})
        search = _Search(trials, layers, inputs, self)
        design = search.run(self.generations)
        report = [layer.report(gene) for layer, gene in zip(layers, design)]
        error = search.error(design, full=True)
        unfolded, folded = search.costs((None,) * len(layers)), search.costs(design)
        report.append(f"crossbars {unfolded['crossbars']} -> {folded['crossbars']} ({self.rows}x{self.cols}, {self.slices} cells per "
                      f"weight), ADC conversions {unfolded['conversions']:,} -> {folded['conversions']:,}, crossbar "
                      f"cycles {unfolded['cycles']:,} -> {folded['cycles']:,}, output error {error:.3g} (budget "
                      f"{self.budget:g}) on {len(inputs)} calibration inputs, {len(search.errors)} designs evaluated")
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


class _Search:
    """The output error of each design (cached) and the search: sensitivity, corrected greedy, evolution."""

    def __init__(self, trials: Trials, layers: list[Candidates], inputs: list[list[np.ndarray]],
                 spec: DesignEpitomes) -> None:
        self.trials, self.layers, self.inputs, self.budget = trials, layers, inputs, spec.budget
        self.order = (spec.objective, *(cost for cost in COSTS if cost != spec.objective))
        self.rng = np.random.default_rng(spec.seed)
        self.reference = []
        for x in inputs:
            outputs, seen = trials.observe(x, [layer.op.input for layer in layers])
            self.reference.append([o.astype(np.float64) for o in outputs])
            for layer, array in zip(layers, seen):
                layer.observe(array)
        for layer in layers:
            layer.measured()
        self.scale = float(np.sqrt(sum(_squares(refs) for refs in self.reference))) or 1.0  # all zero: absolute
        self.errors: dict[Design, float] = {(None,) * len(layers): 0.0}
        self.bounded: set[Design] = set()  # designs whose error is a lower bound

    def costs(self, design: Design) -> dict[str, int]:
        per_layer = [layer.costs(gene) for layer, gene in zip(self.layers, design)]
        return {cost: sum(c[cost] for c in per_layer) for cost in COSTS}

    def error(self, design: Design, full: bool = False) -> float:
        """The relative L2 error of the model's outputs with `design` against the unfolded model's. Unless `full`,
        measuring stops once the error exceeds the budget, and what it returns is then a lower bound."""
        if design in self.errors and not (full and design in self.bounded):
            return self.errors[design]
        replaced = {layer.op.weight.op.ref: layer.folded(gene) for layer, gene in zip(self.layers, design)
                    if gene is not None}
        limit, squares = (self.budget * self.scale) ** 2, 0.0
        self.bounded.discard(design)
        for index, (x, refs) in enumerate(zip(self.inputs, self.reference)):
            squares += _squares(o - r for o, r in zip(self.trials.run(x, replaced), refs))
            if squares > limit and not full and index + 1 < len(self.inputs):
                self.bounded.add(design)
                break
        self.errors[design] = float(np.sqrt(squares)) / self.scale
        return self.errors[design]

    def fitness(self, design: Design) -> tuple:
        error, costs = self.error(design), self.costs(design)
        return (error > self.budget, *(costs[cost] for cost in self.order), error)

    def run(self, generations: int) -> Design:
        """The feasible design with the least objective, then the other costs, then error, of those evaluated."""
        for layer in self.layers:
            layer.menu = layer.candidates()
            probe = min(layer.menu, key=lambda entry: abs(np.log(max(entry[1], 1e-12) / self.budget)), default=None)
            if probe is not None and probe[1] > 0:
                layer.scale = self.alone(layer, probe[0]) / probe[1]
        design = self.greedy()
        if self.layers and generations:
            self.evolve(design, generations)
        return min(self.errors, key=self.fitness)

    def alone(self, layer: Candidates, gene: Gene) -> float:
        """The relative L2 error of the model's outputs on the first calibration input, with `layer` alone folded."""
        outputs = self.trials.run(self.inputs[0], {layer.op.weight.op.ref: layer.folded(gene)})
        reference = self.reference[0]
        return float(np.sqrt(_squares(o - r for o, r in zip(outputs, reference)) / max(_squares(reference), 1e-300)))

    def greedy(self) -> Design:
        """The greedy design for an error target, corrected by the error measured: target *= budget / error until
        one target is within the budget and one over, then bisected (geometrically) between the two."""
        target, best = self.budget, (None,) * len(self.layers)
        within, over = 0.0, float("inf")  # the largest target within the budget, the smallest over it
        for _ in range(CORRECTIONS):
            design = self.knapsack(target)
            error = self.error(design, full=True)
            best = min(best, design, key=self.fitness)
            if abs(error - self.budget) < 0.02 * self.budget:
                break
            within, over = (max(within, target), over) if error <= self.budget else (within, min(over, target))
            if within and over < float("inf"):
                target = float(np.sqrt(within * over))
            else:
                target *= min(max(self.budget / error, 0.25), 4.0) if error else 4.0
        return best

    def knapsack(self, target: float) -> Design:
        """Walk each layer's menu, the step that saves the most per unit of estimated squared error first, while
        the estimated errors (each layer's scaled proxy, adding in squares) stay within target."""
        steps = [0] * len(self.layers)  # menu entries taken: 0 is unfolded
        room = target**2
        heap = [move for index in range(len(self.layers)) if (move := self._step(index, 0, room))]
        heapq.heapify(heap)
        while heap:
            _, index, to, added = heapq.heappop(heap)
            if to <= steps[index]:
                continue
            if added <= room:
                room -= added
                steps[index] = to
            if move := self._step(index, steps[index], room):
                heapq.heappush(heap, move)
        return tuple(None if s == 0 else self.layers[i].menu[s - 1][0] for i, s in enumerate(steps))

    def _estimate(self, index: int, step: int) -> float:
        layer = self.layers[index]
        return 0.0 if step == 0 else (layer.menu[step - 1][1] * layer.scale) ** 2

    def _step(self, index: int, at: int, room: float) -> tuple | None:
        """(-saving per added square, layer, menu step, added square) of the layer's best next step that adds at
        most `room` to the estimated squared error, or None."""
        layer, squares = self.layers[index], self._estimate(index, at)
        cost = layer.cost(None if at == 0 else layer.menu[at - 1][0])
        moves = [(-(cost - layer.cost(gene)) / max(added, 1e-24), index, to, added)
                 for to, (gene, _) in enumerate(layer.menu[at:], at + 1)
                 if (added := self._estimate(index, to) - squares) <= room]
        return min(moves, default=None)

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
        """Change one layer: one step along its menu either way, a random menu entry, alternative or unfolded,
        or, for a folded layer, a random stride along one dimension."""
        index, kind = int(self.rng.integers(len(design))), int(self.rng.integers(3))
        layer, gene = self.layers[index], design[index]
        menu = [None, *(entry for entry, _ in layer.menu)]
        if kind == 2 and gene is not None:
            axis = int(self.rng.integers(2))
            stride = int(self.rng.integers(1, gene[axis] + 1)) if layer.weight.shape[axis] > gene[axis] else gene[axis]
            gene = (*gene[:2], stride, gene[3]) if axis == 0 else (*gene[:3], stride)
        elif kind == 1 or gene not in menu:
            choices = [*menu, *layer.alternatives]
            gene = choices[int(self.rng.integers(len(choices)))]
        else:
            gene = menu[int(np.clip(menu.index(gene) + self.rng.choice([-1, 1]), 0, len(menu) - 1))]
        return design[:index] + (gene,) + design[index + 1 :]


def _squares(arrays) -> float:
    """The sum of the squares of every element of `arrays`."""
    return sum(float(np.sum(np.square(a))) for a in arrays)

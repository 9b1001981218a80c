"""adaptive-slicing: per layer, the fewest weight slices whose ADC saturation error stays within a budget (RAELLA).

    %m = xbar.mvm(%p) {weights = "conv2.matrix", ..., weight_bits = 8}
  ->
    %m = xbar.mvm(%p) {weights = "conv2.matrix", ..., weight_bits = 8, weight_slices = [4, 2, 2], slicing_error = 0.031}

Fewer slices mean fewer columns and conversions, but wider slices drive larger column sums into
a low-resolution ADC. For each layer (the MVMs of one weight matrix) the candidates are tried from
fewest slices to 1-bit slices (4b-4b, 4b-2b-2b, 2b-2b-2b-2b, ..., 1b x 8), each with its own
Center+Offset centers, on the layer's inputs recorded over calibration samples, and the first
whose error ||y - x.w|| / ||x.w|| is within `budget` is kept, y as RAELLA's crossbars compute it
(speculation, recovery and clamping: targets/raella/datapath.py). The last layer, the classifier,
takes 1-bit slices unless `classifier=search`, as RAELLA's artifact does. center-offset then fixes
the centers for the chosen slices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from pimc.calibrate import calibration_inputs
from pimc.dialects import xbar
from pimc.dialects.builtin import ModuleOp
from pimc.interp.interpreter import Interpreter
from pimc.interp.xbar_ops import kernel_product
from pimc.ir.core import Value
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.targets.raella.centers import CenterSearch
from pimc.targets.raella.datapath import CrossbarProduct, slicing_candidates
from pimc.threads import in_order, usable_cpus


@dataclass(frozen=True)
class AdaptiveSlicing(ModulePass):
    """Set every xbar.mvm's weight_slices: its layer's fewest slices within the saturation-error budget."""

    name = "adaptive-slicing"
    budget: float = param(0.02, "-", "largest ||y - x.w|| / ||x.w|| a layer may take", 0, 1)
    cell_bits: int = param(4, "bits", "widest slice one cell holds", 1, 8)
    adc_bits: int = param(7, "bits", "signed ADC resolution", 2, 16)
    spec_widths: tuple[int, ...] = param((3, 3, 2), "bits", "speculative input slices")
    speculation: bool = param(True, "-", "speculate and recover; false: 1-bit input slices")
    rows: int = param(512, "rows", "crossbar height: a layer's rows are cut into chunks of this many", 1, 1 << 16)
    classifier: Literal["single-bit", "search"] = param(
        "single-bit", "-", "the last layer's slicing: 1-bit slices, or searched like the others")
    calib: str = param("", "-", "an .npz of calibration inputs; seeded normal samples if empty")
    samples: int = param(4, "-", "how many inputs to record layer inputs on", 1, 1_000_000)
    vectors: int = param(256, "-", "at most this many input vectors per layer, evenly spaced", 1, 1_000_000_000)
    seed: int = param(0, "-", "seed of the normal samples")

    FIRST: ClassVar[int] = 64  # vectors of a first product: most candidates over budget show it there, and stop

    def apply(self, module: ModuleOp) -> None:
        (func,) = module.funcs()
        layers: dict[str, list[xbar.MvmOp]] = {}
        for op in func.body.ops:
            if isinstance(op, xbar.MvmOp):
                layers.setdefault(op.weights, []).append(op)
        if not layers:
            return
        inputs = self._recorded(module, func, {op.input for ops in layers.values() for op in ops})
        classifier = list(layers)[-1] if self.classifier == "single-bit" else None

        def choose(ref: str) -> tuple[tuple[int, ...], float]:
            bits = layers[ref][0].weight_bits
            candidates = [(1,) * bits] if ref == classifier else slicing_candidates(bits, min(self.cell_bits, bits))
            return self._choose(module.weights[ref], layers[ref], inputs, candidates)

        for ref, (widths, error) in zip(layers, in_order(choose, list(layers), usable_cpus())):  # layers side by side
            for op in layers[ref]:
                op.attributes["weight_slices"] = widths
                op.attributes["slicing_error"] = error

    def _choose(self, matrix: np.ndarray, ops: list[xbar.MvmOp], inputs: dict[Value, np.ndarray],
                candidates: list[tuple[int, ...]]) -> tuple[tuple[int, ...], float]:
        """The first candidate within budget over all of a layer's MVMs, and its error; else the last one's."""
        products = []  # per MVM: its inputs, weights and exact product, the same for every candidate
        for op in ops:
            (r0, r1), (c0, c1), offset = op.rows, op.cols, op.input_offset
            x, w = inputs[op.input][:, offset + r0 : offset + r1], matrix[r0:r1, c0:c1]
            products.append((x, w, kernel_product(x, w), (c0, c1)))
        squared = sum(float(np.square(exact, dtype=np.float64).sum()) for _, _, exact, _ in products)
        search = CenterSearch.of(matrix, sum(candidates[0]))  # every candidate slices the same bits
        for widths in candidates:
            ys = self._products(products, search.centers(widths), widths, squared if widths != candidates[-1] else 0.0)
            if ys is None:
                continue
            error = sum(float(np.square(y - exact, dtype=np.float64).sum()) for y, (_, _, exact, _) in zip(ys, products))
            relative = float(np.sqrt(error / squared)) if squared else (0.0 if error == 0 else 1.0)
            if relative <= self.budget:
                break
        return widths, round(relative, 6)

    def _products(self, products: list, centers: np.ndarray, widths: tuple[int, ...],
                  squared: float) -> list[np.ndarray] | None:
        """Each MVM's product as RAELLA's crossbars compute it with `widths`, its first vectors, then the others;
        None as soon as the error so far exceeds the budget (a little over it, so that the whole error would too,
        whatever its rounding) when `squared`, the exact products' squared norm, is given."""
        limit, error, ys = (self.budget * (1 + 1e-6)) ** 2 * squared, 0.0, []
        for x, w, exact, (c0, c1) in products:
            product, blocks = CrossbarProduct.of(w, centers[c0:c1], widths, self.rows), []
            for part in (slice(0, self.FIRST), slice(self.FIRST, None)):
                blocks.append(product(x[part], self.adc_bits, self.spec_widths, self.speculation))
                error += float(np.square(blocks[-1] - exact[part], dtype=np.float64).sum())
                if squared and error > limit:
                    return None
            ys.append(np.concatenate(blocks))
        return ys

    def _recorded(self, module: ModuleOp, func, wanted: set[Value]) -> dict[Value, np.ndarray]:
        """Each wanted value over the calibration samples, stacked by rows, at most `vectors` rows of it, in its
        integer type; the samples run side by side."""

        def run(sample: list[np.ndarray]) -> dict[Value, np.ndarray]:
            seen: dict[Value, np.ndarray] = {}

            def keep(value: Value, array: np.ndarray) -> None:
                if value in wanted:
                    seen[value] = array

            Interpreter(module, record=False, observer=keep, products=kernel_product).run(sample)
            return seen

        samples = calibration_inputs(func, self.calib, self.samples, self.seed, self.name)
        runs = list(in_order(run, samples, usable_cpus()))
        recorded = {}
        for value in wanted:
            arrays = [seen[value] for seen in runs if value in seen]
            if not arrays:
                continue
            starts = np.cumsum([0] + [len(a) for a in arrays])
            rows = np.linspace(0, starts[-1] - 1, min(starts[-1], self.vectors)).round().astype(np.int64)
            sample = np.searchsorted(starts, rows, side="right") - 1  # the rows of the samples stacked, not stacked
            recorded[value] = np.concatenate([a[rows[sample == k] - starts[k]] for k, a in enumerate(arrays)])
        return recorded

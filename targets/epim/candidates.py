"""Each conv's epitome candidates for design-epitomes, ranked by a proxy of the conv's own output error.

    layer = Candidates(conv, "/conv1/Conv", spec)     # spec: rows, cols, slices, objective, crossbars()
    layer.observe(x)                                  # per calibration input of the conv, then
    layer.measured()
    layer.menu = layer.candidates()                   # [((Co_E, Ci_E, sigma_o, sigma_i), proxy)], most cost first

The proxy of a gene is the conv's relative output error ||(W - M) X|| / ||W X|| on its calibration windows X,
M the least-squares epitome's materialisation. A conv too large for X X^T takes it as if its input
channels were uncorrelated: sum (w - m)^2 e[i] / sum w^2 e[i], e[i] the mean square of input channel i,
which needs only the sums of w and w e[i] over each epitome element's samples; those sums factor into
sums over output channels, then input channels (docs/epitome.md).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pimc.dialects import ep
from pimc.dialects.nn_canonicalize import constant
from pimc.dialects.nn_conv import Conv2dOp
from pimc.interp.nn_ops import kernel_taps, pad2d

Gene = tuple[int, int, int, int] | None  # (Co_E, Ci_E, sigma_o, sigma_i), patch = (Co_E, Ci_E); None: unfolded

STRIDES = 8  # rotations tried per dimension: every one up to 2 * STRIDES - 1, evenly thinned beyond
MENU = 12  # most menu entries per layer, spread evenly in log cost
BLOCKS = 8  # crossbar block counts tried per dimension: every one up to BLOCKS, then about 25% apart
COVARIANCE = 2 * 10**7  # a conv whose Co * (Ci*kh*kw)^2 is at most this gets the proxy with input correlations


def sizes(channels: int, capacity: int, width: int) -> set[int]:
    """Epitome sizes along one dimension: the divisors and halvings of `channels` (NES's sizes), and for a
    spread of counts of `capacity`-wide crossbar blocks, the most channels (each `width` wide) they hold."""
    blocks = -(-channels * width // capacity)
    counts = set(range(1, min(blocks, BLOCKS) + 1)) | {blocks}
    while max(counts) < blocks and (grown := round(max(c for c in counts if c < blocks) * 1.25)) < blocks:
        counts.add(grown)
    fits = {min(channels, m * capacity // width) for m in counts}
    divisors = {d for d in range(1, channels + 1) if channels % d == 0}
    return ({channels >> k for k in range(channels.bit_length())} | fits | divisors) - {0}


def strides(channels: int, size: int) -> list[int]:
    """Patch start strides to try along a dimension: `size` (the plain repeat) first, then the rotations 1 to
    size - 1, evenly thinned to at most 2 * STRIDES; only `size` when one patch covers the channels."""
    if channels <= size:
        return [size]
    return [size, *sorted(set(range(1, size, max(1, size // STRIDES))))]


def _group_sums(array: np.ndarray, size: int, stride: int, axis: int) -> np.ndarray:
    """Sums of `array`'s slices along `axis` by the epitome channel each reads: slice j = b * size + u reads
    channel (b * stride + u) mod size, so block b lands rotated by b * stride; blocks of one rotation are summed
    first."""
    count, rest = divmod(array.shape[axis], size)
    lead, trail = array.shape[:axis], array.shape[axis + 1 :]
    sums = np.zeros((*lead, size, *trail), array.dtype)
    blocks = array[(slice(None),) * axis + (slice(0, count * size),)].reshape(*lead, count, size, *trail)
    shifts = np.arange(count + 1) * stride % size
    for shift in np.unique(shifts[:count]):
        same = np.flatnonzero(shifts[:count] == shift)
        at = (slice(None),) * axis + (same[0] if len(same) == 1 else same,)
        block = blocks[at] if len(same) == 1 else blocks[at].sum(axis=axis)
        _add_rotated(sums, block, int(shift), axis)
    if rest:  # the last, partial block
        tail = np.zeros_like(sums)
        tail[(slice(None),) * axis + (slice(0, rest),)] = array[(slice(None),) * axis + (slice(count * size, None),)]
        _add_rotated(sums, tail, int(shifts[count]), axis)
    return sums


def _add_rotated(sums: np.ndarray, block: np.ndarray, shift: int, axis: int) -> None:
    """sums[u + shift mod size] += block[u] along `axis`, without a rotated copy."""
    size, at = sums.shape[axis], (slice(None),) * axis
    sums[(*at, slice(shift, None))] += block[(*at, slice(0, size - shift))]
    sums[(*at, slice(0, shift))] += block[(*at, slice(size - shift, None))]


def _frontier(menu: list[tuple[Gene, float]]) -> list[tuple[Gene, float]]:
    """Of (gene, proxy) pairs, cheapest first, those with a smaller proxy than every one before."""
    kept: list[tuple[Gene, float]] = []
    for gene, proxy in menu:
        if not kept or proxy < kept[-1][1]:
            kept.append((gene, proxy))
    return kept


def _spread(menu: list[tuple[Gene, float]], costs: list[int], most: int) -> list[tuple[Gene, float]]:
    """At most `most` entries of `menu` (cheapest first), evenly spaced in log `costs`, both ends kept."""
    if len(menu) <= most:
        return menu
    costs = np.log(costs)
    wanted = np.linspace(costs[0], costs[-1], most)
    return [menu[i] for i in sorted({int(np.abs(costs - w).argmin()) for w in wanted})]


def _dominated(shape: tuple[int, int], costs: dict[tuple[int, int], int], channels: tuple[int, int]) -> bool:
    """Whether a larger epitome costs as much as `shape`; one that tiles the weight exactly is kept."""
    (a, b), (co, ci) = shape, channels
    if co % a == 0 and ci % b == 0:
        return False
    return any(x >= a and y >= b and (x, y) != shape and cost == costs[shape] for (x, y), cost in costs.items())


class Candidates:
    """One conv being designed: its weight, its crossbars unfolded, its candidates and their proxy errors."""

    def __init__(self, op: Conv2dOp, name: str, spec) -> None:
        self.op, self.name, self.spec = op, name, spec
        self.weight = constant(op.weight).astype(np.float64)
        self.dtype = op.weight.type.element.numpy_dtype()
        co, ci, kh, kw = self.weight.shape
        self.taps, self.pixels = kh * kw, int(np.prod(op.output.type.shape[2:]))
        self.unfolded = spec.crossbars(co, ci, self.taps)
        shapes = [(a, b) for a in sizes(co, spec.cols, spec.slices) for b in sizes(ci, spec.rows, self.taps)
                  if spec.crossbars(a, b, self.taps) < self.unfolded]
        costs = {shape: self.cost((*shape, *shape)) for shape in shapes}
        self.shapes = sorted(shape for shape in shapes if not _dominated(shape, costs, (co, ci)))
        self._energy, self._inputs = np.zeros(ci), 0
        self._covariance = np.zeros((ci * self.taps,) * 2) if co * (ci * self.taps) ** 2 <= COVARIANCE else None
        self.menu: list[tuple[Gene, float]] = []  # the proxy's frontier of genes, most cost first
        self.alternatives: list[Gene] = []  # the proxy's best plain repeat per cost, for the evolution
        self.scale = 1.0  # model output error per unit of proxy, measured on one menu gene

    def crossbars(self, gene: Gene) -> int:
        return self.unfolded if gene is None else self.spec.crossbars(gene[0], gene[1], self.taps)

    def cost(self, gene: Gene) -> int:
        """What the search minimises first: crossbars, ADC conversions or crossbar cycles."""
        return self.costs(gene)[self.spec.objective]

    def costs(self, gene: Gene) -> dict[str, int]:
        """Per inference, as the cost model counts the compiled layer: its crossbars; its ADC conversions (each
        output pixel, in each input slice, converts every column of every row block); and its crossbar cycles
        (the slices of every pixel, the layer's crossbars working in parallel)."""
        co, ci = self.weight.shape[:2]
        co_e, ci_e = (co, ci) if gene is None else gene[:2]
        cycles = self.pixels * self.input_slices(gene)
        return {"crossbars": self.crossbars(gene), "cycles": cycles,
                "conversions": cycles * -(-ci_e * self.taps // self.spec.rows) * co_e * self.spec.slices}

    def input_slices(self, gene: Gene) -> int:
        """DAC steps per input: pre-summed inputs are wider by the most input channels that wrap onto one."""
        if gene is None:
            return -(-self.spec.input_bits // self.spec.dac_bits)
        wraps = int(np.bincount(ep.sample_indices(self.weight.shape[1], gene[1], gene[3], gene[1])).max())
        return -(-(((1 << self.spec.input_bits) - 1) * wraps).bit_length() // self.spec.dac_bits)

    @lru_cache(maxsize=32)  # noqa: B019  (the weights of the designs being evaluated)
    def folded(self, gene: Gene) -> np.ndarray:
        """The weight the gene's epitome stands for, in the conv's own element type."""
        return self.materialized(gene).astype(self.dtype)

    def materialized(self, gene: Gene) -> np.ndarray:
        """The weight the gene's epitome stands for, in float64."""
        co_e, ci_e, *stride = gene
        epitome = ep.project(self.weight, (co_e, ci_e), (co_e, ci_e), stride)
        return ep.materialize(epitome, *self.weight.shape[:2], (co_e, ci_e), stride)

    def observe(self, x: np.ndarray) -> None:
        """Add one calibration input of the conv to its statistics: each input channel's square, and, for a
        conv small enough, the products of its kernel windows (X X^T over the output pixels)."""
        self._energy += np.mean(np.square(x, dtype=np.float64), axis=(0, 2, 3))
        self._inputs += 1
        if self._covariance is None:
            return
        op = self.op
        _, _, oh, ow = op.output.type.shape
        taps = kernel_taps(pad2d(x.astype(np.float64), op.pads), self.weight.shape[2:], op.strides, op.dilations,
                           (oh, ow))
        windows = np.stack([view.reshape(x.shape[0], x.shape[1], oh * ow) for _, view in taps], axis=2)
        windows = windows.transpose(1, 2, 0, 3).reshape(x.shape[1] * self.taps, -1)
        self._covariance += windows @ windows.T

    def measured(self) -> None:
        """Fix the statistics the proxy weighs the weights by, once every calibration input is observed."""
        energy = self._energy / self._inputs if self._inputs else np.ones(self.weight.shape[1])
        flat = self.weight.reshape(*self.weight.shape[:2], self.taps)
        self.stacked = np.stack([flat, flat * energy[None, :, None]]).astype(np.float32)
        self.energy, self.total = energy, float(np.sum(flat * self.stacked[1]))
        if self._covariance is not None:
            rows = self.weight.reshape(self.weight.shape[0], -1)
            self.total = float(np.sum((rows @ self._covariance) * rows))

    def proxy(self, gene: Gene) -> float:
        """The layer's relative output error under the gene: ||(W - M) X|| / ||W X|| on its calibration windows X,
        M the least-squares epitome's materialisation; for a large conv, as if its input channels were
        uncorrelated: sum (w - m)^2 e[i] / sum w^2 e[i], with e[i] input channel i's mean square."""
        if self.total <= 0:
            return 0.0
        if self._covariance is not None:
            delta = (self.weight - self.materialized(gene)).reshape(self.weight.shape[0], -1)
            return float(np.sqrt(max(float(np.sum((delta @ self._covariance) * delta)), 0.0) / self.total))
        co_e, ci_e, so, si = gene
        co, ci = self.weight.shape[:2]
        rows, cols = ep.sample_indices(co, co_e, so, co_e), ep.sample_indices(ci, ci_e, si, ci_e)
        sums, weighted_sums = _group_sums(self._row_sums(co_e, so), ci_e, si, 2)
        counts = np.outer(np.bincount(rows, minlength=co_e), np.bincount(cols, minlength=ci_e)).astype(np.float32)
        energies = (np.bincount(rows, minlength=co_e)[:, None] * np.bincount(cols, self.energy, ci_e)[None, :])
        means = sums * np.divide(1, counts, out=np.zeros_like(counts), where=counts > 0)[:, :, None]
        error = self.total - float(np.sum(means * (2 * weighted_sums - means * energies.astype(np.float32)[:, :, None]),
                                          dtype=np.float64))
        return float(np.sqrt(max(error, 0.0) / self.total))

    @lru_cache(maxsize=4)  # noqa: B019  (layers live as long as one design-epitomes run)
    def _row_sums(self, co_e: int, stride: int) -> np.ndarray:
        """2 x Co_E x Ci x taps: the weights, then the weights times their input channel's energy, summed by
        the epitome row each output channel reads."""
        return _group_sums(self.stacked, co_e, stride, 1)

    def refined(self, gene: Gene) -> tuple[Gene, float]:
        """`gene` with the proxy's best input stride, then its best output stride, and its proxy."""
        (co, ci), (a, b, _, _) = self.weight.shape[:2], gene
        stride_i = min((self.proxy((a, b, a, s)), s) for s in strides(ci, b))[1]
        proxy, best = min((self.proxy((a, b, s, stride_i)), (a, b, s, stride_i)) for s in strides(co, a))
        return best, proxy

    def candidates(self) -> list[tuple[Gene, float]]:
        """The menu, most crossbars first: per crossbar count, the plain repeat the proxy ranks best; those
        on the frontier (no fewer crossbars with a smaller proxy) with their strides refined, on the frontier."""
        best: dict[int, tuple[float, Gene]] = {}
        for a, b in self.shapes:
            gene = (a, b, a, b)
            scored = (self.proxy(gene), gene)
            best[self.cost(gene)] = min(best.get(self.cost(gene), scored), scored)
        self.alternatives = [gene for _, (_, gene) in sorted(best.items())]
        plain = _frontier([(gene, proxy) for _, (proxy, gene) in sorted(best.items())])
        spread = _spread(plain, [self.cost(gene) for gene, _ in plain], MENU)
        return _frontier([self.refined(gene) for gene, _ in spread])[::-1]

    def report(self, gene: Gene) -> str:
        co, ci = self.weight.shape[:2]
        if gene is not None:
            co_e, ci_e, so, si = gene
            norm = np.linalg.norm(self.weight)
            residual = np.linalg.norm(self.weight - self.materialized(gene)) / norm if norm > 0 else 0.0
            return (f"{self.name}: {co}x{ci} -> epitome {co_e}x{ci_e} patch [{co_e}, {ci_e}] stride [{so}, {si}], "
                    f"crossbars {self.unfolded} -> {self.crossbars(gene)}, ADC conversions "
                    f"{self.costs(None)['conversions']:,} -> {self.costs(gene)['conversions']:,}, input slices "
                    f"{self.input_slices(None)} -> {self.input_slices(gene)}, projection error {residual:.3g}")
        if not self.menu:
            return f"{self.name}: {co}x{ci} kept, crossbars {self.unfolded}; no epitome takes fewer"
        (co_e, ci_e, so, si), proxy = self.menu[-1]
        return (f"{self.name}: {co}x{ci} kept, crossbars {self.unfolded}; fewest: epitome {co_e}x{ci_e} "
                f"stride [{so}, {si}], crossbars {self.crossbars(self.menu[-1][0])}, estimated output error "
                f"{proxy * self.scale:.3g}")

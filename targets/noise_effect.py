"""What noise does to a program, layer by layer: the error it adds to the crossbars' outputs and the ADC
saturations it causes, measured against the noise-free program on the same samples (docs/noise.md).

    effect = NoiseEffect.of(program, exact_sim, noisy_sim)
    effect.add(exact_sim, noisy_sim)         # after both ran the same sample
    effect.rows()  # [{"layer": "/fc/Gemm", "relative_l2": 0.031, "saturated": 12, "saturated_noise_free": 0}, ...]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pimc.targets.program import Program


@dataclass
class LayerEffect:
    """Per sample, the squared error and the squared noise-free output of the layer's MVM results (summed exactly
    at the end, so that shards add up to the same bits in any grouping); saturations."""

    error2: list[float] = field(default_factory=list)
    signal2: list[float] = field(default_factory=list)
    saturated: int = 0
    saturated_noise_free: int = 0


@dataclass
class NoiseEffect:
    """Per layer (in program order), what noise did; `buffers` and `crossbars`: each layer's MVM results and
    crossbars."""

    buffers: dict[str, list[str]]
    crossbars: dict[str, list[int]]
    layers: dict[str, LayerEffect] = field(default_factory=dict)
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)  # per layer: saturations counted, noisy and not

    @classmethod
    def of(cls, program: Program, exact, noisy) -> NoiseEffect:
        """An empty effect of the two simulators' program; saturations count from the simulators' totals now."""
        layer_of = {x.id: x.layer for x in program.crossbars}
        buffers: dict[str, list[str]] = {}
        for i in program.instructions:
            if i.op == "mvm" and i.args["dst"] not in buffers.setdefault(layer_of[i.args["xbar"]], []):
                buffers[layer_of[i.args["xbar"]]].append(i.args["dst"])
        crossbars: dict[str, list[int]] = {}
        for x in program.crossbars:
            crossbars.setdefault(x.layer, []).append(x.id)
        effect = cls(buffers, crossbars, {layer: LayerEffect() for layer in buffers})
        effect.seen = {layer: effect._saturated(layer, exact, noisy) for layer in buffers}
        return effect

    def add(self, exact, noisy) -> None:
        """The last sample both simulators ran."""
        for layer, effect in self.layers.items():
            names = self.buffers[layer]
            references = [exact.buffers[name].astype(np.float64) for name in names]
            effect.error2.append(sum(float(np.square(noisy.buffers[n] - r).sum()) for n, r in zip(names, references)))
            effect.signal2.append(sum(float(np.square(r).sum()) for r in references))
            now, before = self._saturated(layer, exact, noisy), self.seen[layer]
            effect.saturated_noise_free += now[0] - before[0]
            effect.saturated += now[1] - before[1]
            self.seen[layer] = now

    def _saturated(self, layer: str, exact, noisy) -> tuple[int, int]:
        return tuple(sum(sim.stats[x].saturated for x in self.crossbars[layer]) for sim in (exact, noisy))

    def merge(self, other: NoiseEffect) -> None:
        """Add another shard's sums."""
        for layer, effect in self.layers.items():
            theirs = other.layers[layer]
            effect.error2 += theirs.error2
            effect.signal2 += theirs.signal2
            effect.saturated += theirs.saturated
            effect.saturated_noise_free += theirs.saturated_noise_free

    def rows(self) -> list[dict]:
        return [{"layer": layer, "relative_l2": relative_l2(math.fsum(e.error2), math.fsum(e.signal2)),
                 "saturated": e.saturated, "saturated_noise_free": e.saturated_noise_free}
                for layer, e in self.layers.items()]


def relative_l2(error2: float, signal2: float) -> float:
    """||noisy - exact|| / ||exact||: 0 when both are 0, inf when only the exact output is."""
    if signal2:
        return round(float(np.sqrt(error2 / signal2)), 6)
    return 0.0 if not error2 else float("inf")


def print_effect(rows: list[dict], file, indent: str = "") -> None:
    """The per-layer table, as run and verify print it."""
    print(f"{indent}{'layer':<40} {'noise rel. L2':>13} {'saturated':>10} {'(noise-free)':>12}", file=file)
    for row in rows:
        print(f"{indent}{row['layer']:<40} {row['relative_l2']:>13.4g} {row['saturated']:>10,} "
              f"{row['saturated_noise_free']:>12,}", file=file)

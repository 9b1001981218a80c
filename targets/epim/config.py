"""The EPIM configuration (Wang et al., DAC 2024): ISAAC-like crossbars that hold each conv's epitome alone.

The crossbars, ADCs and component costs are ISAAC's (../shared/docs/domain.md §1.3): EPIM's paper gives
no crossbar size, ADC or DAC bits, or energies (§3.5). EPIM's own parts are the epitome stage (fold or
design), weights down to 3 bits, and the datapath of docs/epitome.md: input channels that wrap onto one
epitome channel are pre-summed by the digital unit (`xbar.wrap_sum`), and an address table routes each
epitome column to the output channels that read it (`xbar.route`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pimc.targets.base import ConfigError, param
from pimc.targets.crossbar import CrossbarConfig


@dataclass(frozen=True)
class EpimConfig(CrossbarConfig):
    """The shared crossbar options at ISAAC's values, weights of 3 to 8 bits, the epitome stage's options and the
    address tables' energy."""

    name = "epim"
    summary = "EPIM: epitomes on ISAAC-like crossbars, input pre-sums and output address tables, 3- to 8-bit weights"

    weight_bits: int = param(8, "bits", "weight precision: the epitome's, quantized per epitome row", 3, 8)
    fold_co: int = param(1, "-", "fold every conv into a plain-repeat epitome with ceil(Co / fold-co) output "
                         "channels (fold-epitome{divisors}); 1 with fold-ci = 1: no folding", 1, 4096)
    fold_ci: int = param(1, "-", "likewise, ceil(Ci / fold-ci) input channels", 1, 4096)
    design_budget: float = param(0.0, "relative L2 error", "design-epitomes' output error budget, on the "
                                 "calibration inputs; 0: no design", 0.0, 10.0)
    design_objective: Literal["crossbars", "conversions", "cycles"] = param(
        "crossbars", "-", "what design-epitomes minimises first: crossbars (area), ADC conversions (energy) or "
        "crossbar cycles (latency)")
    design_samples: int = param(4, "inputs", "calibration inputs design-epitomes measures the output error on; "
                                "each design it evaluates runs the model once per input", 1, 1024)
    design_generations: int = param(8, "-", "design-epitomes' rounds of evolutionary refinement", 0, 1000)
    table_lookup_pj: float = param(0.05, "pJ per entry", "[INF] one address-table read that routes an epitome "
                                   "column to an output channel: ISAAC's digital energy per element", 0.0, 1e6)

    def check(self) -> None:
        super().check()
        if self.design_budget > 0 and (self.fold_co, self.fold_ci) != (1, 1):
            raise ConfigError("design-budget and fold-co/fold-ci both choose the epitomes: give one of them")

    def stages(self, calib: str = "", samples: int = 16) -> list[tuple[str, str]]:
        """The crossbar stages, after an epitome stage if the options ask for one, with epitomes kept on crossbars."""
        stages = [(name, "lower-to-xbar{epitomes=true},canonicalize" if name == "lower" else spec)
                  for name, spec in super().stages(calib, samples)]
        calibration = f' calib="{calib}"' if calib else ""
        if self.design_budget > 0:
            return [("epitome", f"design-epitomes{{budget={self.design_budget:g} rows={self.xbar_rows} "
                                f"cols={self.xbar_cols} cell-bits={self.cell_bits} weight-bits={self.weight_bits} "
                                f"input-bits={self.input_bits} dac-bits={self.dac_bits} "
                                f"objective={self.design_objective} samples={self.design_samples} "
                                f"generations={self.design_generations}{calibration}}}"), *stages]
        if (self.fold_co, self.fold_ci) != (1, 1):
            return [("epitome", f"fold-epitome{{divisors={self.fold_co},{self.fold_ci}}}"), *stages]
        return stages

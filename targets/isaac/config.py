"""The ISAAC-like baseline configuration: the shared crossbar configuration's values, ISAAC's 32 nm costs.

Organization and costs from ../shared/docs/domain.md §1.3 (hwcomponents-library's isaac.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from pimc.targets.crossbar import CrossbarConfig


@dataclass(frozen=True)
class IsaacConfig(CrossbarConfig):
    name = "isaac"
    summary = "ISAAC-like baseline: bit-serial inputs, 2-bit cells, offset-encoded weights, 8-bit ADCs"

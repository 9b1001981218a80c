"""The MLG configuration (Gu et al., ICCV 2021): ISAAC-like crossbars running convs whose weights are generated.

The crossbars, ADCs and component costs are ISAAC's (../shared/docs/domain.md §1.3): MLG's paper maps
onto photonic or MNSIM crossbars without saying how (§4.5). MLG's own parts are two stages before
ISAAC's: `fold-mlg` (only with fold = true) decomposes every conv of an ordinary model into a basis
and two coefficient matrices of integer codes, and `lower-mlg` maps each generated weight onto plain
convs in the chosen mode (docs/mlg.md). A model whose convs are MLG layers (imported as mlg.generate)
needs no fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pimc.targets.base import ConfigError, param
from pimc.targets.isaac.config import IsaacConfig


@dataclass(frozen=True)
class MlgConfig(IsaacConfig):
    """IsaacConfig's keys, the fold's B_i, B_c and bit widths, and the mapping mode of generated weights."""

    name = "mlg"
    summary = "MLG: conv weights generated from low-bit bases and coefficients, mapped onto ISAAC-like crossbars"

    fold: bool = param(False, "-", "decompose every conv into MLG factors first (fold-mlg), as for a model trained "
                       "without MLG layers")
    b_i: int = param(2, "bases per kernel", "B_i: the fold's bases per kernel (intra-kernel level, used where "
                     "min(Ci, k*k) > B_i)", 1, 4096)
    b_c: int = param(44, "basis kernels", "B_c: the fold's basis kernels (cross-kernel level, used where "
                     "min(Co, Ci*k*k) > B_c)", 1, 65536)
    factor_bits: tuple[int, ...] = param((3, 6, 3), "bits", "q_b,q_u,q_v: the fold's bits of basis, U and V "
                                         "(DoReFa-symmetric odd codes)", 1, 16)
    mode: Literal["auto", "materialize", "two-stage", "three-stage"] = param(
        "auto", "-", "how a generated weight sits on crossbars: one conv with the generated integer W, a k x k "
        "conv with W_c then a 1 x 1 with V, or 1 x 1 U, depthwise W^b, 1 x 1 V; auto: fewest crossbars per layer")

    def check(self) -> None:
        super().check()
        if len(self.factor_bits) != 3:
            raise ConfigError(f"factor-bits = {','.join(map(str, self.factor_bits))} must be three bit widths: "
                              "q_b,q_u,q_v (basis, U, V), each from 1 to 16")

    def stages(self, calib: str = "", samples: int = 16) -> list[tuple[str, str]]:
        """`fold` (if asked) and `generate` before ISAAC's stages."""
        bits = ",".join(map(str, self.factor_bits))
        lower = ("generate", f"lower-mlg{{mode={self.mode} rows={self.xbar_rows} cols={self.xbar_cols} "
                             f"cell-bits={self.cell_bits}}}")
        fold = [("fold", f"fold-mlg{{b-i={self.b_i} b-c={self.b_c} bits={bits}}}")] if self.fold else []
        return [*fold, lower, *super().stages(calib, samples)]

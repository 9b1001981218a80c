"""The MLG configuration (Gu et al., ICCV 2021): ISAAC-like crossbars running convs whose weights are generated.

The crossbars, ADCs and component costs are ISAAC's (../shared/docs/domain.md §1.3): MLG's paper maps
onto photonic or MNSIM crossbars without saying how (§4.5). MLG's own parts are two stages before
ISAAC's: `fold-mlg` (only with fold = true) decomposes every conv of an ordinary model into a basis
and two coefficient matrices of integer codes, `integer-mlg` gives each generated weight its exact integer
form for `quantize`, and `lower-mlg`, after it, maps each layer onto crossbar stages in the chosen mode
(docs/mlg.md). A model whose convs are MLG layers (imported as mlg.generate) needs no fold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    layers: str = param("", "-", "the fold's own setting of some convs: 'NAME=B_i,B_c,q_b,q_u,q_v' each (B_i or B_c 0: "
                        "no such level), separated by ';'")
    factor_bits: tuple[int, ...] = param((3, 6, 3), "bits", "q_b,q_u,q_v: the fold's bits of basis, U and V "
                                         "(DoReFa-symmetric odd codes)", 1, 16)
    mode: Literal["auto", "materialize", "two-stage", "three-stage"] = param(
        "auto", "-", "how a generated weight sits on crossbars: one conv with the generated integer W, a k x k "
        "conv with W_c then a 1 x 1 with V, or 1 x 1 U, depthwise W^b, 1 x 1 V; auto: per layer, the least in objective")
    objective: Literal["crossbars", "conversions", "cycles"] = param(
        "crossbars", "-", "what mode = auto minimises per layer: crossbars, ADC conversions or crossbar cycles")
    inter_bits: int = param(0, "bits", "the intermediates between stages: 0 keeps them exact (wider inputs, more "
                            "input slices); 2 to 16 requantizes them over their calibrated range (lossy)", 0, 16)
    reload: bool = param(False, "-", "run a model that needs more crossbars than `chips` chips have: placed over as many "
                         "chip-loads as it needs (up to 4096), its weights reloaded and reprogrammed every inference")
    gen_mult_pj: float = param(0.2, "pJ per 8b x 8b multiply", "generation unit multiplier, scaled by the product of "
                               "its operands' bits (RAELLA's 8b x 8b multiplier, 40 nm)", 0.0, 1e6)
    gen_lanes: int = param(32, "MACs per cycle", "generation unit multiply-adds per clock cycle per tile", 1, 1 << 16)
    cell_write_pj: float = param(44.0, "pJ per cell", "programming one ReRAM cell: a 2 V, 40 ns pulse through 2 kOhm "
                                 "(set, 80 pJ) or 20 kOhm (reset, 8 pJ), their mean", 0.0, 1e6)
    cell_write_ns: float = param(40.0, "ns per row", "programming one crossbar row (its cells in parallel)", 0.0, 1e6)
    dram_pj_per_bit: float = param(20.0, "pJ per bit", "DRAM read of stored weights (1.3 nJ per 64-bit access, "
                                   "Horowitz ISSCC 2014)", 0.0, 1e6)
    dram_gbps: float = param(25.6, "GB/s", "DRAM bandwidth (one DDR4-3200 channel)", 0.001, 1e6)

    def check(self) -> None:
        super().check()
        if self.reload and self.duplicate:
            raise ConfigError("reload = true and duplicate = true do not go together: a model reloaded every inference "
                              "has no spare crossbars to copy its layers into")
        if self.inter_bits == 1:
            raise ConfigError("inter-bits = 1 is out of range: 0 (exact) or 2 to 16 bits")
        if len(self.factor_bits) != 3:
            raise ConfigError(f"factor-bits = {','.join(map(str, self.factor_bits))} must be three bit widths: "
                              "q_b,q_u,q_v (basis, U, V), each from 1 to 16")

    def stages(self, calib: str = "", samples: int = 16) -> list[tuple[str, str]]:
        """`fold` (if asked) and `generate` before ISAAC's stages; lower-mlg after quantize, in its stage."""
        bits = ",".join(map(str, self.factor_bits))
        calibration = f' calib="{calib}"' if calib else ""
        layers = f' layers="{self.layers}"' if self.layers else ""
        fold = [("fold", f"fold-mlg{{b-i={self.b_i} b-c={self.b_c} bits={bits}{layers}{calibration} "
                         f"samples={samples}}}")] if self.fold else []
        (name, quantize), *rest = super().stages(calib, samples)
        lower = (f"lower-mlg{{mode={self.mode} objective={self.objective} inter-bits={self.inter_bits} "
                 f"rows={self.xbar_rows} cols={self.xbar_cols} cell-bits={self.cell_bits} dac-bits={self.dac_bits}"
                 f"{calibration} samples={samples}}}")
        *rest, place = rest
        place = replace(self, chips=4096).place_stage() if self.reload else place
        return [*fold, ("generate", "integer-mlg"), (name, f"{quantize},{lower}"), *rest, place]

"""The FlexSpIM configuration (Chauvaux, Kneip, Frenkel, ISCAS 2025; ../shared/docs/domain.md §5).

    flexspim{macros=2 weight-bits=8 vmem-bits=16 stationary=hs-min}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pimc.targets.base import ConfigError, TargetConfig, param


@dataclass(frozen=True)
class FlexspimConfig(TargetConfig):
    name = "flexspim"
    summary = "FlexSpIM: event-driven spiking CNNs on 512x256 digital SRAM CIM macros holding weights and membranes"
    derived = {"macro_bits": ("bits", "bit cells per macro: rows x columns"),
               "sop_pj": ("pJ per SOP", "in-array energy of one synaptic operation: sop-fj x weight-bits x vmem-bits")}

    array_rows: int = param(512, "rows", "bit-cell rows per macro", 1, 1 << 16)
    array_cols: int = param(256, "columns", "bit-cell columns per macro (one full adder each)", 1, 1 << 16)
    macros: int = param(2, "macros", "macros on the chip", 1, 4096)
    weight_bits: tuple[int, ...] = param((8,), "bits", "weight precision, one for all layers or one per layer", 1, 16)
    vmem_bits: tuple[int, ...] = param((16,), "bits", "membrane precision, one for all layers or one per layer", 2, 16)
    overflow: Literal["saturate", "wrap"] = param("saturate", "-", "membrane overflow after a timestep's accumulation")
    reset: Literal["subtract", "zero"] = param("subtract", "-", "reset of a neuron that fired: subtract the threshold "
                                               "(Sinabs, Speck) or set to zero; NIR leaves it open")
    compare: Literal["gt", "ge"] = param("gt", "-", "fire when v > threshold (NIR's rule) or v >= threshold")
    dt: float = param(1e-4, "s", "timestep for NIR LIF nodes: beta = 1 - dt / tau (snnTorch's and Sinabs' 1e-4)",
                      1e-12, 1e6)
    stationary: Literal["hs-min", "ws", "os"] = param(
        "hs-min", "-", "which operand stays in the macros: per layer the smaller footprint (HS-min), weights (ws) "
                       "or membranes (os)")
    layer_stationary: tuple[int, ...] = param((0,), "-", "per-layer override of the stationary operand: 0 the "
                                              "stationary rule, 1 weights, 2 membranes; one for all or one per layer",
                                              0, 2)
    sop_fj: float = param(50.4, "fJ per 1-bit SOP", "in-array energy per synaptic operation divided by weight-bits "
                          "x vmem-bits (paper: 44.5-56.3)", 0.0, 1e6)
    standby_fraction: float = param(0.13, "-", "energy of a column in precharge standby relative to an active one "
                                    "(paper: -87%)", 0.0, 1.0)
    transfer_factor: float = param(4.3, "-", "energy per bit moved between buffer and macro, relative to the macro's "
                                   "energy per bit accessed (paper: 4.3x at one macro)", 0.0, 1e6)
    phase_ghz: float = param(0.942, "GHz", "internal CIM phase clock", 0.001, 100.0)
    phases_per_bit: int = param(5, "phases", "phases of the bit-serial in-memory full adder per operand row", 1, 64)

    @property
    def macro_bits(self) -> int:
        return self.array_rows * self.array_cols

    @property
    def sop_pj(self) -> float:
        return self.sop_fj * self.weight_bits[0] * self.vmem_bits[0] / 1e3

    def stages(self, calib: str = "", samples: int = 16) -> list[tuple[str, str]]:
        """None: flexspim has no crossbar stages (NIR files compile in driver.py)."""
        raise ConfigError("the flexspim target compiles NIR files (.nir) with pimc compile, eval and verify; it has no "
                          "crossbar stages for ONNX models or pimc sweep")

    def per_layer(self, values: tuple, count: int, option: str) -> list:
        """One value per layer from a list of one or `count` values."""
        if len(values) not in (1, count):
            raise ConfigError(f"{option} has {len(values)} values, but the network has {count} layers "
                              "(give one value, or one per layer)")
        return list(values) * count if len(values) == 1 else list(values)

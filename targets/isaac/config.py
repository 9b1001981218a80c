"""The ISAAC-like baseline configuration, with ISAAC's 32 nm component costs.

Organization and costs from ../shared/docs/domain.md §1.3 (hwcomponents-library's isaac.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pimc.targets.base import ConfigError, TargetConfig, param

# ADC energy (pJ per conversion) and area (µm²) by resolution: Saberi-model scaling of a SAR ADC.
ADC_BY_BITS = {4: (0.79, 361), 5: (0.99, 477), 6: (1.20, 627), 7: (1.42, 845), 8: (1.667, 1200), 9: (1.97, 1828), 10: (2.38, 3002)}


@dataclass(frozen=True)
class IsaacConfig(TargetConfig):
    name = "isaac"
    summary = "ISAAC-like baseline: bit-serial inputs, 2-bit cells, offset-encoded weights, 8-bit ADCs"
    derived = {
        "adc_pj": ("pJ per conversion", "ADC energy at adc-bits"),
        "adc_um2": ("µm²", "ADC area at adc-bits"),
    }

    xbar_rows: int = param(128, "rows", "crossbar height (word lines)", 1, 4096)
    xbar_cols: int = param(128, "columns", "crossbar width (bit lines)", 1, 4096)
    cell_bits: int = param(2, "bits", "bits stored per cell", 1, 8)
    weight_bits: int = param(8, "bits", "weight precision", 1, 16)
    input_bits: int = param(8, "bits", "activation precision", 1, 16)
    output_bits: int = param(16, "bits", "precision of partial sums after shift-and-add", 8, 64)
    dac_bits: int = param(1, "bits", "input bits applied per crossbar cycle", 1, 8)
    adc_bits: int = param(8, "bits", "ADC resolution", 4, 10)
    adcs_per_xbar: int = param(1, "ADCs", "ADCs shared by one crossbar's columns", 1, 4096)
    signed_encoding: Literal["offset", "differential"] = param(
        "offset", "-", "how signed weights sit in unsigned cells: an offset, or a pair of columns")
    xbars_per_ima: int = param(8, "crossbars", "crossbars per in-situ MAC array (IMA)", 1, 1024)
    imas_per_tile: int = param(12, "IMAs", "IMAs per tile", 1, 1024)
    tiles: int = param(168, "tiles", "tiles per chip", 1, 1_000_000)
    edram_kib: int = param(64, "KiB", "eDRAM buffer per tile", 1, 1 << 20)
    xbar_read_ns: float = param(100.0, "ns", "one crossbar read (all columns converted)", 0.1, 1e6)
    clock_ghz: float = param(1.2, "GHz", "digital clock", 0.01, 10.0)
    dac_pj: float = param(0.41667, "pJ per 1-bit conversion", "DAC energy per row and cycle", 0.0, 1e6)
    edram_pj: float = param(20.45, "pJ per 256-bit access", "eDRAM access energy", 0.0, 1e6)
    router_pj: float = param(20.74, "pJ per 256-bit flit", "inter-tile router energy", 0.0, 1e6)
    bus_pj_per_bit: float = param(0.054, "pJ per bit", "eDRAM-to-IMA bus energy", 0.0, 1e6)
    shift_add_pj: float = param(0.021, "pJ per 16-bit operation", "shift-and-add energy", 0.0, 1e6)
    dac_um2: float = param(0.166, "µm²", "DAC area", 0.0, 1e9)
    edram_um2: float = param(83_000.0, "µm²", "eDRAM area per tile", 0.0, 1e12)
    router_um2: float = param(37_500.0, "µm²", "router area per tile (one router serves 4 tiles)", 0.0, 1e12)
    shift_add_um2: float = param(60.0, "µm²", "shift-and-add unit area", 0.0, 1e9)

    def check(self) -> None:
        if self.dac_bits > self.input_bits:
            raise ConfigError(f"dac-bits = {self.dac_bits} exceeds input-bits = {self.input_bits}")

    @property
    def adc_pj(self) -> float:
        """ADC energy per conversion at this resolution."""
        return ADC_BY_BITS[self.adc_bits][0]

    @property
    def adc_um2(self) -> float:
        return float(ADC_BY_BITS[self.adc_bits][1])

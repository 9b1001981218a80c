"""What every crossbar target configures: `CrossbarConfig`, with ISAAC's values as defaults (domain.md §1.3).

    @dataclass(frozen=True)
    class RaellaConfig(CrossbarConfig):
        xbar_rows: int = param(512, "rows", "crossbar height (word lines)", 1, 4096)     # a shared option, its value
        spec_widths: tuple[int, ...] = param((3, 3, 2), "bits", "...", 1, 8, section="crossbar")   # its own

The emitter, the simulator and the cost model read these options by name (a program's `config`). A target
redeclares a shared option to change its default, meaning or range, and adds its own, listed at the end of
the section it names: crossbar (geometry, cells, precisions, DAC), organisation (ADCs, encoding, IMAs,
tiles, chips, mapping, buffers), energy (times and energies per event), area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pimc.targets.base import ConfigError, TargetConfig, param

# ADC energy (pJ per conversion) and area (µm²) by resolution: Saberi-model scaling of ISAAC's 8-bit SAR ADC
# (domain.md §1.3). Every analog target converts with these.
ADC_BY_BITS = {4: (0.79, 361), 5: (0.99, 477), 6: (1.20, 627), 7: (1.42, 845), 8: (1.667, 1200), 9: (1.97, 1828),
               10: (2.38, 3002)}


@dataclass(frozen=True)
class CrossbarConfig(TargetConfig):
    """Crossbars of cells behind DACs and ADCs, grouped into IMAs, tiles and chips, with their component costs."""

    derived = {"adc_pj": ("pJ per conversion", "ADC energy at adc-bits"), "adc_um2": ("µm²", "ADC area at adc-bits")}

    xbar_rows: int = param(128, "rows", "crossbar height (word lines)", 1, 4096, section="crossbar")
    xbar_cols: int = param(128, "columns", "crossbar width (bit lines)", 1, 4096)
    cell_bits: int = param(2, "bits", "bits stored per cell", 1, 8)
    weight_bits: int = param(8, "bits", "weight precision", 1, 16)
    input_bits: int = param(8, "bits", "activation precision", 1, 16)
    output_bits: int = param(16, "bits", "precision of partial sums after shift-and-add", 8, 64)
    dac_bits: int = param(1, "bits", "input bits applied per crossbar cycle", 1, 8)
    adc_bits: int = param(8, "bits", "ADC resolution", 4, 10, section="organisation")
    adcs_per_xbar: int = param(1, "ADCs", "ADCs shared by one crossbar's columns", 1, 4096)
    adc_step: int = param(1, "column-sum units", "column sum per ADC code: the ADC spans step x (2^adc-bits - 1)", 1, 1 << 16)
    adc_gsps: float = param(1.28, "GS/s", "conversions per second of one ADC", 0.001, 1000.0)
    signed_encoding: Literal["offset", "differential"] = param(
        "offset", "-", "how signed weights sit in unsigned cells: an offset, or a pair of columns")
    column_flip: bool = param(True, "-", "ISAAC's inverted columns: a column whose levels sum past half "
                              "its maximum stores max - level, so 128-row sums fit an 8-bit ADC")
    xbars_per_ima: int = param(8, "crossbars", "crossbars per in-situ MAC array (IMA)", 1, 1024)
    imas_per_tile: int = param(12, "IMAs", "IMAs per tile", 1, 1024)
    tiles: int = param(168, "tiles", "tiles per chip", 1, 1_000_000)
    chips: int = param(1, "chips", "chips the model may span", 1, 4096)
    duplicate: bool = param(False, "-", "copy the weights of slow layers onto spare IMAs to balance the layer pipeline")
    pack_groups: bool = param(True, "-", "put several groups of a grouped or depthwise conv on one crossbar, each "
                              "on its own diagonal block (pack-groups)")
    edram_kib: int = param(64, "KiB", "eDRAM buffer per tile", 1, 1 << 20)
    xbar_read_ns: float = param(100.0, "ns", "one crossbar read (all columns converted)", 0.1, 1e6, section="energy")
    clock_ghz: float = param(1.2, "GHz", "digital clock", 0.01, 10.0)
    dac_pj: float = param(0.41667, "pJ per 1-bit conversion", "DAC energy per row and cycle", 0.0, 1e6)
    edram_pj: float = param(20.45, "pJ per 256-bit access", "eDRAM access energy", 0.0, 1e6)
    router_pj: float = param(20.74, "pJ per 256-bit flit", "inter-tile router energy", 0.0, 1e6)
    bus_pj_per_bit: float = param(0.054, "pJ per bit", "eDRAM-to-IMA bus energy", 0.0, 1e6)
    shift_add_pj: float = param(0.021, "pJ per 16-bit operation", "shift-and-add energy", 0.0, 1e6)
    xbar_read_pj: float = param(30.0, "pJ per read", "crossbar array energy per read of all rows (2.4 mW per IMA of "
                                "8 arrays over 100 ns)", 0.0, 1e6)
    digital_pj: float = param(0.05, "pJ per element", "tile digital unit energy per 16-bit vector element "
                              "(add, requantize, pool)", 0.0, 1e6)
    digital_lanes: int = param(32, "elements per cycle", "tile digital unit width", 1, 1 << 16)
    xbar_um2: float = param(25.0, "µm²", "crossbar array area", 0.0, 1e9, section="area")
    ima_buffers_um2: float = param(2177.0, "µm²", "IMA input and output register area (2 KB + 256 B)", 0.0, 1e9)
    dac_um2: float = param(0.166, "µm²", "DAC area", 0.0, 1e9)
    edram_um2: float = param(83_000.0, "µm²", "eDRAM area per tile", 0.0, 1e12)
    router_um2: float = param(37_500.0, "µm²", "router area per tile (one router serves 4 tiles)", 0.0, 1e12)
    shift_add_um2: float = param(60.0, "µm²", "shift-and-add unit area", 0.0, 1e9)
    shift_adds_per_ima: int = param(4, "units", "shift-and-add units per IMA (ISAAC's 4, shared by its 8 ADCs)", 1, 4096)

    @property
    def adc_pj(self) -> float:
        return ADC_BY_BITS[self.adc_bits][0]

    @property
    def adc_um2(self) -> float:
        return float(ADC_BY_BITS[self.adc_bits][1])

    def check(self) -> None:
        if self.dac_bits > self.input_bits:
            raise ConfigError(f"dac-bits = {self.dac_bits} exceeds input-bits = {self.input_bits}")
        if self.cell_bits > self.weight_bits:
            raise ConfigError(f"cell-bits = {self.cell_bits} exceeds weight-bits = {self.weight_bits}")

    def stages(self, calib: str = "", samples: int = 16) -> list[tuple[str, str]]:
        """The named pipelines `pimc compile` runs, in order; `calib` and `samples` are quantize's calibration."""
        crossbar = (f"rows={self.xbar_rows} cols={self.xbar_cols} cell-bits={self.cell_bits} "
                    f"encoding={self.signed_encoding}")
        packing = f"pack-groups{{{crossbar}}}," if self.pack_groups else ""
        return [
            self.quantize_stage(calib, samples),
            ("lower", "lower-to-xbar,canonicalize"),
            ("slice", f"{packing}slice-weights{{{crossbar}}},slice-inputs{{dac-bits={self.dac_bits}}}"),
            self.place_stage(),
        ]

    def quantize_stage(self, calib: str, samples: int) -> tuple[str, str]:
        """The `quantize` stage: weight and input bits, calibrated on `calib` or seeded samples."""
        calibration = f' calib="{calib}"' if calib else ""
        return ("quantize", f"quantize{{weight-bits={self.weight_bits} act-bits={self.input_bits}{calibration} "
                            f"samples={samples}}}")

    def place_stage(self) -> tuple[str, str]:
        """The `place` stage: crossbar size and organisation."""
        return ("place", f"place-tiles{{rows={self.xbar_rows} cols={self.xbar_cols} xbars-per-ima={self.xbars_per_ima} "
                         f"imas-per-tile={self.imas_per_tile} tiles={self.tiles} chips={self.chips} "
                         f"duplicate={str(self.duplicate).lower()}}}")

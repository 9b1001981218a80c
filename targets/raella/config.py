"""The RAELLA configuration (Andrulis, Emer, Sze, ISCA 2023), at 32 nm.

Organization from ../shared/docs/domain.md §2.1 (mit-emze/raella's artifact: arch.yaml, variables.yaml);
the ADC, eDRAM, router, bus and shift-add costs are ISAAC's (§1.3), the ADC at 7 bits from the same
table. Values marked [INF] in a field's meaning are our scaling of an ISAAC constant, not RAELLA's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pimc.targets.base import ConfigError, param
from pimc.targets.crossbar import CrossbarConfig


@dataclass(frozen=True)
class RaellaConfig(CrossbarConfig):
    """RAELLA: Center+Offset weights in 2T2R cells, adaptive weight slicing, speculative input slices, 7-bit ADCs.

    The shared crossbar options at RAELLA's values, and its own: the speculation slices, the adaptive-slicing
    budget, the scales' buffer, the requantization and center-correction energies.
    """

    name = "raella"
    summary = "RAELLA: Center+Offset 2T2R weights, adaptive slicing, speculation and recovery, 7-bit signed ADCs"
    derived = {
        **CrossbarConfig.derived,
        "adc_low": ("column-sum units", "lowest ADC code, -(2^(adc-bits-1) - 1)"),
        "adc_high": ("column-sum units", "highest ADC code, 2^(adc-bits-1)"),
        "activations_per_input": ("crossbar activations", "per input vector: one per speculative slice and one per "
                                  "input bit (3 + 8 = 11, latency x11/8), or one per input bit without speculation"),
    }

    xbar_rows: int = param(512, "rows", "crossbar height (word lines)", 1, 4096)
    xbar_cols: int = param(512, "columns", "crossbar width: 2T2R columns, one signed weight slice each", 1, 4096)
    cell_bits: int = param(4, "bits", "widest weight slice one ReRAM device holds (adaptive slicing picks 1 to "
                           "cell-bits per slice)", 1, 4)
    output_bits: int = param(16, "bits", "precision of partial sums after shift-and-add (outputs requantize to 8)",
                             8, 64)
    dac_bits: int = param(4, "bits", "widest input slice the pulse-train DAC applies in one crossbar activation", 1, 8)
    spec_widths: tuple[int, ...] = param((3, 3, 2), "bits", "speculative input slices, most significant first "
                                         "[INF: 3 slices from the x11/8 latency]; recovery re-applies them 1 bit at "
                                         "a time", 1, 8, section="crossbar")
    speculation: bool = param(True, "-", "speculate with spec-widths slices, then recover flagged columns with 1-bit "
                              "slices; false: 1-bit input slices only, every column converted")
    signed_planes: bool = param(False, "-", "an input with a zero point (signed real values) runs as a positive "
                                "and a negative plane in two passes, as RAELLA runs BERT's signed inputs; false: its "
                                "unsigned codes, as ISAAC offsets them and the artifact's CNN figures count them")
    adaptive_slicing: bool = param(True, "-", "per layer, the fewest weight slices whose saturation error is within "
                                   "error-budget; false: cell-bits-wide slices")
    error_budget: float = param(0.02, "-", "adaptive slicing's bound on ||y - x.w|| / ||x.w|| (Frobenius norms over "
                                "a layer's calibration outputs, y as the ADCs compute it); 0.02 reproduces the slicings "
                                "RAELLA's artifact records for ResNet-18 (the paper's 0.09 is in a metric it does not "
                                "define here) [INF]", 0.0, 1.0)
    adc_bits: int = param(7, "bits", "signed ADC resolution: codes -(2^(b-1) - 1) to 2^(b-1), clamped", 4, 10)
    adcs_per_xbar: int = param(4, "ADCs", "ADCs (each with a shift-add) shared by one crossbar's columns", 1, 4096)
    adc_step: int = param(1, "column-sum units", "column sum per ADC code", 1, 1)
    adc_gsps: float = param(1.28, "GS/s", "conversions per second of one ADC (4 ADCs convert 512 columns per "
                            "100 ns read)", 0.001, 1000.0)
    signed_encoding: Literal["center-offset"] = param(
        "center-offset", "-", "weights as a per-filter center (digital, times the input sum) plus a signed "
        "offset in sign-magnitude slices, each slice one differential 2T2R pair on one column")
    column_flip: bool = param(False, "-", "ISAAC's inverted columns; not used: 2T2R columns hold signed slices")
    xbars_per_ima: int = param(4, "crossbars", "crossbars per in-situ MAC array (IMA, a macro)", 1, 1024)
    imas_per_tile: int = param(8, "IMAs", "IMAs per tile", 1, 1024)
    tiles: int = param(32, "tiles", "tiles per chip (the artifact's 32; the paper fits 743 in 600 mm², iso-area "
                       "with ISAAC)", 1, 1_000_000)
    pack_groups: bool = param(True, "-", "put several groups of a grouped or depthwise conv on one crossbar, each "
                              "on its own diagonal block (pack-groups); a column's center is chosen over its "
                              "whole crossbar column, the other blocks' zeros included")
    edram_kib: int = param(64, "KiB", "eDRAM input/output buffer per tile", 1, 1 << 20)
    scales_kib: int = param(32, "KiB", "eDRAM of quantization scales per tile (FP16 scale + bias per output "
                            "channel)", 0, 1 << 20, section="organisation")
    xbar_read_ns: float = param(100.0, "ns", "one crossbar activation (speculation makes 11 per 8-bit input vector "
                                "instead of 8: the artifact's x11/8)", 0.1, 1e6)
    clock_ghz: float = param(1.0, "GHz", "digital clock (1 ns cycle)", 0.01, 10.0)
    dac_pj: float = param(0.41667, "pJ per 1-bit conversion", "DAC energy per row and cycle (ISAAC's; the "
                          "pulse-train DAC is modeled 1 bit per cycle) [INF]", 0.0, 1e6)
    xbar_read_pj: float = param(115.0, "pJ per read", "crossbar array energy per read of all rows: ISAAC's "
                                "1.83 fJ per device x 2 x 512 x 512 devices x 0.12, the typical slice value "
                                "ratio 0.06/0.5 of Center+Offset to ISAAC [INF]", 0.0, 1e6)
    digital_pj: float = param(0.05, "pJ per element", "tile digital unit energy per 16-bit vector element "
                              "(add, activation, pool)", 0.0, 1e6)
    quantize_pj: float = param(0.25, "pJ per output", "requantization multiply, 16b psum x scale -> 8b (RAELLA's "
                               "40 nm figure, unscaled)", 0.0, 1e6, section="energy")
    center_pj: float = param(0.15, "pJ per output", "Center+Offset correction: center x running input sum, a "
                             "4b x 12b multiply-subtract (0.2 pJ x 48/64 of an 8b x 8b multiply) [INF]", 0.0, 1e6)
    xbar_um2: float = param(2947.0, "µm²", "crossbar array area: 2 x 512 x 512 devices of 5.49 F² at 32 nm",
                            0.0, 1e9)
    ima_buffers_um2: float = param(4960.0, "µm²", "IMA buffers, 5,248 B at ISAAC's 0.945 µm²/B: 2 KB input, "
                                   "768 B psums+flags per crossbar, 128 B centers [INF]", 0.0, 1e9)
    dac_um2: float = param(0.166, "µm²", "DAC area per row (ISAAC's) [INF]", 0.0, 1e9)
    edram_um2: float = param(124_500.0, "µm²", "eDRAM area per tile, 96 KB at ISAAC's 83,000 µm² per 64 KB [INF]",
                             0.0, 1e12)
    shift_add_um2: float = param(60.0, "µm²", "shift-and-add unit area (one per ADC)", 0.0, 1e9)
    shift_adds_per_ima: int = param(16, "units", "shift-and-add units per IMA: one per ADC, 4 crossbars x 4", 1, 4096)

    def check(self) -> None:
        if self.column_flip:
            raise ConfigError("column-flip = true needs unsigned cells; raella's 2T2R columns hold signed slices")
        if self.cell_bits > self.weight_bits:
            raise ConfigError(f"cell-bits = {self.cell_bits} exceeds weight-bits = {self.weight_bits}")
        if sum(self.spec_widths) != self.input_bits:
            raise ConfigError(f"spec-widths = {','.join(map(str, self.spec_widths))} cover {sum(self.spec_widths)} "
                              f"bits, not input-bits = {self.input_bits}")
        if max(self.spec_widths) > self.dac_bits:
            raise ConfigError(f"spec-widths = {','.join(map(str, self.spec_widths))} has a slice wider than "
                              f"dac-bits = {self.dac_bits}")

    @property
    def adc_low(self) -> int:
        return -((1 << (self.adc_bits - 1)) - 1)

    @property
    def adc_high(self) -> int:
        return 1 << (self.adc_bits - 1)

    @property
    def activations_per_input(self) -> int:
        return len(self.spec_widths) + self.input_bits if self.speculation else self.input_bits

    def stages(self, calib: str = "", samples: int = 16) -> list[tuple[str, str]]:
        """The named pipelines `pimc compile` runs, in order. Adaptive slicing records layer inputs on at most
        4 of quantize's `samples` calibration inputs (thousands of vectors per layer on an image model)."""
        calibration = f' calib="{calib}"' if calib else ""
        widths = ",".join(map(str, self.spec_widths))
        speculation = str(self.speculation).lower()
        slicing = (f"adaptive-slicing{{budget={self.error_budget:g} cell-bits={self.cell_bits} adc-bits={self.adc_bits} "
                   f"spec-widths={widths} speculation={speculation} rows={self.xbar_rows}{calibration} "
                   f"samples={min(samples, 4)}}}," if self.adaptive_slicing else "")
        inputs = (f"widths={widths} speculate=true" if self.speculation else "dac-bits=1") + \
            f" signed-planes={str(self.signed_planes).lower()}"
        crossbar = f"rows={self.xbar_rows} cols={self.xbar_cols} cell-bits={self.cell_bits} encoding=center-offset"
        packing = f"pack-groups{{{crossbar}}}," if self.pack_groups else ""
        return [
            self.quantize_stage(calib, samples),
            ("lower", "lower-to-xbar,canonicalize"),
            ("slice", f"{packing}{slicing}center-offset{{cell-bits={self.cell_bits}}},slice-weights{{{crossbar}}},"
                      f"slice-inputs{{{inputs}}}"),
            self.place_stage(),
        ]

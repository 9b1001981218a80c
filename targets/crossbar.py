"""Bit slices, as the analog targets cut weights and inputs (domain.md §1.1), and what they share: ADC costs, stages.

A weight sits in cells `widths` bits at a time, most significant first, and an input is applied
to the rows the same way; `shifts` gives each slice's place value:

    slice_bits(values, (4, 2, 2))  ->  [values >> 4 & 15, values >> 2 & 3, values & 3]

The datapaths that compute with them are the targets' models (`pimc.targets.datapath`, docs/isa.md).
"""

from __future__ import annotations

import numpy as np

# ADC energy (pJ per conversion) and area (µm²) by resolution: Saberi-model scaling of ISAAC's 8-bit SAR ADC
# (domain.md §1.3). Every analog target converts with these.
ADC_BY_BITS = {4: (0.79, 361), 5: (0.99, 477), 6: (1.20, 627), 7: (1.42, 845), 8: (1.667, 1200), 9: (1.97, 1828),
               10: (2.38, 3002)}
ADC_DERIVED = {"adc_pj": ("pJ per conversion", "ADC energy at adc-bits"), "adc_um2": ("µm²", "ADC area at adc-bits")}


class AdcCosts:
    """The ADC's energy and area at a configuration's `adc_bits`, for `pimc targets` and the cost model."""

    adc_bits: int

    @property
    def adc_pj(self) -> float:
        return ADC_BY_BITS[self.adc_bits][0]

    @property
    def adc_um2(self) -> float:
        return float(ADC_BY_BITS[self.adc_bits][1])


def quantize_stage(config, calib: str, samples: int) -> tuple[str, str]:
    """The `quantize` stage of a crossbar target: its weight and input bits, calibrated on `calib` or seeded samples."""
    calibration = f' calib="{calib}"' if calib else ""
    return ("quantize", f"quantize{{weight-bits={config.weight_bits} act-bits={config.input_bits}{calibration} "
                        f"samples={samples}}}")


def place_stage(config) -> tuple[str, str]:
    """The `place` stage of a crossbar target: its crossbar size and organisation."""
    return ("place", f"place-tiles{{rows={config.xbar_rows} cols={config.xbar_cols} xbars-per-ima={config.xbars_per_ima} "
                     f"imas-per-tile={config.imas_per_tile} tiles={config.tiles} chips={config.chips} "
                     f"duplicate={str(config.duplicate).lower()}}}")


def shifts(widths: tuple[int, ...]) -> tuple[int, ...]:
    """Bits below each slice, for slices listed most significant first: (4, 2, 2) -> (4, 2, 0)."""
    return tuple(sum(widths[index + 1 :]) for index in range(len(widths)))


def slice_bits(values: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Unsigned `values` cut into slices, most significant first: shape (len(widths), *values.shape)."""
    return np.stack([(values >> shift) & ((1 << width) - 1) for shift, width in zip(shifts(widths), widths)])



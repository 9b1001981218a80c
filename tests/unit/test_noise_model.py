"""The noise model's draws (targets/noise.py), checked statistically with fixed seeds.

Tolerances: a mean of n independent draws of σ has standard error σ/sqrt(n), a sample standard deviation about
σ/sqrt(2n), a binomial fraction sqrt(p(1-p)/n); each test allows 5 standard errors, which a correct model
exceeds with probability below 1e-6 per check, so the seeds chosen by hypothesis cannot make it flaky."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.targets.base import ConfigError
from pimc.targets.noise import CrossbarNoise, parse_noise

DRAWS = 40_000


def noise(spec: str, seed: int = 0, xbar: int = 0) -> CrossbarNoise:
    cells = CrossbarNoise(parse_noise(spec), seed, xbar)
    cells.start(0)
    return cells


@settings(max_examples=12, deadline=None)
@given(sigma=st.floats(1.0, 40.0), seed=st.integers(0, 2**32 - 1), level=st.integers(-200, 200))
def test_read_noise_adds_a_gaussian_of_sigma_to_the_adc_input(sigma, seed, level):
    """An integer column sum converts to round(sum + n), n ~ N(0, σ): the residual's mean is 0 and its variance
    σ² + 1/12 (rounding adds a uniform error of variance 1/12 once σ is above a level unit)."""
    cells = noise(f"read-abs={sigma}", seed)
    sums = np.full((DRAWS, 1), float(level))
    residual = cells.codes(sums, sums) - sums
    spread = np.sqrt(sigma**2 + 1 / 12)
    assert abs(residual.mean()) < 5 * spread / np.sqrt(DRAWS)
    assert abs(residual.std() - spread) < 5 * spread / np.sqrt(2 * DRAWS)
    within = np.mean(np.abs(residual) <= sigma)  # N(0,1) within ±1: 0.6827, widened a little by rounding
    assert abs(within - 0.6827) < 0.02 + 0.5 / sigma


@settings(max_examples=8, deadline=None)
@given(e=st.floats(0.02, 0.16), current=st.integers(2500, 40000), seed=st.integers(0, 2**32 - 1))
def test_relative_read_noise_is_e_times_the_root_of_the_current(e, current, seed):
    """RAELLA's definition: σ = E·sqrt(N+ + N-), whatever the signed sum itself is (σ of at least one level unit
    here, where rounding adds its 1/12)."""
    cells = noise(f"read={e}", seed)
    sums = np.full((DRAWS, 1), -37.0)
    sigma = e * np.sqrt(current)
    residual = cells.codes(sums, np.full_like(sums, current)) - sums
    spread = np.sqrt(sigma**2 + 1 / 12)
    assert abs(residual.std() - spread) < 5 * spread / np.sqrt(2 * DRAWS) + 0.01


@settings(max_examples=10, deadline=None)
@given(low=st.floats(0.0, 0.2), high=st.floats(0.0, 0.2), seed=st.integers(0, 2**32 - 1))
def test_stuck_at_rates_give_the_expected_fraction_of_stuck_cells(low, high, seed):
    """Cells of level 1 (of 0..3) read 0 when stuck low, 3 when stuck high: binomial fractions of the cells."""
    levels = np.ones((200, 300), np.uint8)
    cells = noise(f"saf-low={low} saf-high={high}", seed)
    read = cells.devices(levels, np.full(300, 3.0))
    n = levels.size
    for rate, value in ((low, 0.0), (high, 3.0)):
        assert abs(np.mean(read == value) - rate) <= 5 * np.sqrt(rate * (1 - rate) / n) + 1 / n
    assert cells.stuck == np.count_nonzero(read != 1)


def test_programming_variation_is_relative_and_frozen():
    levels = np.full((300, 200), 2, np.uint8)
    cells = noise("prog=0.05", seed=3, xbar=7)
    read = cells.devices(levels, np.full(200, 3.0))
    relative = read / 2 - 1
    assert abs(relative.std() - 0.05) < 5 * 0.05 / np.sqrt(2 * levels.size)
    assert np.array_equal(read, noise("prog=0.05", seed=3, xbar=7).devices(levels, np.full(200, 3.0)))
    assert not np.array_equal(read, noise("prog=0.05", seed=3, xbar=8).devices(levels, np.full(200, 3.0)))
    zero = noise("prog=0.5").devices(np.zeros((4, 4), np.uint8), np.full(4, 3.0))
    assert not zero.any()  # a cell at the lowest level has no conductance to vary


def test_drift_follows_the_power_law_and_global_compensation_undoes_a_uniform_one():
    levels = np.full((50, 40), 3, np.uint8)
    cells = noise("drift-s=2000 drift-t0=20 drift-nu=0.05 drift-comp")
    read = cells.devices(levels, np.full(40, 3.0))
    assert np.allclose(read, 3 * 100 ** -0.05)
    assert cells.compensation == pytest.approx(100**0.05)
    spread = noise("drift-s=2000 drift-nu=0.05 drift-nu-std=0.02").devices(levels, np.full(40, 3.0))
    assert spread.std() > 0 and np.all(spread <= 3)


def test_the_adc_gain_and_offset_are_drawn_once_per_crossbar():
    a, b = noise("adc-gain=0.05 adc-offset=2", seed=1, xbar=0), noise("adc-gain=0.05 adc-offset=2", seed=1, xbar=1)
    levels = np.ones((2, 2), np.uint8)
    a.devices(levels, np.full(2, 3.0))
    b.devices(levels, np.full(2, 3.0))
    assert a.adc_gain != b.adc_gain and a.adc_offset != b.adc_offset
    sums = np.array([[100.0]])
    assert a.codes(sums, sums)[0, 0] == np.floor(100 * a.adc_gain + 0.5 + a.adc_offset)


@pytest.mark.parametrize("spec", ["", "drift-nu=0.2 drift-comp prog-dist=lognormal drift-t0=1"])
def test_a_spec_of_zero_rates_is_off(spec):
    assert not parse_noise(spec).active


@pytest.mark.parametrize("spec", ["prog=0.01", "read=0.04", "read-abs=1", "saf-low=1e-4", "saf-high=1e-4",
                                  "drift-s=3600", "adc-offset=0.5", "adc-gain=0.01"])
def test_every_rate_turns_the_noise_on(spec):
    assert parse_noise(spec).active


@pytest.mark.parametrize(("spec", "message"), [
    ("read=-0.1", "read = -0.1 is out of range"),
    ("saf-high=1.01", "saf-high = 1.01 is out of range"),
    ("prog=nan", "must be a finite number, got 'nan'"),
    ("reed=0.1", "has no option 'reed'; did you mean 'read'?"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse_noise(spec)
    assert "\n" not in str(error.value)

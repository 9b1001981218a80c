"""RAELLA's datapath (pimc.targets.raella.datapath) against plain integer arithmetic, by hypothesis.

The reference here computes every 1-bit column sum with an int64 einsum; a speculative slice's
column sum is their weighted sum (the analog sum is linear in the input bits).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.targets.datapath import shifts
from pimc.targets.raella.centers import CenterSearch, choose_centers, signed_slices, slice_cost
from pimc.targets.raella.adaptive_slicing import AdaptiveSlicing
from pimc.targets.raella.datapath import (adaptive_slicing, adc_range, crossbar_product, slicing_candidates,
                                          slicing_error, speculative_mvm, SlicedWeights, SpeculationStats)

WEIGHT_SLICINGS = slicing_candidates(8, 4)
INPUT_SLICINGS = [(3, 3, 2), (4, 2, 2), (2, 2, 2, 2), (4, 4), (1,) * 8, (8,)]

cases = st.fixed_dictionaries({
    "rows": st.integers(1, 48), "filters": st.integers(1, 5), "vectors": st.integers(1, 5),
    "widths": st.sampled_from(WEIGHT_SLICINGS), "spec_widths": st.sampled_from(INPUT_SLICINGS),
    "adc_bits": st.integers(4, 8), "spread": st.sampled_from([3, 30, 255]), "seed": st.integers(0, 2**16),
})


def draw(case: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (V x K), weights (K x N) and their centers."""
    rng = np.random.default_rng(case["seed"])
    w = np.clip(rng.normal(rng.integers(-40, 41), case["spread"] / 3, (case["rows"], case["filters"])), -128, 127)
    x = rng.integers(0, 256, (case["vectors"], case["rows"])) * (rng.random((case["vectors"], case["rows"])) < 0.6)
    w = np.rint(w).astype(np.int64)
    return x, w, choose_centers(w, case["widths"])


def reference(x, slices, spec_widths, adc_bits):
    """Per input slice g: its analog column sums z_g, its 1-bit sums, the flags (V x S x N each)."""
    low, high = adc_range(adc_bits)
    groups = []
    for width, shift in zip(spec_widths, shifts(spec_widths)):
        ones = [np.einsum("vk,skn->vsn", (x >> (shift + b)) & 1, slices) for b in range(width)]
        analog = sum(z << b for b, z in enumerate(ones))
        groups.append((shift, analog, ones, (analog <= low) | (analog >= high)))
    return groups


def slice_by_slice(x, slices, spec_widths, adc_bits, speculation):
    """speculative_mvm as docs/raella.md states it, one input slice and one bit at a time, in int64: each column's
    analog sum where it converts, its clamped 1-bit sums where it is flagged (or always, without speculation)."""
    low, high = adc_range(adc_bits)
    vectors, columns = x.shape[0], slices.shape[0] * slices.shape[2]
    stats, y = SpeculationStats(), 0
    for shift, analog, ones, flags in reference(x, slices, spec_widths, adc_bits):
        recovered = sum(np.clip(z, low, high) << b for b, z in enumerate(ones))
        clipped = sum((z < low) | (z > high) for z in ones)  # per (v, j, n): its clipped 1-bit conversions
        converted = flags if speculation else np.ones_like(flags)
        y = y + (np.where(converted, recovered, analog) << shift)
        stats.activations += vectors * (len(ones) + speculation)
        stats.speculative_converts += vectors * columns * speculation
        stats.flagged += int(flags.sum()) * speculation
        stats.recovery_converts += len(ones) * int(converted.sum())
        stats.saturated += int((clipped * converted).sum())
    return y, stats


def combined(per_slice: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """V x S x N results per weight slice -> V x N: each slice at its place value."""
    return (per_slice * np.array([1 << s for s in shifts(widths)])[None, :, None]).sum(axis=1)


@settings(max_examples=300, deadline=None)
@given(cases, st.booleans(), st.sampled_from([None, (8,)]))
def test_speculative_mvm_equals_the_slice_by_slice_datapath(case, speculation, wide):
    """Recovery computed on the flagged columns only, from exact products (the integer kernel, or float32 for cells
    beyond 7 bits: `wide`), gives the slice-by-slice int64 result and counts, clipping included."""
    case = case if wide is None else {**case, "widths": wide}
    x, w, _ = draw(case)
    widths, spec_widths, adc_bits = case["widths"], case["spec_widths"], case["adc_bits"]
    centers = choose_centers(w, widths)
    slices = signed_slices(w - centers, widths)
    y, stats = speculative_mvm(x, slices, shifts(widths), spec_widths, adc_bits, speculation)
    expected, expected_stats = slice_by_slice(x, slices, spec_widths, adc_bits, speculation)
    np.testing.assert_array_equal(y, combined(expected, widths))
    assert stats == expected_stats


@pytest.mark.parametrize("speculation", [True, False])
def test_many_vectors_go_in_blocks_with_the_same_result(speculation):
    """Over 3 blocks of vectors, with flagged columns and clipped conversions: the slice-by-slice result and counts."""
    rng = np.random.default_rng(3)
    w = np.rint(np.clip(rng.normal(20, 40, (96, 5)), -128, 127)).astype(np.int64)
    widths = (4, 4)
    slices = signed_slices(w - choose_centers(w, widths), widths)
    x = rng.integers(0, 256, (3 * SlicedWeights.BLOCK // 10 + 7, 96)) * (rng.random((1, 96)) < 0.7)
    y, stats = speculative_mvm(x, slices, shifts(widths), (3, 3, 2), 7, speculation)
    expected, expected_stats = slice_by_slice(x, slices, (3, 3, 2), 7, speculation)
    np.testing.assert_array_equal(y, combined(expected, widths))
    assert stats == expected_stats and stats.saturated > 0 and (stats.flagged > 0) == speculation


@settings(max_examples=300, deadline=None)
@given(cases)
def test_recovery_equals_the_no_speculation_result(case):
    """(a) A flagged column contributes what the no-speculation datapath computes; an unflagged one its exact sum."""
    x, w, centers = draw(case)
    widths, spec_widths, adc_bits = case["widths"], case["spec_widths"], case["adc_bits"]
    slices = signed_slices(w - centers, widths)
    speculated, _ = speculative_mvm(x, slices, shifts(widths), spec_widths, adc_bits, speculation=True)
    plain, _ = speculative_mvm(x, slices, shifts(widths), spec_widths, adc_bits, speculation=False)
    low, high = adc_range(adc_bits)
    weight = np.array([1 << s for s in shifts(widths)])[None, :, None]
    difference = np.zeros_like(plain)
    for shift, analog, ones, flags in reference(x, slices, spec_widths, adc_bits):
        recovered = sum(np.clip(z, low, high) << b for b, z in enumerate(ones))
        difference += ((np.where(flags, recovered, analog) - recovered) * weight << shift).sum(axis=1)
    np.testing.assert_array_equal(speculated - plain, difference)


def test_when_every_column_recovers_speculation_changes_nothing():
    """(a) Every speculative slice saturates: the result is the no-speculation computation, clipping included."""
    slices = np.stack([np.full((200, 3), 3), np.full((200, 3), -2)])
    x = np.full((4, 200), 255)
    speculated, stats = speculative_mvm(x, slices, (2, 0), (3, 3, 2), 7, speculation=True)
    plain, _ = speculative_mvm(x, slices, (2, 0), (3, 3, 2), 7, speculation=False)
    assert stats.flagged == 4 * 2 * 3 * 3 and stats.saturated == 4 * 2 * 3 * 8
    np.testing.assert_array_equal(speculated, plain)
    assert speculated[0, 0] == (64 * 4 - 63) * 255


@settings(max_examples=300, deadline=None)
@given(cases, st.booleans())
def test_exact_without_saturation(case, speculation):
    """(b) No clipped conversion: y = x @ (w - c), and y + c * sum(x) = x @ w."""
    x, w, centers = draw(case)
    widths = case["widths"]
    slices = signed_slices(w - centers, widths)
    places = np.array([1 << s for s in shifts(widths)])[:, None, None]
    np.testing.assert_array_equal((slices * places).sum(axis=0), w - centers)
    wide, stats = speculative_mvm(x, slices, shifts(widths), case["spec_widths"], 20, speculation)
    assert stats.saturated == stats.flagged == 0
    np.testing.assert_array_equal(wide, x @ (w - centers))
    np.testing.assert_array_equal(wide + centers * x.sum(axis=1, keepdims=True), x @ w)
    y, stats = speculative_mvm(x, slices, shifts(widths), case["spec_widths"], case["adc_bits"], speculation)
    if stats.saturated == 0:
        np.testing.assert_array_equal(y, wide)


@settings(max_examples=300, deadline=None)
@given(cases, st.booleans())
def test_counts_follow_the_closed_forms(case, speculation):
    """(c) Activations, conversions, flags and clipped conversions, counted."""
    x, w, centers = draw(case)
    widths, spec_widths, adc_bits = case["widths"], case["spec_widths"], case["adc_bits"]
    slices = signed_slices(w - centers, widths)
    _, stats = speculative_mvm(x, slices, shifts(widths), spec_widths, adc_bits, speculation)
    vectors, columns, bits = x.shape[0], slices.shape[0] * slices.shape[2], sum(spec_widths)
    low, high = adc_range(adc_bits)
    groups = reference(x, slices, spec_widths, adc_bits)
    clipped = [sum((z < low) | (z > high) for z in ones) for _, _, ones, _ in groups]  # per (v, j, n): clipped bits
    if speculation:
        assert stats.activations == vectors * (len(spec_widths) + bits)
        assert stats.speculative_converts == vectors * len(spec_widths) * columns
        assert stats.flagged == sum(int(flags.sum()) for *_, flags in groups)
        assert stats.recovery_converts == sum(len(ones) * int(flags.sum()) for _, _, ones, flags in groups)
        assert stats.saturated == sum(int((c * g[3]).sum()) for c, g in zip(clipped, groups))
    else:
        assert stats.activations == vectors * bits
        assert stats.speculative_converts == stats.flagged == 0
        assert stats.adc_converts == vectors * bits * columns
        assert stats.saturated == sum(int(c.sum()) for c in clipped)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([(24, 1), (48, 15), (600, 15), (1500, 127), (8, 200), (600, 200)]), st.integers(1, 6),
       st.integers(0, 2**16))
def test_bit_sums_are_exact_whichever_way_they_are_computed(shape, vectors, seed):
    """Every 1-bit column sum equals int64: from the 8-bit integer kernel (levels up to 127), else from float32
    products, two bits to a product (small column bounds) or one (large ones)."""
    rows, largest = shape
    rng = np.random.default_rng(seed)
    slices = rng.integers(-largest, largest + 1, (3, rows, 4)) * (rng.random((3, rows, 4)) < 0.8)
    slices[0, 0, 0] = largest
    x = rng.integers(0, 256, (vectors, rows))
    weights = SlicedWeights.of(slices)
    assert (weights.matrix.dtype != np.int8) == (largest > 127)
    assert weights.radix == 0 or (1 + weights.radix) * weights.bound < 1 << 24 and weights.radix > 2 * weights.bound
    assert (weights.radix > 0) == (rows * largest < 2000)
    expected = np.stack([((x >> b) & 1) @ slices.transpose(1, 0, 2).reshape(rows, -1) for b in range(8)])
    np.testing.assert_array_equal(weights.bit_sums(x, 8), expected)


def test_large_crossbars_take_one_bit_per_product():
    """512 rows of 4-bit levels: a column bound of 7680 leaves no room for a second bit in float32."""
    assert SlicedWeights.of(np.full((1, 512, 2), 15)).radix == 0
    assert SlicedWeights.of(np.full((1, 512, 2), 1)).radix == 2048


@settings(max_examples=200, deadline=None)
@given(cases)
def test_centers_fit_and_never_cost_more_than_zero(case):
    """(d) The chosen offsets fit the slices, and their column sums are no larger than with center 0."""
    _, w, centers = draw(case)
    widths = case["widths"]
    assert np.abs(w - centers).max() < 1 << sum(widths)
    assert np.all(slice_cost(w - centers, widths) <= slice_cost(w, widths))


@settings(max_examples=200, deadline=None)
@given(cases, st.sampled_from([0, 1, 8]))
def test_centers_follow_the_criterion_column_by_column(case, radius):
    """(d) Each filter's center: the first of 0, round(mean) +- radius and round(median) +- radius (kept within the
    offsets' reach) with the least slice_cost, evaluated one column and one candidate at a time."""
    _, w, _ = draw(case)
    widths = case["widths"]
    limit = (1 << sum(widths)) - 1
    centers = choose_centers(w, widths, radius)
    for n, column in enumerate(w.T):
        middles = [np.rint(column.mean()), np.rint(np.median(column))]
        candidates = [0] + [int(m) + d for m in middles for d in range(-radius, radius + 1)]
        candidates = np.clip(candidates, column.max() - limit, column.min() + limit)
        costs = [slice_cost(column[:, None] - c, widths)[0] for c in candidates]
        assert centers[n] == candidates[int(np.argmin(costs))]


@settings(max_examples=50, deadline=None)
@given(cases)
def test_one_center_search_serves_every_slicing_of_its_bits(case):
    """(d) A search kept across slicings, as adaptive-slicing keeps one per layer, gives each slicing the centers that
    choose_centers (checked against the criterion above) gives it."""
    _, w, _ = draw(case)
    bits = sum(case["widths"])
    search = CenterSearch.of(w, bits)
    for widths in slicing_candidates(bits, max(case["widths"])):
        np.testing.assert_array_equal(search.centers(widths), choose_centers(w, widths))
    with pytest.raises(ValueError, match="do not make"):
        search.centers((1,) * (bits + 1))


@settings(max_examples=100, deadline=None)
@given(cases, st.integers(1, 64), st.sampled_from([np.int8, np.int16, np.int64]))
def test_a_search_counts_its_weights_a_block_of_rows_at_a_time(case, weights_at_once, dtype):
    """(d) A search whose histograms are counted a few weights at a time, on weights of any integer type, is the
    search of the whole matrix at once (VGG-16's classifier goes in blocks)."""
    _, w, _ = draw(case)
    bits = sum(case["widths"])
    whole = CenterSearch.of(w, bits)
    blocks = type("Blocks", (CenterSearch,), {"WEIGHTS_AT_ONCE": weights_at_once}).of(w.astype(dtype), bits)
    for field in ("counts", "values", "candidates"):
        np.testing.assert_array_equal(getattr(blocks, field), getattr(whole, field))


def test_centers_shrink_column_sums_of_gaussian_weights():
    """(d) Near-gaussian filters with nonzero means: centering cuts the mean |slice column sum| several times."""
    rng = np.random.default_rng(7)
    w = np.rint(np.clip(rng.normal(rng.integers(-30, 31, 64), 25, (288, 64)), -128, 127)).astype(np.int64)
    for widths in [(4, 4), (4, 2, 2), (2, 2, 2, 2)]:
        centered = slice_cost(w - choose_centers(w, widths), widths).mean()
        assert centered < 0.3 * slice_cost(w, widths).mean()


def test_slicing_candidates():
    assert slicing_candidates(8, 4) == [(4, 4), (4, 2, 2), (2, 2, 2, 2), (2, 2, 2, 1, 1), (2, 2, 1, 1, 1, 1),
                                        (2, 1, 1, 1, 1, 1, 1), (1,) * 8]
    assert slicing_candidates(8, 3)[0] == (2, 3, 3) and slicing_candidates(8, 1) == [(1,) * 8]
    assert all(sum(c) == 8 and max(c) <= 2 for c in slicing_candidates(8, 2))


@settings(max_examples=100, deadline=None)
@given(cases, st.sampled_from([0.0, 0.01, 0.09, 0.3]), st.booleans())
def test_adaptive_slicing_takes_the_fewest_slices_within_budget(case, budget, own_centers):
    """(e) The first candidate within budget, every earlier one over it; the last one if none is within."""
    x, w, centers = draw(case)
    spec_widths, adc_bits = case["spec_widths"], case["adc_bits"]
    centers_of = {c: choose_centers(w, c) if own_centers else centers for c in WEIGHT_SLICINGS}
    errors = [slicing_error(w, x, centers_of[c], c, adc_bits, spec_widths, rows=16) for c in WEIGHT_SLICINGS]
    chosen, error = adaptive_slicing(w, x, None if own_centers else centers, WEIGHT_SLICINGS, adc_bits, budget,
                                     spec_widths, rows=16)
    index = WEIGHT_SLICINGS.index(chosen)
    assert error == errors[index]
    assert all(e > budget for e in errors[:index])
    assert error <= budget or index == len(WEIGHT_SLICINGS) - 1
    assert slicing_error(w, x, centers_of[chosen], chosen, 20, spec_widths, rows=16) == 0.0


@settings(max_examples=100, deadline=None)
@given(cases, st.integers(1, 130), st.sampled_from([0.0, 0.005, 0.02, 0.09]))
def test_the_pass_drops_a_candidate_early_only_when_its_whole_error_is_over_budget(case, vectors, budget):
    """(e) adaptive-slicing computes a candidate's first vectors, then the others, and drops it as soon as the error
    so far is over budget: only when the whole error is, and otherwise with the products crossbar_product gives."""
    x, w, _ = draw({**case, "vectors": vectors})
    x, exact, widths, adc_bits = x.astype(np.uint8), x @ w, case["widths"], case["adc_bits"]
    search = AdaptiveSlicing(budget=budget, adc_bits=adc_bits, spec_widths=case["spec_widths"], rows=16)
    products, centers = [(x, w, exact, (0, w.shape[1]))], choose_centers(w, widths)
    squared = float(np.square(exact, dtype=np.float64).sum())
    (whole,) = search._products(products, centers, widths, 0.0)
    np.testing.assert_array_equal(whole, crossbar_product(w, x, centers, widths, adc_bits, case["spec_widths"], rows=16))
    early = search._products(products, centers, widths, squared)
    if early is None:
        assert squared and np.sqrt(float(np.square(whole - exact, dtype=np.float64).sum()) / squared) > budget
    else:
        np.testing.assert_array_equal(early[0], whole)

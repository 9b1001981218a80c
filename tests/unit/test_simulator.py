"""The simulator's crossbar datapath against plain integer arithmetic, by hypothesis.

A crossbar's cells are built exactly as `emit-program` builds them (offset or differential
encoding, ISAAC's column inversion); the sliced datapath must then equal x @ W whenever no
ADC conversion saturated, and the fast path must equal the sliced one whenever it is taken.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimc.dialects.xbar import even_slices
from pimc.targets.datapath import CrossbarStats
from pimc.targets.emit import cell_levels
from pimc.targets.fast_path import FastGroup, Member
from pimc.targets.isaac.datapath import LoadedCrossbar
from pimc.targets.program import Crossbar, Instruction, Program
from pimc.targets.raella.centers import choose_centers
from pimc.targets.raella.datapath import PairedCrossbar, crossbar_product


def crossbar(matrix: np.ndarray, bits: int, cell_bits: int, encoding: str, flip: bool) -> LoadedCrossbar:
    widths = even_slices(bits, cell_bits)
    levels, offset = cell_levels(matrix, bits, widths, encoding)
    maxima = np.tile([(1 << w) - 1 for w in widths], levels.shape[1] // len(widths))
    flipped = levels.sum(axis=0) * 2 > maxima * levels.shape[0] if flip else np.zeros(levels.shape[1], bool)
    levels = np.where(flipped, maxima - levels, levels).astype(np.uint8)
    spec = Crossbar(0, "layer", 0, 0, 0, 0, matrix.shape[0], matrix.shape[1], widths, encoding, offset,
                    (0, levels.size), (0, levels.shape[1]))
    program = Program("m", "isaac", {}, [], [], {}, [spec], [], cells={"levels": levels.ravel(), "flipped": flipped})
    return LoadedCrossbar.load(spec, program)


cases = st.fixed_dictionaries({
    "rows": st.integers(1, 40), "cols": st.integers(1, 6), "vectors": st.integers(1, 5),
    "weight_bits": st.integers(2, 8), "cell_bits": st.integers(1, 4), "input_bits": st.integers(1, 8),
    "dac_bits": st.integers(1, 4), "adc_bits": st.integers(4, 10), "adc_step": st.sampled_from([1, 1, 2]),
    "encoding": st.sampled_from(["offset", "differential"]), "flip": st.booleans(), "seed": st.integers(0, 2**16),
})


@settings(max_examples=300, deadline=None)
@given(cases)
def test_sliced_datapath_is_exact_unless_it_saturates(case):
    rng = np.random.default_rng(case["seed"])
    limit = (1 << (case["weight_bits"] - 1)) - 1
    matrix = rng.integers(-limit, limit + 1, (case["rows"], case["cols"]))
    x = rng.integers(0, 1 << case["input_bits"], (case["vectors"], case["rows"]))
    widths = even_slices(case["input_bits"], min(case["dac_bits"], case["input_bits"]))
    xb = crossbar(matrix, case["weight_bits"], min(case["cell_bits"], case["weight_bits"]), case["encoding"], case["flip"])
    stats = CrossbarStats()
    sliced = np.rint(xb._sliced(x, widths, case["adc_bits"], case["adc_step"], stats) @ xb.combine
                     - xb.spec.offset * x.sum(axis=1, keepdims=True)).astype(np.int64)
    if xb.never_clips(widths, False, case["adc_bits"], case["adc_step"]):
        assert stats.saturated == 0
        np.testing.assert_array_equal(xb.mvm(x, widths, False, case["adc_bits"], case["adc_step"], CrossbarStats()), sliced)
    if stats.saturated == 0 and case["adc_step"] == 1:
        np.testing.assert_array_equal(sliced, x @ matrix)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([(8, 8, 127), (8, 12, 2000), (12, 8, 127), (16, 16, 30000)]), st.integers(1, 300),
       st.integers(0, 2**16))
def test_a_fast_group_computes_exact_products_in_every_weight_type(case, rows, seed):
    """int8 weights and inputs of up to 8 bits take the integer kernel, others float32 where exact, else float64."""
    input_bits, weight_bits, largest = case
    rng = np.random.default_rng(seed)
    matrix = rng.integers(-largest, largest + 1, (rows, 5))
    x = rng.integers(0, 1 << input_bits, (4, rows))
    x[0] = (1 << input_bits) - 1
    mvm = Instruction(0, 0, "mvm", {"xbar": 0, "dst": "y", "vectors": [0, 4], "src_cols": [0, rows],
                                    "input_slices": [input_bits]})
    group = FastGroup.build([Member((mvm,))], {0: crossbar(matrix, weight_bits, 4, "offset", flip=False)})
    assert (group.weights.dtype == np.int8) == (input_bits <= 8 and weight_bits <= 8)
    np.testing.assert_array_equal(group.product(x.astype(np.uint8 if input_bits <= 8 else np.uint16)), x @ matrix)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([(8, 127), (12, 2000)]), st.sampled_from([(8, 127), (12, 2000)]), st.booleans(),
       st.integers(1, 100), st.integers(0, 2**16))
def test_a_fast_group_of_two_crossbars_is_int8_only_when_both_fit(first, second, stacked, rows, seed):
    """Crossbars side by side (two members) or one above the other (one member: an xbar.add's parts), narrowed a
    crossbar at a time: int8 exactly when both fit, and exact products either way."""
    rng = np.random.default_rng(seed)
    a, b = (rng.integers(-largest, largest + 1, (rows, 5)) for _, largest in (first, second))
    crossbars = {0: crossbar(a, first[0], 4, "offset", flip=False), 1: crossbar(b, second[0], 4, "offset", flip=False)}

    def mvm(xbar: int, columns: list[int]) -> Instruction:
        return Instruction(xbar, 0, "mvm", {"xbar": xbar, "dst": f"y{xbar}", "vectors": [0, 4], "src_cols": columns,
                                            "input_slices": [8]})

    if stacked:
        run, matrix = [Member((mvm(0, [0, rows]), mvm(1, [rows, 2 * rows])))], np.vstack([a, b])
    else:
        run, matrix = [Member((mvm(0, [0, rows]),)), Member((mvm(1, [0, rows]),))], np.hstack([a, b])
    group = FastGroup.build(run, crossbars)
    x = rng.integers(0, 256, (4, len(matrix)))
    assert (group.weights.dtype == np.int8) == (first[0] == second[0] == 8)
    np.testing.assert_array_equal(group.product(x.astype(np.uint8)), x @ matrix)


def test_saturation_is_counted_and_changes_the_result():
    matrix = np.full((128, 2), 127)  # stored as 255: every 2-bit cell at level 3, columns sum to 384
    xb = crossbar(matrix, 8, 2, "offset", flip=False)
    x = np.full((1, 128), 255)
    stats = CrossbarStats()
    result = xb.mvm(x, (1,) * 8, False, 6, 1, stats)
    assert stats.saturated > 0 and not stats.fast
    assert not np.array_equal(result, x @ matrix)


def test_column_inversion_keeps_128_rows_of_2_bit_cells_within_an_8_bit_adc():
    rng = np.random.default_rng(0)
    matrix = rng.integers(-127, 128, (128, 32))
    xb = crossbar(matrix, 8, 2, "offset", flip=True)
    assert xb.never_clips((1,) * 8, False, 8, 1)
    assert not crossbar(np.full((128, 1), 127), 8, 2, "offset", flip=False).never_clips((1,) * 8, False, 8, 1)


def paired(matrix: np.ndarray, widths: tuple[int, ...], centered: bool = True) -> PairedCrossbar:
    """A center-offset crossbar as emit-program builds it: centers chosen (else 0), offsets in 2T2R pairs."""
    centers = choose_centers(matrix, widths) if centered else np.zeros(matrix.shape[1], np.int64)
    levels, _ = cell_levels(matrix - centers, sum(widths), widths, "center-offset")
    spec = Crossbar(0, "layer", 0, 0, 0, 0, matrix.shape[0], matrix.shape[1], widths, "center-offset", 0,
                    (0, levels.size), (0, 0), (0, matrix.shape[1]))
    cells = {"levels": levels.ravel(), "flipped": np.zeros(0, bool), "centers": centers.astype(np.int32)}
    return PairedCrossbar.load(spec, Program("m", "raella", {}, [], [], {}, [spec], [], cells=cells))


paired_cases = st.fixed_dictionaries({
    "rows": st.integers(1, 64), "cols": st.integers(1, 6), "vectors": st.integers(1, 5),
    "widths": st.sampled_from([(4, 4), (4, 2, 2), (2, 2, 2, 2), (1,) * 8]),
    "inputs": st.sampled_from([(3, 3, 2), (4, 4), (2, 2, 2, 2), (8,)]), "speculate": st.booleans(),
    "adc_bits": st.integers(4, 8), "spread": st.integers(1, 127), "seed": st.integers(0, 2**16),
})


@settings(max_examples=300, deadline=None)
@given(paired_cases)
def test_paired_crossbar_is_raellas_arithmetic_and_exact_unless_a_conversion_clips(case):
    rng = np.random.default_rng(case["seed"])
    matrix = rng.integers(-case["spread"], case["spread"] + 1, (case["rows"], case["cols"]))
    x = rng.integers(0, 256, (case["vectors"], case["rows"]))
    xb = paired(matrix, case["widths"])
    widths = case["inputs"] if case["speculate"] else (1,) * 8
    stats = CrossbarStats()
    result = xb.mvm(x, widths, case["speculate"], case["adc_bits"], 1, stats)
    centers = xb.correction
    reference = crossbar_product(matrix, x, centers, case["widths"], case["adc_bits"], widths, case["speculate"],
                                 rows=case["rows"])
    np.testing.assert_array_equal(result, reference)
    if stats.saturated == 0:
        np.testing.assert_array_equal(result, x @ matrix)
    if xb.never_clips(widths, case["speculate"], case["adc_bits"], 1):
        assert stats.fast and stats.flagged == 0
    per_input = len(widths) + (8 if case["speculate"] else 0)
    assert stats.activations == case["vectors"] * per_input
    assert stats.adc_converts == (case["vectors"] * len(widths) * case["cols"] * len(case["widths"])
                                  + stats.recovery_converts)


def test_centers_cut_the_flags_of_filters_whose_weights_share_a_sign():
    """128 rows of 4b-2b-2b weights around +40 and 2-bit inputs: plain sign-magnitude slices add up in every
    column and even their 1-bit recovery clips; centered ones cancel, rarely flag, and stay exact."""
    rng = np.random.default_rng(0)
    matrix = np.rint(rng.normal(40, 4, (128, 16))).astype(np.int64)
    x = rng.integers(0, 4, (32, 128))
    centered, plain = CrossbarStats(), CrossbarStats()
    np.testing.assert_array_equal(paired(matrix, (4, 2, 2)).mvm(x, (3, 3, 2), True, 7, 1, centered), x @ matrix)
    paired(matrix, (4, 2, 2), centered=False).mvm(x, (3, 3, 2), True, 7, 1, plain)
    speculative = 32 * 3 * 16 * 3  # vectors x input slices x weights x weight slices
    assert centered.flagged < 0.01 * speculative and plain.flagged > 0.3 * speculative
    assert centered.saturated == 0 < plain.saturated

"""Pipeline strings: parsing, typed options, printing back, and the errors a user can make."""

from dataclasses import dataclass
from typing import Literal

import pytest

from pimc.options import OptionError, param
from pimc.pass_manager import ModulePass, parse_pipeline
from pimc.targets.base import ConfigError, TargetConfig


@dataclass(frozen=True)
class Slice(ModulePass):
    """A pass with one option of every kind."""

    name = "slice-weights"
    rows: int = 128
    scale: float = 1.0
    signed: bool = False
    sizes: tuple[int, ...] = (1, 2)
    mode: Literal["greedy", "balanced"] = "greedy"

    def apply(self, module) -> None:
        pass


@dataclass(frozen=True)
class Plain(ModulePass):
    """No options."""

    name = "plain"

    def apply(self, module) -> None:
        pass


REGISTRY = {"slice-weights": lambda: Slice, "plain": lambda: Plain}


def test_options_are_typed():
    (only,) = parse_pipeline("slice-weights{rows=64 scale=0.5 signed=true sizes=3,4,5 mode=balanced}", REGISTRY)
    assert only == Slice(rows=64, scale=0.5, signed=True, sizes=(3, 4, 5), mode="balanced")


def test_str_prints_the_spec_back():
    passes = parse_pipeline("plain,slice-weights{rows=32}", REGISTRY)
    assert [str(p) for p in passes] == ["plain", "slice-weights{rows=32 scale=1.0 signed=false sizes=1,2 mode=greedy}"]
    assert parse_pipeline(",".join(map(str, passes)), REGISTRY) == passes


def test_strings_that_are_not_words_print_quoted():
    @dataclass(frozen=True)
    class Calibrated(ModulePass):
        """A pass with a path option."""

        name = "calibrated"
        calib: str = ""

        def apply(self, module) -> None:
            pass

    registry = {"calibrated": lambda: Calibrated}
    for value in ["", "data/calib.npz", "plain"]:
        spec = str(Calibrated(calib=value))
        assert parse_pipeline(spec, registry) == [Calibrated(calib=value)]
    assert str(Calibrated(calib="data/calib.npz")) == 'calibrated{calib="data/calib.npz"}'


def test_flag_without_value_means_true():
    (only,) = parse_pipeline("slice-weights{signed}", REGISTRY)
    assert only.signed is True


@pytest.mark.parametrize(
    "spec, message",
    [
        ("slice-weight", "unknown pass 'slice-weight'; did you mean 'slice-weights'?"),
        ("slice-weights{row=3}", "pass 'slice-weights' has no option 'row'; did you mean 'rows'?"),
        ("slice-weights{rows=x}", "option 'rows' of pass 'slice-weights' must be an integer, got 'x'"),
        ("slice-weights{scale=big}", "option 'scale' of pass 'slice-weights' must be a number, got 'big'"),
        ("slice-weights{signed=maybe}", "option 'signed' of pass 'slice-weights' must be true or false, got 'maybe'"),
        ("slice-weights{mode=fast}", "option 'mode' of pass 'slice-weights' must be one of greedy, balanced, got 'fast'"),
        ("slice-weights{rows=1,2}", "option 'rows' of pass 'slice-weights' takes one value, got 2"),
        ("plain{", "malformed pipeline at column 6"),
    ],
)
def test_errors_name_the_problem(spec, message):
    with pytest.raises(OptionError) as error:
        parse_pipeline(spec, REGISTRY)
    assert message in str(error.value)


def test_a_pass_option_and_a_target_option_are_declared_and_checked_alike():
    @dataclass(frozen=True)
    class Rows(ModulePass):
        """A pass with a bounded option."""

        name = "rows"
        rows: int = param(128, "rows", "crossbar height", 1, 4096)
        sizes: tuple[int, ...] = param((), "bits", "slice widths", 1, 8)

        def apply(self, module) -> None:
            pass

    @dataclass(frozen=True)
    class RowsConfig(TargetConfig):
        name = "rows"
        rows: int = param(128, "rows", "crossbar height", 1, 4096)

    expected = "rows = 0 is out of range: crossbar height, in rows; valid: an integer from 1 to 4096"
    with pytest.raises(OptionError, match=f"^pass 'rows': {expected}$"):
        parse_pipeline("rows{rows=0}", {"rows": lambda: Rows})
    with pytest.raises(ConfigError, match=f"^{expected}$"):
        RowsConfig(rows=0)
    with pytest.raises(OptionError, match="^sizes = 4,9 is out of range: slice widths, in bits; valid: a comma-separated "
                                          "list of integers from 1 to 8$"):
        Rows(sizes=(4, 9))
    assert Rows(sizes=()).sizes == ()  # an empty list is valid where it is the default

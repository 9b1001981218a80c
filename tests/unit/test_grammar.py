"""The IR and pipeline grammars are LALR(1) with no conflicts and no terminal collisions."""

from pathlib import Path

import pytest
from lark import Lark

TEXT = Path(__file__).resolve().parents[2] / "pimc" / "text"


@pytest.mark.parametrize("grammar, start", [("ir.lark", ["start", "attr_dict"]), ("pipeline.lark", ["pipeline"])])
def test_grammar_is_strict_lalr(grammar, start):
    Lark.open(str(TEXT / grammar), parser="lalr", strict=True, start=start)

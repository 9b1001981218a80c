"""Property: any well-formed module prints, parses and prints again to the same text."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp, ReturnOp
from pimc.dialects.test import PureOp, RegionOp, AnyOp
from pimc.ir import Block, FileLoc, FusedLoc, NameLoc, Region, ScalarType, SymbolRef, TensorType, UnknownLoc
from pimc.text.parser import parse_module
from pimc.text.printer import print_module

scalars = st.sampled_from(["f16", "bf16", "f32", "f64", "i1", "i8", "i32", "si4", "ui2", "index"]).map(ScalarType)
tensors = st.builds(TensorType, st.lists(st.none() | st.integers(0, 300), max_size=4).map(tuple), scalars)
types = scalars | tensors
names = st.text(min_size=1, max_size=12)
idents = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
leaf_attrs = (
    st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=True) | st.booleans() | st.text(max_size=10)
    | types | names.map(SymbolRef)
)
attrs = st.recursive(leaf_attrs, lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=6)
attr_dicts = st.dictionaries(idents | names, attrs, max_size=3)
file_locs = st.builds(FileLoc, names, st.integers(1, 999), st.integers(1, 99))
name_locs = st.builds(NameLoc, names, st.none() | file_locs)
locations = st.just(UnknownLoc()) | file_locs | name_locs | st.lists(name_locs, min_size=2, max_size=3).map(
    lambda locs: FusedLoc(tuple(locs))
)


@st.composite
def modules(draw):
    arg_types = draw(st.lists(types, max_size=3))
    result_types = draw(st.lists(types, max_size=2))
    func = FuncOp.create(draw(names), arg_types, result_types)
    module = ModuleOp.empty(draw(st.none() | names), draw(attr_dicts))
    module.body.append(func)
    values = list(func.arguments)
    for value in values:
        value.name_hint = draw(st.none() | names)
    for _ in range(draw(st.integers(0, 8))):
        operands = draw(st.lists(st.sampled_from(values), max_size=3)) if values else []
        kind = draw(st.sampled_from([AnyOp, PureOp, RegionOp]))
        regions = [Region([Block(draw(st.lists(types, max_size=2)))])] if kind is RegionOp else []
        op = kind(operands, draw(st.lists(types, max_size=2)), draw(attr_dicts), regions, draw(locations))
        for result in op.results:
            result.name_hint = draw(st.none() | names)
        func.body.append(op)
        values.extend(op.results)
    returned = [draw(st.sampled_from(values)) if values else None for _ in result_types]
    fillers = []
    for index, value in enumerate(returned):
        if value is None or value.type != result_types[index]:
            filler = AnyOp([], [result_types[index]])
            func.body.append(filler)
            fillers.append(filler.result)
            returned[index] = filler.result
    func.body.append(ReturnOp(returned, []))
    return module


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules(), st.booleans())
def test_print_parse_print_is_identity(module, generic):
    text = print_module(module, generic=generic, print_loc=True)
    again = print_module(parse_module(text), generic=generic, print_loc=True)
    assert again == text

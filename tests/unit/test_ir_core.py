"""Use lists, name hints, block linking, cloning and the verifier on IR built in Python."""

import pytest

from pimc.diagnostics import DiagnosticError
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import FuncOp, ReturnOp
from pimc.dialects.test import PureOp, TypedOp
from pimc.ir import tensor
from pimc.ir.irdl import FLOAT_TENSOR, DeclaredOp, VerifyError, irdl_op, operand, optional_operand, variadic_operand, verify_declaration
from pimc.ir.verifier import verify
from pimc.text.printer import print_module

T = tensor(4)


def build():
    module = ModuleOp.empty("m")
    func = FuncOp.create("main", [T], [T])
    module.body.append(func)
    (x,) = func.arguments
    x.name_hint = "x"
    a = PureOp([x], [T])
    b = PureOp([a.result, x], [T])
    ret = ReturnOp([b.result], [])
    for op in (a, b, ret):
        func.body.append(op)
    return module, func, x, a, b, ret


def test_use_lists_follow_operand_changes():
    _, _, x, a, b, _ = build()
    assert [(u.operation, u.index) for u in x.uses] == [(a, 0), (b, 1)]
    b.set_operand(1, a.result)
    assert [(u.operation, u.index) for u in x.uses] == [(a, 0)]
    assert [(u.operation, u.index) for u in a.result.uses] == [(b, 0), (b, 1)]
    assert a.result.users == [b]


def test_replace_all_uses_carries_the_name_hint():
    _, func, x, a, b, ret = build()
    a.result.name_hint = "conv1"
    fresh = PureOp([x], [T])
    func.body.insert_before(fresh, a)
    a.result.replace_all_uses_with(fresh.result)
    assert fresh.result.name_hint == "conv1"
    assert not a.result.has_uses()
    a.erase()
    assert [op.op_name for op in func.body.ops] == ["test.pure", "test.pure", "func.return"]
    assert len(func.body) == 3


def test_erase_refuses_an_op_whose_results_are_used():
    _, _, _, a, _, _ = build()
    with pytest.raises(ValueError, match="still used"):
        a.erase()


def test_erasing_while_iterating_is_safe():
    _, func, x, a, b, ret = build()
    b.result.replace_all_uses_with(x)
    for op in func.body.ops:
        if op.op_name == "test.pure" and not op.result.has_uses():
            op.erase()
    assert list(func.body.ops) == [a, ret]
    assert len(func.body) == 2


def test_clone_remaps_operands_and_keeps_names():
    module, *_ = build()
    copy = module.clone()
    assert print_module(copy) == print_module(module)
    original_ops = set(map(id, module.walk()))
    assert not original_ops & set(map(id, copy.walk()))


def test_verifier_rejects_use_before_definition():
    module, func, x, a, b, ret = build()
    a.detach()
    func.body.insert_after(a, b)
    with pytest.raises(DiagnosticError, match="operand #0 is used before it is defined"):
        verify(module)


def test_declared_accessors_and_defaults():
    op = TypedOp.build([build()[2]], [T], count=3)
    assert op.count == 3 and op.mode == "exact" and op.sizes == () and op.bias is None
    assert op.input is op.operands[0]


def test_build_coerces_lists_to_tuples():
    x = build()[2]
    op = TypedOp.build([x], [T], count=1, sizes=[1, 2])
    assert op.attributes["sizes"] == (1, 2)


@irdl_op("test.groups")
class GroupsOp(DeclaredOp):
    first = operand()
    middle = variadic_operand(FLOAT_TENSOR)
    last = operand()


@irdl_op("test.optionals")
class OptionalsOp(DeclaredOp):
    first = operand()
    second = optional_operand()
    third = optional_operand(FLOAT_TENSOR)


def test_operand_groups_for_every_count():
    x = build()[2]
    values = [PureOp([], [T]).result for _ in range(5)]
    for count in range(6):
        op, opt = GroupsOp(values[:count], []), OptionalsOp(values[:count], [])
        assert op.first is (values[0] if count else None)
        assert op.middle == tuple(values[1 : max(count - 1, 1)])
        assert op.last is (values[count - 1] if count >= 2 else None)
        assert [opt.first, opt.second, opt.third] == [values[i] if i < count else None for i in range(3)]
    assert GroupsOp([x, x, x, x], []).middle == (x, x)


@pytest.mark.parametrize(("op", "message"), [
    (lambda x, i: GroupsOp([x], []), "expects at least 2 operands, but has 1"),
    (lambda x, i: GroupsOp([x, i, x], []), r"operand #1 \('middle'\) must be tensor of float, but got tensor<4xi8>"),
    (lambda x, i: OptionalsOp([], []), "expects 1 to 3 operands, but has 0"),
    (lambda x, i: OptionalsOp([x, x, x, x], []), "expects 1 to 3 operands, but has 4"),
    (lambda x, i: OptionalsOp([x, i, i], []), r"operand #2 \('third'\) must be tensor of float, but got tensor<4xi8>"),
])
def test_operand_groups_are_verified(op, message):
    x = build()[2]
    i = PureOp([], [tensor(4, element="i8")]).result
    with pytest.raises(VerifyError, match=message):
        verify_declaration(op(x, i))

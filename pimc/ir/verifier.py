"""The verifier: structure first (def before use, terminators, single blocks), then each op's declaration."""

from __future__ import annotations

from pimc.diagnostics import op_error
from pimc.ir.core import Block, Operation, Value
from pimc.ir.irdl import DeclaredOp, VerifyError, verify_declaration

ISOLATED = ("builtin.module", "func.func")


def verify(op: Operation) -> None:
    """Raise DiagnosticError at the first op that breaks a rule."""
    _verify_op(op, set())


def _verify_op(op: Operation, visible: set[Value]) -> None:
    if not visible.issuperset(op.operands):
        index = next(i for i, value in enumerate(op.operands) if value not in visible)
        raise op_error(op, f"operand #{index} is used before it is defined or outside its scope")
    if isinstance(op, DeclaredOp):
        try:
            verify_declaration(op)
        except VerifyError as error:
            raise op_error(op, str(error)) from None
    for region in op.regions:
        if len(region.blocks) != 1:
            raise op_error(op, f"regions must have exactly one block, found {len(region.blocks)}")
        inner = set() if op.op_name in ISOLATED else set(visible)
        _verify_block(region.block, inner, needs_terminator=op.op_name == "func.func")


def _verify_block(block: Block, visible: set[Value], needs_terminator: bool) -> None:
    visible.update(block.args)
    for op in block.ops:
        if op.is_terminator and op is not block.last_op:
            raise op_error(op, "must be the last operation in its block")
        _verify_op(op, visible)
        visible.update(op.results)
    last = block.last_op
    if needs_terminator and (last is None or not last.is_terminator):
        where = last or block.parent.parent
        raise op_error(where, "block must end with a terminator such as 'func.return'")

"""The `func` dialect: functions and their return.

    func.func @main(%x: tensor<1x8xf32>) -> tensor<1x8xf32> { ... func.return(%y) : (tensor<1x8xf32>) -> () }
"""

from __future__ import annotations

from collections.abc import Sequence

from pimc.ir.core import Block, Region
from pimc.ir.irdl import STR, TYPES, DeclaredOp, VerifyError, attr, irdl_op, variadic_operand
from pimc.ir.types import Type


@irdl_op("func.func", pure=False, regions=1, open_attributes=True)
class FuncOp(DeclaredOp):
    """A function: one block whose arguments are the parameters.

    func.func @main(%x: tensor<1x8xf32>) -> tensor<1x8xf32> { ... }
    """

    sym_name = attr(STR)
    result_types = attr(TYPES, default=())

    @classmethod
    def create(cls, name: str, arg_types: Sequence[Type], result_types: Sequence[Type]) -> FuncOp:
        return cls([], [], {"sym_name": name, "result_types": tuple(result_types)}, [Region([Block(arg_types)])])

    @property
    def body(self) -> Block:
        return self.regions[0].block

    @property
    def arguments(self) -> tuple:
        return self.body.args

    def verify_(self) -> None:
        if len(self.regions[0].blocks) != 1:
            raise VerifyError("body must be a single block")


@irdl_op("func.return", pure=False, terminator=True)
class ReturnOp(DeclaredOp):
    """Return values from the enclosing function.

    func.return(%y) : (tensor<1x8xf32>) -> ()
    """

    values = variadic_operand()

    def verify_(self) -> None:
        func = self.parent_op()
        if not isinstance(func, FuncOp):
            raise VerifyError("must be inside 'func.func'")
        got = tuple(v.type for v in self.operands)
        if got != func.result_types:
            shown = ", ".join(map(str, func.result_types))
            raise VerifyError(f"returns ({', '.join(map(str, got))}) but '@{func.sym_name}' declares ({shown})")


OPS = (FuncOp, ReturnOp)

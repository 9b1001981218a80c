"""The `test` dialect: ops that exercise the IR core in tests, as MLIR's test dialect does.

    %0, %1 = test.op(%x) {anything = 1} : (tensor<2xf32>) -> (i32, i32)
"""

from __future__ import annotations

from pimc.ir.irdl import (
    FLOAT_TENSOR, INT, INTS, DeclaredOp, VerifyError, attr, irdl_op, one_of, operand, optional_operand,
    result, variadic_operand, variadic_result,
)


@irdl_op("test.op", pure=False, open_attributes=True)
class AnyOp(DeclaredOp):
    """Any operands, results and attributes; never removed as dead.

    %0 = test.op(%x) : (tensor<2xf32>) -> i32
    """

    inputs = variadic_operand()
    outputs = variadic_result()


@irdl_op("test.pure", open_attributes=True)
class PureOp(DeclaredOp):
    """Like `test.op`, but free of side effects, so dead ones are removed.

    %0 = test.pure(%x) : (tensor<2xf32>) -> tensor<2xf32>
    """

    inputs = variadic_operand()
    outputs = variadic_result()


@irdl_op("test.region", pure=False, regions=1, open_attributes=True)
class RegionOp(DeclaredOp):
    """An op with one single-block region that sees the enclosing values.

    %0 = test.region(%x) ({ ^bb0(%a: f32): ... }) : (f32) -> f32
    """

    inputs = variadic_operand()
    outputs = variadic_result()


@irdl_op("test.typed")
class TypedOp(DeclaredOp):
    """Declared operands, a trailing optional operand, and checked attributes.

    %y = test.typed(%x, %bias) {count = 2, mode = "fast"} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    """

    input = operand(FLOAT_TENSOR)
    bias = optional_operand(FLOAT_TENSOR)
    output = result(FLOAT_TENSOR)
    count = attr(INT)
    mode = attr(one_of("fast", "exact"), default="exact")
    sizes = attr(INTS, default=())

    def verify_(self) -> None:
        if self.count < 0:
            raise VerifyError(f"count must be non-negative, got {self.count}")


OPS = (AnyOp, PureOp, RegionOp, TypedOp)

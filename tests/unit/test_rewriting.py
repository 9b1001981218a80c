"""The greedy pattern driver: op-typed dispatch, revisiting touched ops, fixed points, fused locations."""

from pimc.dialects.test import AnyOp, PureOp
from pimc.ir import NameLoc
from pimc.ir.location import FusedLoc
from pimc.rewriting import PatternRewriter, RewritePattern, apply_patterns, fused, op_pattern
from pimc.text.parser import parse_module
from pimc.text.printer import print_module

CHAIN = """
module {
  func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    %a = test.pure(%x) {depth = 3} : (tensor<4xf32>) -> tensor<4xf32>
    %b = test.pure(%a) {depth = 3} : (tensor<4xf32>) -> tensor<4xf32>
    func.return(%b) : (tensor<4xf32>) -> ()
  }
}
"""


class CountDown(RewritePattern):
    """test.pure {depth = n} -> test.pure {depth = n - 1}, stopping at 0: needs revisits to converge."""

    @op_pattern
    def match_and_rewrite(self, op: PureOp, rewriter: PatternRewriter) -> None:
        depth = op.attributes.get("depth", 0)
        if depth == 0:
            return
        new = PureOp(list(op.operands), [r.type for r in op.results], {"depth": depth - 1}, location=op.location)
        rewriter.replace_op(op, [new])


class MarkAny(RewritePattern):
    """Tag every test.op once; test.pure must never reach it."""

    @op_pattern
    def match_and_rewrite(self, op: AnyOp, rewriter: PatternRewriter) -> None:
        if "seen" not in op.attributes:
            new = AnyOp(list(op.operands), [r.type for r in op.results], {"seen": True})
            rewriter.replace_op(op, [new])


def test_patterns_run_to_a_fixed_point_and_keep_names():
    module = parse_module(CHAIN)
    assert apply_patterns(module, [CountDown()])
    text = print_module(module)
    assert "depth = 0" in text and "depth = 1" not in text
    assert "%a = test.pure(%x)" in text and "%b = test.pure(%a)" in text
    assert not apply_patterns(module, [CountDown()])


def test_patterns_dispatch_on_op_class():
    module = parse_module(CHAIN)
    assert not apply_patterns(module, [MarkAny()])
    mixed = parse_module(CHAIN.replace("%b = test.pure", "%b = test.op"))
    assert apply_patterns(mixed, [MarkAny()])
    assert "%b = test.op(%a) {seen = true}" in print_module(mixed)
    assert "%a = test.pure(%x) {depth = 3}" in print_module(mixed)


def test_fused_locations():
    conv, bn = NameLoc("conv"), NameLoc("bn")
    assert fused(conv, conv) == conv
    assert fused(bn, conv) == FusedLoc((bn, conv))

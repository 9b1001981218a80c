"""canonicalize: remove dead pure ops and apply every op's own simplification patterns."""

from __future__ import annotations

from dataclasses import dataclass

from pimc.context import Context
from pimc.dialects.builtin import ModuleOp
from pimc.ir.core import Operation
from pimc.pass_manager import ModulePass
from pimc.rewriting import PatternRewriter, RewritePattern, apply_patterns, op_pattern


class RemoveDeadOp(RewritePattern):
    """%unused = nn.relu(%x) : ... -> (nothing)"""

    @op_pattern
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if op.pure and not op.regions and not any(r.has_uses() for r in op.results):
            rewriter.erase_op(op)


@dataclass(frozen=True)
class Canonicalize(ModulePass):
    """Remove dead side-effect-free ops and fold trivial ones (identities, shape ops on weights)."""

    name = "canonicalize"

    def apply(self, module: ModuleOp) -> None:
        classes = dict.fromkeys(
            pattern for op_class in Context().all_ops().values() for pattern in getattr(op_class, "canonicalization_patterns", ())
        )
        apply_patterns(module, [RemoveDeadOp(), *(pattern() for pattern in classes)])

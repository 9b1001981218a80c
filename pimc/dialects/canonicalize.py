"""Canonicalization: dead side-effect-free ops removed, and every dialect's simplification patterns applied.

    %unused = nn.relu(%x) : ...   ->   (nothing)

The patterns are the dialects' own (`nn_canonicalize.PATTERNS`, `q_canonicalize.PATTERNS`); the
`canonicalize` pass and the ONNX importer run them.
"""

from __future__ import annotations

from pimc.dialects import nn_canonicalize, q_canonicalize
from pimc.dialects.builtin import ModuleOp
from pimc.ir.core import Operation
from pimc.rewriting import PatternRewriter, RewritePattern, apply_patterns, op_pattern

PATTERNS = (*nn_canonicalize.PATTERNS, *q_canonicalize.PATTERNS)


class RemoveDeadOp(RewritePattern):
    """%unused = nn.relu(%x) : ... -> (nothing)"""

    @op_pattern
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if op.pure and not op.regions and not any(r.has_uses() for r in op.results):
            rewriter.erase_op(op)


def canonicalize(module: ModuleOp) -> None:
    apply_patterns(module, [RemoveDeadOp(), *(pattern() for pattern in PATTERNS)])

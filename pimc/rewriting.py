"""Pattern rewriting: patterns keyed by op class, applied greedily to a fixed point.

    class FoldIdentity(RewritePattern):
        @op_pattern
        def match_and_rewrite(self, op: IdentityOp, rewriter: PatternRewriter) -> None:
            rewriter.replace_op(op, [], [op.input])
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence

from pimc.ir.core import Operation, OpResult, Value
from pimc.ir.location import FusedLoc, Location


class RewritePattern:
    """Matches one op and, if it applies, rewrites it through the rewriter."""

    op_type: type[Operation] = Operation

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        raise NotImplementedError


def op_pattern(method: Callable) -> Callable:
    """Take the op class a pattern matches from the annotation of its `op` parameter."""
    hints = typing.get_type_hints(method)
    method.op_type = hints["op"]
    return method


class PatternRewriter:
    """The only way patterns change IR, so the driver knows what to revisit."""

    def __init__(self, worklist: list[Operation]) -> None:
        self._worklist = worklist
        self.changed = False

    def _touch(self, ops: Sequence[Operation]) -> None:
        self.changed = True
        self._worklist.extend(ops)

    def insert_before(self, anchor: Operation, ops: Sequence[Operation]) -> None:
        for op in ops:
            anchor.parent.insert_before(op, anchor)
        self._touch(ops)

    def replace_op(self, op: Operation, new_ops: Sequence[Operation], new_values: Sequence[Value] | None = None) -> None:
        """Insert `new_ops` before `op`, route its results to `new_values`, erase it."""
        self.insert_before(op, new_ops)
        if new_values is None:
            new_values = new_ops[-1].results
        if len(new_values) != len(op.results):
            raise ValueError(f"replacing '{op.op_name}': {len(op.results)} results but {len(new_values)} values")
        for old, new in zip(op.results, new_values):
            self._touch(old.users)
            old.replace_all_uses_with(new)
        self.erase_op(op)

    def replace_all_uses(self, old: Value, new: Value) -> None:
        self._touch(old.users)
        old.replace_all_uses_with(new)

    def erase_op(self, op: Operation) -> None:
        producers = [v.op for v in op.operands if isinstance(v, OpResult)]
        op.erase()
        self._touch(producers)


def fused(*locations: Location) -> Location:
    """The location of an op that replaces several: one if they agree, else a flat `fused[...]`."""
    flat: list[Location] = []
    for loc in locations:
        flat.extend(loc.locations if isinstance(loc, FusedLoc) else [loc])
    unique = tuple(dict.fromkeys(flat))
    return unique[0] if len(unique) == 1 else FusedLoc(unique)


def apply_patterns(root: Operation, patterns: Sequence[RewritePattern], max_rewrites: int = 1_000_000) -> bool:
    """Apply `patterns` until none matches; return whether anything changed.

    Ops are visited in program order; an op a rewrite touched is visited again.
    """
    by_type: dict[type, list[RewritePattern]] = {}
    for pattern in patterns:
        by_type.setdefault(getattr(pattern.match_and_rewrite, "op_type", Operation), []).append(pattern)
    worklist = list(root.walk())
    worklist.reverse()
    rewriter = PatternRewriter(worklist)
    changed, rewrites = False, 0
    while worklist:
        op = worklist.pop()
        if op.parent is None and op is not root:
            continue
        for pattern in _patterns_for(type(op), by_type):
            rewriter.changed = False
            pattern.match_and_rewrite(op, rewriter)
            if rewriter.changed:
                changed, rewrites = True, rewrites + 1
                break
        if rewrites > max_rewrites:
            raise RuntimeError(f"pattern rewriting did not converge after {max_rewrites} rewrites")
    return changed


def _patterns_for(op_type: type, by_type: dict[type, list[RewritePattern]]) -> list[RewritePattern]:
    return [p for cls in op_type.__mro__ for p in by_type.get(cls, [])]

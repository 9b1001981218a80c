"""canonicalize: remove dead pure ops and apply every dialect's simplification patterns (pimc/dialects/canonicalize.py)."""

from __future__ import annotations

from dataclasses import dataclass

from pimc.dialects.builtin import ModuleOp
from pimc.dialects.canonicalize import canonicalize
from pimc.pass_manager import ModulePass


@dataclass(frozen=True)
class Canonicalize(ModulePass):
    """Remove dead side-effect-free ops and fold trivial ones (identities, shape ops on weights)."""

    name = "canonicalize"

    def apply(self, module: ModuleOp) -> None:
        canonicalize(module)

"""The op registry: op name -> op class, with dialects imported on first use."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field

from pimc.ir.core import Operation

DIALECTS = {
    "builtin": "pimc.dialects.builtin",
    "func": "pimc.dialects.func",
    "test": "pimc.dialects.test",
    "nn": "pimc.dialects.nn",
    "onnx": "pimc.dialects.onnx",
    "q": "pimc.dialects.q",
    "xbar": "pimc.dialects.xbar",
    "ep": "pimc.dialects.ep",
    "mlg": "pimc.dialects.mlg",
    "snn": "pimc.dialects.snn",
}


@dataclass
class Context:
    """Knows every registered op; unregistered ones are allowed only when asked for."""

    allow_unregistered: bool = False
    _ops: dict[str, type[Operation]] = field(default_factory=dict)
    _loaded: set[str] = field(default_factory=set)

    def lookup(self, name: str) -> type[Operation] | None:
        """The class for op `name`, or None if no loaded dialect declares it."""
        dialect = name.partition(".")[0]
        self._load(dialect)
        found = self._ops.get(name)
        if found is not None:
            return found
        return getattr(importlib.import_module(DIALECTS[dialect]), "FALLBACK", None) if dialect in DIALECTS else None

    def closest(self, name: str) -> str | None:
        """The registered op name closest to `name`, for 'did you mean' hints."""
        for dialect in DIALECTS:
            self._load(dialect)
        matches = difflib.get_close_matches(name, list(self._ops), n=1, cutoff=0.6)
        return matches[0] if matches else None

    def _load(self, dialect: str) -> None:
        if dialect in self._loaded or dialect not in DIALECTS:
            return
        self._loaded.add(dialect)
        for op in importlib.import_module(DIALECTS[dialect]).OPS:
            self._ops[op.name] = op

    def all_ops(self) -> dict[str, type[Operation]]:
        for dialect in DIALECTS:
            self._load(dialect)
        return dict(self._ops)

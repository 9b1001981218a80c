"""The weight store: named arrays kept out of the IR text, saved as one `.npz` beside it.

    %w = nn.weight() {ref = "conv1.weight"} : () -> tensor<16x1x3x3xf32>
"""

from __future__ import annotations

import os
import zipfile

import numpy as np


class WeightStore:
    """Arrays by name, loaded from an `.npz` only when first read."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None, path: str | None = None) -> None:
        self._arrays: dict[str, np.ndarray] = dict(arrays or {})
        self._archive = np.load(path) if path else None
        self.path = path
        self.changed = False

    def __contains__(self, name: str) -> bool:
        return name in self._arrays or (self._archive is not None and name in self._archive.files)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._arrays and self._archive is not None and name in self._archive.files:
            self._arrays[name] = self._archive[name]
        return self._arrays[name]

    def names(self) -> list[str]:
        archived = self._archive.files if self._archive is not None else []
        return sorted(set(self._arrays) | set(archived))

    def add(self, hint: str, array: np.ndarray) -> str:
        """Store `array` under a fresh name derived from `hint`; return that name."""
        name, suffix = hint, 0
        while name in self:
            suffix += 1
            name = f"{hint}_{suffix}"
        self._arrays[name] = np.asarray(array, order="C")
        self.changed = True
        return name

    def save(self, path: str, names: set[str] | None = None) -> None:
        """Write the arrays named (all by default); identical contents give identical bytes."""
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            for name in self.names():
                if names is not None and name not in names:
                    continue
                info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                with archive.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(self[name]), allow_pickle=False)
        self.path = path
        self.changed = False


def used_refs(module) -> set[str]:
    """Every store entry the module names: the string attribute `ref` of any op, and an MVM's `weights`."""
    refs = {op.attributes["ref"] for op in module.walk() if isinstance(op.attributes.get("ref"), str)}
    return refs | {op.attributes["weights"] for op in module.walk() if op.op_name == "xbar.mvm"}


def store_beside(ir_path: str, reference: str | None) -> WeightStore:
    """The store a module's `weights` attribute names, resolved relative to its IR file."""
    if not reference:
        return WeightStore()
    path = os.path.join(os.path.dirname(os.path.abspath(ir_path)), reference)
    return WeightStore(path=path) if os.path.exists(path) else WeightStore()

"""The weight store: named arrays kept out of the IR text, saved as one `.npz` beside it.

    %w = nn.weight() {ref = "conv1.weight"} : () -> tensor<16x1x3x3xf32>
"""

from __future__ import annotations

import io
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
        self._arrays[name] = np.ascontiguousarray(array)
        self.changed = True
        return name

    def save(self, path: str) -> None:
        """Write every array; byte-identical for identical contents (fixed zip timestamps)."""
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            for name in self.names():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(self[name]), allow_pickle=False)
                info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, buffer.getvalue())
        self.path = path
        self.changed = False


def store_beside(ir_path: str, reference: str | None) -> WeightStore:
    """The store a module's `weights` attribute names, resolved relative to its IR file."""
    if not reference:
        return WeightStore()
    path = os.path.join(os.path.dirname(os.path.abspath(ir_path)), reference)
    return WeightStore(path=path) if os.path.exists(path) else WeightStore()

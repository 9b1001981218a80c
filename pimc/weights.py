"""The weight store: named arrays kept out of the IR text, saved as one `.npz` beside it.

    %w = nn.weight() {ref = "conv1.weight"} : () -> tensor<16x1x3x3xf32>
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from pimc.ir.irdl import WEIGHT_REF


class WeightStore:
    """Arrays by name, loaded from an `.npz` only when first read."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None, path: str | None = None) -> None:
        self._arrays: dict[str, np.ndarray] = dict(arrays or {})
        self._archive = np.load(path) if path else None
        self.path = path
        self.absent: str | None = None  # the path a module named for its store, where no file is
        self.changed = False

    def __contains__(self, name: str) -> bool:
        return name in self._arrays or (self._archive is not None and name in self._archive.files)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._arrays and self._archive is not None and name in self._archive.files:
            self._arrays[name] = self._archive[name]
        if name not in self._arrays:
            from pimc.diagnostics import UserError

            if self.absent:
                raise UserError(f"weight '{name}' is needed, but the weight store '{self.absent}' does not exist")
            where = f"the weight store {self.path}" if self.path else "the module's weight store (it names none)"
            raise UserError(f"no array '{name}' in {where}")
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

    def keep_only(self, names: set[str]) -> None:
        """Let go of every array held but `names`: a compile's earlier stages' weights, once they are saved."""
        self._arrays = {name: array for name, array in self._arrays.items() if name in names}

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
    """Every store entry the module names: its ops' attributes declared `WEIGHT_REF`."""
    return {ref for op in module.walk() for _, ref in weight_refs(op)}


def weight_refs(op) -> list[tuple[str, str]]:
    """(attribute, store entry) for each attribute of `op` declared `WEIGHT_REF` and set.

    %m = xbar.mvm(%p) {weights = "fc.matrix", centers = "fc.matrix_centers", ...}   # two entries
    """
    declared = getattr(type(op), "definition", None)
    if declared is None:
        return []
    return [(key, op.attributes[key]) for key, d in declared.attributes.items()
            if d.kind is WEIGHT_REF and isinstance(op.attributes.get(key), str)]


def store_beside(ir_path: str, reference: str | None) -> WeightStore:
    """The store a module's `weights` attribute names, resolved relative to its IR file. A store that does not
    exist is empty, and says so when a weight is read; one that is not an .npz is a UserError."""
    from pimc.diagnostics import UserError

    if not reference:
        return WeightStore()
    path = os.path.join(os.path.dirname(os.path.abspath(ir_path)), reference)
    if not os.path.isfile(path):
        store = WeightStore()
        store.absent = path
        return store
    try:
        return WeightStore(path=path)
    except Exception as failure:  # numpy raises OSError, ValueError, BadZipFile, EOFError, ...
        raise UserError(f"cannot read the weight store '{path}': not an .npz file ({type(failure).__name__})") from None


def check_store(module) -> None:
    """When the module's store exists, every array its ops name is there with the shape the op declares; else a
    DiagnosticError at the first op that names a missing or shorter one."""
    from pimc.diagnostics import op_error
    from pimc.ir.types import TensorType

    store, reference = module.weights, module.attributes.get("weights")
    if store.path is None:
        return
    for op, key, ref in ((op, key, ref) for op in module.walk() for key, ref in weight_refs(op)):
        if ref not in store:
            raise op_error(op, f"needs array '{ref}', but the weight store '{reference}' has none of that name")
        declared = op.results[0].type if key == "ref" and len(op.results) == 1 else None
        try:
            shape = tuple(store[ref].shape)
        except Exception as failure:  # a damaged member: zipfile and numpy raise many types
            raise op_error(op, f"cannot read array '{ref}' from the weight store ({type(failure).__name__})") from None
        if isinstance(declared, TensorType) and shape != declared.shape:
            raise op_error(op, f"declares {declared}, but the weight store '{reference}' holds '{ref}' with shape "
                               f"{list(shape)}")

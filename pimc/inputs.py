"""A model's or a program's inputs: read from .npy/.npz files, cast to the argument types, or seeded random.

    given = read_inputs("x.npz", model, {})           # arrays by graph input name, checked against the model
    feeds = feeds_for(func, given, seed=0)            # one array per argument, random where none was given
    x, y = read_dataset("d.npz")                      # x memory-mapped when np.savez stored it uncompressed
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass, replace

import numpy as np

from pimc.diagnostics import Diagnostic, DiagnosticError, UserError


def read_inputs(path: str | None, model, input_shapes: dict) -> dict[str, np.ndarray]:
    """Arrays by graph input name; one array for a one-input model may have any name."""
    from pimc.frontend.types import shape_of

    if path is None:
        return {}
    try:
        loaded = np.load(path, allow_pickle=False)
        arrays = {"": loaded} if isinstance(loaded, np.ndarray) else {name: loaded[name] for name in loaded.files}
    except Exception as failure:  # numpy raises OSError, ValueError, EOFError, BadZipFile, ...
        raise _error(f"cannot read inputs from '{path}': not an .npz or .npy file ({failure})") from None
    constants = {init.name for init in model.graph.initializer}
    inputs = {i.name: i for i in model.graph.input if i.name not in constants}
    names = list(inputs)
    if len(names) == 1 and len(arrays) == 1:
        arrays = {names[0]: next(iter(arrays.values()))}
    missing = [n for n in names if n not in arrays]
    if missing:
        raise _error(f"'{path}' has no array for input '{missing[0]}' (it has: {', '.join(arrays) or 'nothing'})")
    chosen = {n: arrays[n] for n in names}
    for name, array in chosen.items():
        dims = shape_of(inputs[name].type)
        differs = any(isinstance(d, int) and d != a for d, a in zip(dims or (), array.shape))
        if dims is not None and (len(dims) != array.ndim or differs):
            shown = ", ".join("?" if d is None else str(d) for d in dims)
            raise _error(f"the array in '{path}' for input '{name}' has shape {list(array.shape)}, "
                         f"but the input has shape [{shown}]")
    for name, shape in input_shapes.items():
        if name in chosen and tuple(chosen[name].shape) != shape:
            raise _error(f"--input-shape {name}={','.join(map(str, shape))} disagrees with the array in '{path}' "
                         f"of shape {chosen[name].shape}")
    return chosen


def read_program_inputs(path: str, shapes: dict) -> dict[str, np.ndarray]:
    """Arrays by program input name; one array for a one-input program may have any name."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as failure:  # numpy raises OSError, ValueError, EOFError, BadZipFile, ...
        raise UserError(f"cannot read '{path}': not an .npy or .npz file ({failure})") from None
    arrays = {"": loaded} if isinstance(loaded, np.ndarray) else {name: loaded[name] for name in loaded.files}
    if len(shapes) == 1 and len(arrays) == 1:
        arrays = {next(iter(shapes)): next(iter(arrays.values()))}
    missing = [name for name in shapes if name not in arrays]
    if missing:
        raise UserError(f"'{path}' has no array for input '{missing[0]}' (it has: {', '.join(arrays) or 'nothing'})")
    for name, shape in shapes.items():
        array = arrays[name]
        batch = shape[:1] == (1,) and array.ndim == len(shape) and array.shape[1:] == tuple(shape[1:])
        if array.shape != tuple(shape) and not batch:
            raise UserError(f"'{path}': input '{name}' has shape {list(array.shape)}, but the program takes "
                            f"{list(shape)}" + (" (or N samples along the first axis)" if shape[:1] == (1,) else ""))
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            bad = np.argwhere(~np.isfinite(array))
            raise UserError(f"--input {path}: input '{name}' holds NaN or Inf ({len(bad)} values, the first at "
                            f"{bad[0].tolist()}); the program quantizes finite values only")
    return {name: arrays[name] for name in shapes}


def read_dataset(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Labelled samples: the arrays `x` and `y` (one integer label per sample) of an .npz file; `x` is
    memory-mapped, read as it is used, when the file stores it uncompressed (as np.savez does)."""
    try:
        data = np.load(path, allow_pickle=False)
        stored = stored_rows(path, "x")
        arrays = {name: stored.mapped() if stored and name == "x" else data[name] for name in data.files}
    except Exception as failure:  # numpy raises OSError, ValueError, BadZipFile, ...
        raise UserError(f"cannot read '{path}': not an .npz file ({failure})") from None
    missing = [name for name in ("x", "y") if name not in arrays]
    if missing:
        raise UserError(f"'{path}' has no array '{missing[0]}': eval needs samples x and integer labels y")
    x, y = arrays["x"], arrays["y"]
    if len(x) != len(y) or y.ndim != 1 or y.dtype.kind not in "iu":
        raise UserError(f"'{path}': y must hold one integer label per sample of x ({len(x)}), got {y.dtype} {list(y.shape)}")
    if not len(x):
        raise UserError(f"'{path}' holds no samples: x has shape {list(x.shape)}")
    return x, y


@dataclass(frozen=True)
class StoredRows:
    """Rows [start, stop) of an array stored uncompressed at byte `offset` of the file at `path`: what a worker on
    this machine reads for itself, instead of receiving the samples through the scheduler."""

    path: str
    offset: int
    dtype: str
    shape: tuple[int, ...]
    start: int = 0
    stop: int = 0

    def mapped(self) -> np.ndarray:
        """The whole array, memory-mapped read-only."""
        return np.memmap(self.path, np.dtype(self.dtype), "r", self.offset, self.shape)

    def part(self, start: int, stop: int) -> StoredRows:
        """Rows [start, stop) of these rows."""
        return replace(self, start=self.start + start, stop=self.start + stop)

    def read(self) -> np.ndarray:
        """A copy of the rows, in memory."""
        return np.array(self.mapped()[self.start : self.stop])


def stored_rows(path: str, name: str) -> StoredRows | None:
    """All rows of the array `name` of the .npz at `path` when it is stored uncompressed in C order, else None."""
    with zipfile.ZipFile(path) as archive:
        info = next((i for i in archive.infolist() if i.filename == f"{name}.npy"), None)
    if info is None or info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as file:
        file.seek(info.header_offset + 26)  # a local file header: 30 bytes, then the member's name and extra field
        name_length, extra_length = struct.unpack("<HH", file.read(4))
        file.seek(info.header_offset + 30 + name_length + extra_length)
        version = np.lib.format.read_magic(file)
        if version not in ((1, 0), (2, 0)):
            return None
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(file)
        offset = file.tell()
    if fortran_order or dtype.hasobject or not shape or 0 in shape:  # numpy maps no empty array
        return None
    return StoredRows(path, offset, dtype.str, tuple(shape), 0, shape[0])


def feeds_for(func, given: dict[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """One array per argument of `func`, by name: the given one cast to its type, else seeded random values."""
    rng = np.random.default_rng(seed)
    return {a.name_hint: cast_input(given[a.name_hint], a.type, a.name_hint) if a.name_hint in given
            else random_input(rng, a.type) for a in func.arguments}


def sample_input(calib: str, func, seed: int = 0) -> dict[str, np.ndarray]:
    """One input per function argument, by name: the first sample of `calib`, else seeded random values."""
    rng = np.random.default_rng(seed)
    arrays = dict(np.load(calib)) if calib else {}
    only = next(iter(arrays.values())) if len(arrays) == 1 and len(func.arguments) == 1 else None
    chosen = {}
    for arg in func.arguments:
        array = arrays.get(arg.name_hint, only)
        shape, dtype = arg.type.shape, arg.type.element.numpy_dtype()
        chosen[arg.name_hint] = array[: shape[0]].astype(dtype) if array is not None else random_input(rng, arg.type)
    return chosen


def cast_input(array: np.ndarray, type_, name: str) -> np.ndarray:
    dtype = type_.element.numpy_dtype()
    if (array.dtype.kind == "f") != (dtype.kind == "f"):
        raise _error(f"input '{name}' holds {array.dtype} values, but the model takes {type_.element}")
    return array.astype(dtype)


def random_input(rng: np.random.Generator, type_) -> np.ndarray:
    dtype = type_.element.numpy_dtype()
    if dtype.kind == "f":
        return rng.standard_normal(type_.shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(type_.shape) < 0.5
    return rng.integers(0, 2, type_.shape).astype(dtype)


def _error(message: str) -> DiagnosticError:
    return DiagnosticError(Diagnostic(message))

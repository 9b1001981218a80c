"""Emit a placed `xbar` module as a crossbar program (docs/isa.md).

    %m = xbar.mvm(%p) {weights = "fc.matrix", rows = [0, 64], cols = [0, 10], tile = 0, ima = 2, xbar = 0, ...}
  ->
    program  xbar 3 <- levels[1024:5120]
    mvm      %m[0:1] = xbar 3 (%p[0:1, 0:64])  input slices [1,1,1,1,1,1,1,1]

Every other op becomes a digital vector op (`vop`) on the tile of its first operand, except that
an op whose result is larger than its operands (im2col) runs where the crossbars that read it are;
generic `onnx.*` ops run on the host (tile -1). An operand that lives on another tile is sent
there first, once. A layer with copies (place-tiles' `replicas`) splits its vectors among them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pimc.diagnostics import op_error
from pimc.dialects import nn, xbar
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import ReturnOp
from pimc.dialects.onnx import OnnxOp
from pimc.ir.core import Operation, Value
from pimc.ir.location import names_of
from pimc.memory import return_freed_pages
from pimc.text.printer import attr_text, value_names
from pimc.targets import target
from pimc.targets.datapath import Datapath, shifts
from pimc.targets.program import Buffer, Crossbar, Instruction, Program

HOST = -1
RETURN_EVERY = 64 << 20  # cells joined between handing the freed chunks' pages back


def layer_name(op: Operation) -> str:
    """The ONNX node a layer came from, else its weight matrix."""
    names = names_of(op.location)
    return names[0] if names else op.weights


@dataclass
class Emitter:
    """Builds one program from a placed module."""

    module: ModuleOp
    config: object  # the target's CrossbarConfig
    model: type[Datapath] | None = None  # the target's datapath model for the config's encoding
    names: dict[Value, str] = field(default_factory=dict)
    homes: dict[Value, int] = field(default_factory=dict)  # the tile of each value's home buffer
    program: Program | None = None
    _plan: dict[Value, int] = field(default_factory=dict)
    _copies: dict[tuple, str] = field(default_factory=dict)
    _cells: dict[tuple, tuple] = field(default_factory=dict)
    _levels: list[np.ndarray] = field(default_factory=list)  # every crossbar's cells, views of its chunk's, in order
    _flips: list[np.ndarray] = field(default_factory=list)
    _centers: list[np.ndarray] = field(default_factory=list)
    _sizes: tuple[int, int, int] = (0, 0, 0)  # of the three lists, added up

    def emit(self) -> Program:
        (func,) = self.module.funcs()
        self.model = target(self.config.name).datapath(self.config.signed_encoding)
        self.names = value_names(self.module)
        self.program = Program(self.module.sym_name or "model", self.config.name, self.config.as_dict(), [], [], {}, [], [])
        self._plan = self._tiles(func)
        for arg in func.arguments:
            tile = self._plan[arg]
            self._add(tile, "load", dst=self._buffer(arg, tile), input=arg.name_hint or self.names[arg])
            self.program.inputs.append((arg.name_hint or self.names[arg], self.names[arg]))
        for op in func.body.ops:
            if isinstance(op, ReturnOp):
                self._outputs(op)
            elif isinstance(op, xbar.MvmOp):
                self._mvm(op)
            elif not isinstance(op, nn.WeightOp):  # constants are loaded where they are first used
                self._vop(op, self._plan[op.results[0]] if op.results else 0)
        loading = [i for i in self.program.instructions if i.op == "program"]  # cells are written before any run
        running = [i for i in self.program.instructions if i.op != "program"]
        self.program.instructions = [Instruction(seq, i.tile, i.op, i.args) for seq, i in enumerate(loading + running)]
        self._cells.clear()  # every chunk's levels are in the crossbars' now
        self.program.cells = {"levels": _joined(self._levels, np.uint8), "flipped": _joined(self._flips, bool)}
        if self._centers:
            self.program.cells["centers"] = np.concatenate(self._centers)
        return self.program

    def _tiles(self, func) -> dict[Value, int]:
        """Home tile of every value: that of its first operand's, or, for a value that feeds crossbars and
        is larger than its operands (im2col's patches), that of the first crossbars it feeds."""
        plan: dict[Value, int] = {}
        for op in reversed(list(func.body.ops)):
            if isinstance(op, xbar.MvmOp) and _expands(op.input):
                plan[op.input] = _global_tile(op, self.config)
        for op in func.body.ops:
            if isinstance(op, xbar.MvmOp):
                plan[op.result] = _global_tile(op, self.config)
                continue
            placed = [plan[v] for v in op.operands if plan.get(v, HOST) != HOST]
            for value in op.results:
                plan.setdefault(value, HOST if isinstance(op, OnnxOp) else placed[0] if placed else 0)
        for arg in func.arguments:
            users = [op for op in arg.users if op.results]
            plan.setdefault(arg, plan[users[0].results[0]] if users else 0)
        return plan

    def _add(self, tile: int, op: str, **args) -> None:
        self.program.instructions.append(Instruction(len(self.program.instructions), tile, op, args))

    def _buffer(self, value: Value, tile: int, name: str | None = None) -> str:
        name = name or self.names[value]
        size = math.ceil(value.type.num_elements * value.type.element.width / 8)
        self.program.buffers[name] = Buffer(name, str(value.type), tile, size)
        self.homes.setdefault(value, tile)
        return name

    def _on(self, value: Value, tile: int, rows: tuple[int, int] | None = None) -> str:
        """The name of `value`'s buffer on `tile`, sending it there (once) if it lives elsewhere."""
        if value not in self.homes and isinstance(getattr(value, "op", None), nn.WeightOp):
            self._constant(value.op, tile)
        home = self.homes[value]
        if home == tile:
            return self.names[value]
        key = (value, tile, rows)  # copies of a layer on one tile each receive their own rows
        if key not in self._copies:
            name = f"{self.names[value]}@{'host' if tile == HOST else f't{tile}'}"
            self._buffer(value, tile, name)
            self._send(self.names[value], name, home, tile, rows, value.type.shape[0])
            self._copies[key] = name
        return self._copies[key]

    def _send(self, src: str, dst: str, source: int, target: int, rows: tuple[int, int] | None, count: int) -> None:
        """Buffer `src` (or its `rows` of `count`) from tile `source` into buffer `dst` on tile `target`."""
        size = self.program.buffers[src].bytes
        if rows is not None:
            size = math.ceil(size * (rows[1] - rows[0]) / count)
        args = {"src": src, "dst": dst, "to": target, "bytes": size, "hops": _hops(source, target, self.config)}
        self._add(source, "send", **args, **({"rows": list(rows)} if rows else {}))
        self._add(target, "recv", dst=dst, **{"from": source})

    # ------------------------------------------------------------------ instructions

    def _constant(self, op: nn.WeightOp, tile: int) -> None:
        array = self.module.weights[op.ref].reshape(op.result.type.shape)
        key = op.ref
        self.program.constants[key] = array.astype(op.result.type.element.numpy_dtype())
        self._add(tile, "const", dst=self._buffer(op.result, tile), key=key)

    def _vop(self, op: Operation, tile: int) -> None:
        if op.regions:
            raise op_error(op, "has regions; a crossbar program cannot run it")
        srcs = [self._on(v, tile) for v in op.operands]
        results = [str(r.type) for r in op.results]
        types = f"({', '.join(str(v.type) for v in op.operands)}) -> " + (
            results[0] if len(results) == 1 else f"({', '.join(results)})")
        dsts = [self._buffer(r, tile) for r in op.results]
        self._add(tile, "vop", kind=op.op_name, srcs=srcs, dst=dsts[0] if len(dsts) == 1 else dsts,
                  attrs=attr_text(dict(op.attributes)), type=types)

    def _outputs(self, op: ReturnOp) -> None:
        for index, value in enumerate(op.operands):
            name = self.names[value]
            output = value.name_hint or f"output{index}"
            self._add(self.homes[value], "store", src=name, output=output)
            self.program.outputs.append((output, name))

    def _mvm(self, op: xbar.MvmOp) -> None:
        if op.tile is None or op.input_slices is None:
            raise op_error(op, "is not placed and input-sliced; run slice-inputs and place-tiles first")
        vectors = op.input.type.shape[0]
        places = [_place(op)] + [tuple(p) for p in (op.replicas or ())]
        dst = self._buffer(op.result, _global_tile(op, self.config))
        copies = len(places)
        for copy, place in enumerate(places):
            v0, v1 = copy * vectors // copies, (copy + 1) * vectors // copies  # place-tiles' rule
            if v0 == v1:
                continue
            crossbar = self._crossbar(op, place)
            tile = _tile_of(place, self.config)
            src = self._on(op.input, tile, None if copy == 0 else (v0, v1))
            out = dst if copy == 0 else self._buffer(op.result, tile, f"{dst}@t{tile}")
            r0, r1 = op.rows
            self._add(tile, "mvm", xbar=crossbar.id, src=src, dst=out, vectors=[v0, v1],
                      src_cols=[op.input_offset + r0, op.input_offset + r1], input_slices=list(op.input_slices),
                      **({"speculate": True} if op.speculate else {}),
                      **({"zero_point": op.input_zero_point} if op.signed_planes else {}))
            if copy:
                self._send(out, dst, tile, self.homes[op.result], (v0, v1), vectors)

    def _crossbar(self, op: xbar.MvmOp, place: tuple[int, ...]) -> Crossbar:
        config, model = self.config, self.model
        (r0, r1), (c0, c1) = op.rows, op.cols
        if op.speculate and not model.speculates:
            raise op_error(op, f"has speculative input slices, which target '{config.name}' cannot recover")
        if op.signed_planes and not model.signed_inputs:
            raise op_error(op, f"has signed input planes, which target '{config.name}' cannot drive")
        if (op.centers is not None) != model.centered:
            raise op_error(op, f"has {'centers' if op.centers else 'no centers'}, but target '{config.name}' stores "
                               f"weights with {config.signed_encoding} encoding"
                               + ("; run center-offset first" if op.centers is None else ""))
        widths = op.weight_slices or xbar.even_slices(op.weight_bits, config.cell_bits)
        levels, flipped, per_weight, offset = self._chunk_cells(op, widths)
        columns = slice(c0 * per_weight, c1 * per_weight)
        index = len(self.program.crossbars)
        cells = levels[:, columns]  # copied once, when the program's cells are joined
        start, first_flip, first_center = self._sizes
        self._levels.append(cells)
        self._flips.append(flipped[columns])
        centers = None
        if op.centers is not None:
            self._centers.append(self.module.weights[op.centers][c0:c1].astype(np.int32))
            centers = (first_center, first_center + c1 - c0)
        self._sizes = (start + cells.size, first_flip + len(self._flips[-1]), centers[1] if centers else first_center)
        chip, tile, ima, slot = place if len(place) == 4 else (0, *place)
        crossbar = Crossbar(index, layer_name(op), chip, tile, ima, slot, r1 - r0, c1 - c0, widths, config.signed_encoding,
                            offset, (start, start + cells.size), (first_flip, first_flip + len(self._flips[-1])), centers,
                            op.block_groups)
        self.program.crossbars.append(crossbar)
        self._add(_tile_of(place, config), "program", xbar=index, cells=list(crossbar.cells))
        return crossbar

    def _chunk_cells(self, op: xbar.MvmOp, widths: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Cell levels of rows [r0, r1) of a weight matrix, every column, as stored (ISAAC's inversion applied
        per cell column over these rows), the flipped bits, cell columns per weight, and the offset; once per chunk."""
        key = (op.weights, op.centers, op.weight_bits, widths, *op.rows)
        if key not in self._cells:
            matrix = self.module.weights[op.weights][op.rows[0] : op.rows[1]]
            if op.centers is not None:
                matrix = matrix.astype(np.int64) - self.module.weights[op.centers]
            levels, offset = cell_levels(matrix, op.weight_bits, widths, self.config.signed_encoding)
            maxima = np.tile(np.array([(1 << w) - 1 for w in widths], np.uint8), levels.shape[1] // len(widths))
            flipped = np.zeros(levels.shape[1], bool)
            if self.config.column_flip:
                flipped = levels.sum(axis=0, dtype=np.int64) * 2 > maxima.astype(np.int64) * levels.shape[0]
                levels = np.where(flipped, maxima - levels, levels)
            self._cells[key] = (levels, flipped, levels.shape[1] // matrix.shape[1], offset)
        return self._cells[key]


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    """The parts end to end, each raveled and let go once copied, so that the whole and the parts are never all held
    at once (a crossbar's cells are a view of its chunk's, which goes with its last crossbar's). The chunks are heap
    blocks, which glibc keeps once freed (`reuse_freed_memory`), so their pages are handed back as the copy goes:
    RAELLA's VGG-16, 2.07 → 1.79 GB at its `--estimate-only` peak."""
    joined = np.empty(sum(p.size for p in parts), dtype)
    start = returned = 0
    for index, part in enumerate(parts):
        joined[start : start + part.size].reshape(part.shape)[...] = part
        start += part.size
        parts[index] = None
        if start - returned >= RETURN_EVERY:
            return_freed_pages()
            returned = start
    return joined


def cell_levels(matrix: np.ndarray, bits: int, widths: tuple[int, ...], encoding: str) -> tuple[np.ndarray, int]:
    """Cell levels (rows x cell columns, weight-major, uint8) of a signed integer matrix, and the offset added.

    offset: w + 2^(bits-1) sliced; differential and center-offset (whose caller passes w - center): |w| sliced
    into a positive and a negative plane.
    """
    rows, weights = matrix.shape
    count = len(widths)
    if encoding == "offset":
        offset = 1 << (bits - 1)
        planes = [matrix.astype(np.int32) + offset]
    else:
        offset = 0
        planes = [np.maximum(matrix, 0).astype(np.int32), np.maximum(-matrix, 0).astype(np.int32)]
    stride = count * len(planes)
    levels = np.empty((rows, weights * stride), np.uint8)
    for p, plane in enumerate(planes):
        for j, (shift, width) in enumerate(zip(shifts(widths), widths)):
            levels[:, p * count + j :: stride] = (plane >> shift) & ((1 << width) - 1)
    return levels, offset


def _expands(value: Value) -> bool:
    """An op's result holds more elements than its operands together: cheaper to send the operands."""
    producer = getattr(value, "op", None)
    return producer is not None and value.type.num_elements > sum(v.type.num_elements for v in producer.operands)


def _place(op: xbar.MvmOp) -> tuple[int, ...]:
    return (op.chip, op.tile, op.ima, op.xbar) if op.chip is not None else (op.tile, op.ima, op.xbar)


def _tile_of(place: tuple[int, ...], config) -> int:
    """Tiles are numbered across chips: chip c's tile t is c * tiles + t."""
    return place[0] * config.tiles + place[1] if len(place) == 4 else place[0]


def _global_tile(op: xbar.MvmOp, config) -> int:
    return _tile_of(_place(op), config)


def _hops(source: int, target: int, config) -> int:
    """Manhattan distance on each chip's square mesh of tiles; the host and other chips are one link away."""
    if HOST in (source, target) or source // config.tiles != target // config.tiles:
        return 1
    side = math.ceil(math.sqrt(config.tiles))
    a, b = source % config.tiles, target % config.tiles
    return abs(a // side - b // side) + abs(a % side - b % side)


def emit_program(module: ModuleOp, config) -> tuple[Program, dict[Value, str]]:
    """The program of a placed module, and each IR value's home buffer."""
    emitter = Emitter(module, config)
    program = emitter.emit()
    return program, {v: emitter.names[v] for v in emitter.homes}

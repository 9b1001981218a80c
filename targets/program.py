"""A crossbar program: per-tile instruction streams, the crossbars' cell contents and the constants.

A program directory holds `program.json` (what the simulator reads), `program.txt` (the same
program for people), `cells.npz` (every crossbar's cell levels, one after another) and `constants.npz`
(digital operands: biases, requantization multipliers). docs/isa.md defines the instructions:

    7  mvm   %acc[0:64, 0:16] += xbar 0 (%patches[0:64, 0:9])  input slices [1,1,1,1,1,1,1,1]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields

import numpy as np

from pimc.diagnostics import UserError

FORMAT = "pimc-program/1"
FIELDS = {  # each opcode's fields (docs/isa.md)
    "program": ("xbar", "cells"), "load": ("dst", "input"), "const": ("dst", "key"),
    "mvm": ("xbar", "src", "dst", "vectors", "src_cols", "input_slices"),  # optional: speculate, zero_point
    "vop": ("kind", "srcs", "dst", "attrs", "type"), "send": ("src", "dst", "to", "bytes", "hops"),
    "recv": ("dst", "from"), "store": ("src", "output"),
}
_REQUIRED = {op: frozenset(names) for op, names in FIELDS.items()}


@dataclass(frozen=True)
class Buffer:
    """A tensor in a tile's eDRAM (tile -1: the host)."""

    name: str
    type: str  # an IR tensor type: tensor<64x9xui8>
    tile: int
    bytes: int


@dataclass(frozen=True)
class Crossbar:
    """One crossbar and what is programmed into it.

    Cell column j of weight column n is `n * slices + j` (slices most significant first; with
    differential encoding the positive slices come first, then the negative ones). A column
    whose `flipped` bit is set holds `max_level - level`: ISAAC's inversion that keeps column
    sums within half the ADC's range. With center-offset encoding the two planes hold the
    positive and negative parts of `weight - center`, each slice's pair read as one signed column.
    """

    id: int
    layer: str
    chip: int
    tile: int
    ima: int
    xbar: int
    rows: int  # rows in use
    weights: int  # weight columns in use
    cell_widths: tuple[int, ...]  # bits per cell slice, most significant first
    encoding: str  # "offset", "differential" or "center-offset"
    offset: int  # added to every weight before slicing ("offset" encoding)
    cells: tuple[int, int]  # [start, stop) of cells.npz's `levels`: rows x cell columns, row by row
    flipped: tuple[int, int]  # [start, stop) of cells.npz's `flipped`: one bit per cell column
    centers: tuple[int, int] | None = None  # [start, stop) of cells.npz's `centers`: one per weight ("center-offset")
    blocks: int | None = None  # groups of a grouped conv on diagonal blocks (pack-groups): the rest of its cells hold 0

    @property
    def cells_in_use(self) -> int:
        """Crossbar cells (a 2T2R pair is one) that hold a weight of the model: all of them, or those of the
        diagonal blocks."""
        return self.rows * self.adc_columns // (self.blocks or 1)

    @property
    def planes(self) -> int:
        """Cell columns per weight slice: a positive and a negative device column, except with offset encoding."""
        return 1 if self.encoding == "offset" else 2

    @property
    def cell_columns(self) -> int:
        return self.weights * len(self.cell_widths) * self.planes

    @property
    def adc_columns(self) -> int:
        """Columns the ADCs convert: a center-offset slice's 2T2R pair is sensed as one difference."""
        return self.weights * len(self.cell_widths) if self.encoding == "center-offset" else self.cell_columns


@dataclass(frozen=True)
class Instruction:
    """One step of a tile's stream; `op` is one of docs/isa.md's opcodes, `args` its fields."""

    seq: int
    tile: int
    op: str
    args: dict = field(default_factory=dict)

    @property
    def writes(self) -> list[str]:
        """The buffers it writes."""
        return [] if self.op in ("program", "recv", "store") else destinations(self.args)

    @property
    def reads(self) -> list[str]:
        """The buffers it reads; a recv, the one its send filled."""
        if self.op == "vop":
            return self.args["srcs"]
        name = self.args["dst"] if self.op == "recv" else self.args.get("src")
        return [name] if name else []


@dataclass
class Program:
    model: str
    target: str
    config: dict
    inputs: list[tuple[str, str]]  # (graph input name, buffer)
    outputs: list[tuple[str, str]]
    buffers: dict[str, Buffer]
    crossbars: list[Crossbar]
    instructions: list[Instruction]
    cells: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    constants: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def levels(self, x: Crossbar) -> np.ndarray:
        """A crossbar's cell levels, rows x cell columns."""
        start, stop = x.cells
        return self.cells["levels"][start:stop].reshape(x.rows, -1)

    def cell_runs(self, crossbars: list[Crossbar]) -> list[tuple[Crossbar, np.ndarray]]:
        """The levels of `crossbars` in as few arrays as their cells allow, each (stored weights, planes, slices)
        beside a crossbar of its layout: crossbars of one encoding and slicing whose cells lie side by side share one
        (ResNet-50's 6,260 crossbars: 54 arrays).

            for x, levels in program.cell_runs(layer_crossbars): levels[..., 0]   # every most significant slice"""
        spans: list[tuple[Crossbar, list[int]]] = []
        for x in sorted(crossbars, key=lambda x: x.cells):
            last = spans[-1] if spans else None
            layout = (x.encoding, x.cell_widths)
            if last and last[1][1] == x.cells[0] and (last[0].encoding, last[0].cell_widths) == layout:
                last[1][1] = x.cells[1]
            else:
                spans.append((x, list(x.cells)))
        levels = self.cells["levels"]
        return [(x, levels[start:stop].reshape(-1, x.planes, len(x.cell_widths))) for x, (start, stop) in spans]

    def flipped(self, x: Crossbar) -> np.ndarray:
        start, stop = x.flipped
        return self.cells["flipped"][start:stop]

    def centers(self, x: Crossbar) -> np.ndarray:
        """Per weight column, what the digital unit multiplies the input sum by: the center, or -offset."""
        if x.centers is None:
            return np.full(x.weights, -x.offset, np.int64)
        start, stop = x.centers
        return self.cells["centers"][start:stop].astype(np.int64)

    def stream(self, tile: int) -> list[Instruction]:
        return [i for i in self.instructions if i.tile == tile]

    def streams(self) -> dict[int, list[Instruction]]:
        """Every tile's stream, tiles in order: one pass over the instructions."""
        by_tile: dict[int, list[Instruction]] = {}
        for i in self.instructions:
            by_tile.setdefault(i.tile, []).append(i)
        return dict(sorted(by_tile.items()))

    @property
    def tiles(self) -> list[int]:
        return sorted({i.tile for i in self.instructions})

    def as_json(self) -> dict:
        """The program.json object; fields in declaration order, a crossbar's None fields left out."""
        buffer_fields = [f.name for f in fields(Buffer)]
        crossbar_fields = [f.name for f in fields(Crossbar)]
        return {
            "format": FORMAT, "model": self.model, "target": self.target, "config": self.config,
            "inputs": [list(pair) for pair in self.inputs], "outputs": [list(pair) for pair in self.outputs],
            "buffers": [{k: getattr(b, k) for k in buffer_fields} for b in self.buffers.values()],
            "crossbars": [{k: v for k in crossbar_fields if (v := getattr(x, k)) is not None} for x in self.crossbars],
            "tiles": [{"tile": t, "instructions": [{"seq": i.seq, "op": i.op, **i.args} for i in stream]}
                      for t, stream in self.streams().items()],
        }

    def write(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "program.json"), "w") as file:
            file.write(json.dumps(self.as_json(), separators=(",", ":"), allow_nan=False) + "\n")  # the C encoder: no indent; strict
        with open(os.path.join(directory, "program.txt"), "w") as file:
            file.write(program_text(self))
        _save_npz(os.path.join(directory, "cells.npz"), self.cells)
        _save_npz(os.path.join(directory, "constants.npz"), self.constants)


def _save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz in a fixed order with fixed timestamps, so equal programs give equal bytes."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)


def read_program(directory: str) -> Program:
    """The program `pimc compile` wrote to `directory`; UserError if it is missing or not one."""
    path = os.path.join(directory, "program.json")
    try:
        with open(path) as file:
            data = json.load(file)
    except FileNotFoundError:
        raise UserError(f"{directory}: no program.json here; give the directory `pimc compile -o` wrote") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}:{error.colno}: not a pimc program: {error.msg}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path}: not a pimc program (expected \"format\": \"{FORMAT}\")")
    cells, constants = _arrays(directory, "cells.npz"), _arrays(directory, "constants.npz")
    try:
        program = _program(data, path, cells, constants)
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path}: inconsistent pimc program ({type(error).__name__}: {error})") from None
    _check_arrays(program, path)
    return program


def _arrays(directory: str, name: str) -> dict[str, np.ndarray]:
    """The arrays of one of a program's .npz files; UserError if it is missing, truncated or not an .npz."""
    path = os.path.join(directory, name)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return dict(archive)
    except Exception as error:  # numpy raises OSError, ValueError, BadZipFile, EOFError, ... on a damaged file
        raise UserError(f"{path}: cannot read the program's arrays ({type(error).__name__}: {error})") from None


def _program(data: dict, path: str, cells: dict, constants: dict) -> Program:
    instructions = []
    for stream in data["tiles"]:
        for entry in stream["instructions"]:
            args = {k: v for k, v in entry.items() if k not in ("seq", "op")}
            instruction = Instruction(entry.get("seq", -1), stream["tile"], entry.get("op", ""), args)
            _check(instruction, path)
            instructions.append(instruction)
    instructions.sort(key=lambda i: i.seq)
    crossbars = [Crossbar(**{**x, **{k: tuple(x[k]) for k in ("cell_widths", "cells", "flipped", "centers") if x.get(k)}})
                 for x in data["crossbars"]]
    return Program(data["model"], data["target"], data["config"], [tuple(p) for p in data["inputs"]],
                   [tuple(p) for p in data["outputs"]], {b["name"]: Buffer(**b) for b in data["buffers"]},
                   crossbars, instructions, cells, constants)


def _check_arrays(program: Program, path: str) -> None:
    """Every range a crossbar names lies within cells.npz, and every constant an instruction loads is in constants.npz."""
    for crossbar in program.crossbars:
        for field in ("cells", "flipped", "centers"):
            span, array = getattr(crossbar, field), program.cells.get(field if field != "cells" else "levels")
            if span and (array is None or not 0 <= span[0] <= span[1] <= array.size):
                raise UserError(f"{path}: crossbar {crossbar.id}'s {field} {list(span)} lie outside cells.npz")
        if crossbar.cells[1] - crossbar.cells[0] != crossbar.rows * crossbar.cell_columns:
            raise UserError(f"{path}: crossbar {crossbar.id}'s cells {list(crossbar.cells)} are not its "
                            f"{crossbar.rows} rows of {crossbar.cell_columns} cell columns")
    _check_levels(program, path)
    for instruction in program.instructions:
        if instruction.op == "const" and instruction.args["key"] not in program.constants:
            raise UserError(f"{path}: instruction {instruction.seq} loads constant '{instruction.args['key']}', "
                            "which constants.npz does not hold")


def _check_levels(program: Program, path: str) -> None:
    """No cell holds a level above its slice's largest, 2^width - 1 (a hand-edited cells.npz): the datapaths'
    arithmetic, ISAAC's inverted columns among it, holds only for levels a cell can store."""
    cells = os.path.join(os.path.dirname(path), "cells.npz")
    for x, levels in program.cell_runs(program.crossbars):
        if levels.max(initial=0) <= min((1 << w) - 1 for w in x.cell_widths):
            continue  # every slice's range holds the run's largest level: one pass over it
        for j, width in enumerate(x.cell_widths):
            if levels[..., j].max(initial=0) >> width:
                raise UserError(_level_error(program, x.cell_widths, j, cells))


def _level_error(program: Program, widths: tuple[int, ...], j: int, cells: str) -> str:
    """Where the first cell of slice j that holds too high a level is, among the crossbars sliced `widths`."""
    for x in program.crossbars:
        if x.cell_widths != widths:
            continue
        levels = program.levels(x).reshape(x.rows, -1, len(widths))[..., j]  # rows x (weight, plane) columns
        high = np.argwhere(levels >> widths[j])
        if len(high):
            row, column = (int(v) for v in high[0])
            return (f"{cells}: crossbar {x.id} (layer {x.layer}) row {row} cell column {column * len(widths) + j} "
                    f"holds level {levels[row, column]}, above the largest a {widths[j]}-bit cell stores "
                    f"({(1 << widths[j]) - 1})")
    raise AssertionError("a level too high in a run but in none of its crossbars")


def destinations(args: dict) -> list[str]:
    """A vop's result buffers: its `dst`, one name or a list of them."""
    return args["dst"] if isinstance(args["dst"], list) else [args["dst"]]


def _check(i: Instruction, path: str) -> None:
    if i.op not in FIELDS:
        raise UserError(f"{path}: instruction {i.seq} on tile {i.tile}: unknown opcode '{i.op}' "
                        f"(opcodes: {', '.join(FIELDS)})")
    if i.args.keys() >= _REQUIRED[i.op]:
        return
    missing = next(name for name in FIELDS[i.op] if name not in i.args)
    raise UserError(f"{path}: instruction {i.seq} on tile {i.tile}: '{i.op}' lacks field '{missing}'")


def program_text(program: Program) -> str:
    """The readable listing: a header, the crossbars, then each tile's stream."""
    lines = [f"; pimc crossbar program: {program.model} on {program.target}",
             f"; {len(program.crossbars)} crossbars on {len(program.tiles)} tiles (tile -1 is the host)", ""]
    for x in program.crossbars:
        widths = ",".join(map(str, x.cell_widths))
        lines.append(f"xbar {x.id}: chip {x.chip} tile {x.tile} ima {x.ima} xbar {x.xbar}  {x.layer}  "
                     f"{x.rows} rows x {x.weights} weights, cells [{widths}] {x.encoding}")
    for tile, stream in program.streams().items():
        lines += ["", "host:" if tile < 0 else f"tile {tile}:"]
        lines += [f"  {i.seq:<5} {format_instruction(i)}" for i in stream]
    return "\n".join(lines) + "\n"


def format_instruction(i: Instruction) -> str:
    a = i.args
    if i.op == "mvm":
        (v0, v1), (r0, r1) = a["vectors"], a["src_cols"]
        slices = ",".join(map(str, a["input_slices"]))
        speculative = (" speculative" if a.get("speculate") else "") + \
            (f" planes around {a['zero_point']}" if a.get("zero_point") else "")
        return (f"mvm      %{a['dst']}[{v0}:{v1}] = xbar {a['xbar']} (%{a['src']}[{v0}:{v1}, {r0}:{r1}])"
                f"  input slices [{slices}]{speculative}")
    if i.op == "vop":
        operands = ", ".join(f"%{name}" for name in a["srcs"])
        results = ", ".join(f"%{name}" for name in destinations(a))
        unit = "host" if i.tile < 0 else "vop"
        return f"{unit:<8} {results} = {a['kind']}({operands}) {a['attrs']} : {a['type']}".replace(" {} :", " :")
    if i.op == "load":
        return f"load     %{a['dst']} <- input \"{a['input']}\""
    if i.op == "const":
        return f"const    %{a['dst']} <- constants[\"{a['key']}\"]"
    if i.op == "send":
        rows = f"[{a['rows'][0]}:{a['rows'][1]}]" if "rows" in a else ""
        return f"send     %{a['src']}{rows} -> %{a['dst']} on tile {a['to']} ({a['bytes']} bytes, {a['hops']} hops)"
    if i.op == "recv":
        return f"recv     %{a['dst']} <- tile {a['from']}"
    if i.op == "store":
        return f"store    %{a['src']} -> output \"{a['output']}\""
    if i.op == "program":
        return f"program  xbar {a['xbar']} <- levels[{a['cells'][0]}:{a['cells'][1]}]"
    raise ValueError(f"unknown instruction {i.op}")

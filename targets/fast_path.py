"""The simulator's fast path: MVMs over the same input vectors whose crossbars provably never clip, each group
computed as one matrix product.

    groups = plan_groups(program.instructions, crossbars, (adc_bits, adc_step))   # first seq -> its FastGroup
    product = groups[seq].product(x)     # every member's output, exact integers

When only a run's outputs are read (`sums=True`), the MVMs whose outputs one `xbar.add` sums, over adjacent
columns of the same inputs, are one member that computes the add's result:

    %7 = xbar 4 (%p[0:3136, 0:116]) ... %11 = xbar 8 (%p[0:3136, 464:576]); %12 = xbar.add(%7, ..., %11)
        ->  %12 = %p[0:3136, 0:576] @ [W4; ...; W8]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.interp.integer_products import as_int8, byte_products
from pimc.ir.types import parse_type
from pimc.targets.datapath import CrossbarStats, Datapath
from pimc.targets.program import Instruction


@dataclass(frozen=True)
class Member:
    """One output of a group: an MVM's, or the result of an xbar.add `sum` of MVMs over adjacent input columns."""

    parts: tuple[Instruction, ...]  # in the order of their input columns
    sum: Instruction | None = None
    moves: tuple[Instruction, ...] = ()  # the sends and receives that carried parts' outputs to the sum's tile

    @property
    def dst(self) -> str:
        return (self.sum or self.parts[0]).args["dst"]

    @property
    def first(self) -> int:
        """The earliest step among its MVMs: where its inputs are ready."""
        return min(i.seq for i in self.parts)


@dataclass(frozen=True)
class FastGroup:
    """Crossbars that read the same input vectors and provably never clip: their weights side by side, the
    digital correction folded in (x @ stored + correction * sum(x) = x @ (stored + correction), in integers).

    Inputs of up to 8 bits times weights that fit int8 go through onnxruntime's 8-bit integer kernel, exact
    (pimc/interp/integer_products.py). Otherwise every partial sum of the product is an integer of magnitude at
    most (2^input bits - 1) * max|weight| * rows: float32 computes it exactly below 2^24, float64 below 2^53,
    so the product needs no rounding."""

    instructions: list[Instruction]  # what the group does in their place: its MVMs, and the sums it folds in
    columns: tuple[int, int]  # the input columns it reads
    weights: np.ndarray  # rows x all their weights: int8, else float32 where every product is exact in it
    outputs: list[tuple[str, int, int, int, int]]  # per member: dst buffer, its vectors v0:v1, its columns of `weights`
    events: list[tuple[int, CrossbarStats]]  # per member: its crossbar, what one execution of the group counts

    def product(self, x: np.ndarray) -> np.ndarray:
        """x @ weights in exact integers: int32 (the IR's i32 results) from int8 or float32 weights, else int64."""
        if self.weights.dtype == np.int8:
            return byte_products(x, self.weights)
        integers = np.int32 if self.weights.dtype == np.float32 else np.int64
        return (x.astype(self.weights.dtype) @ self.weights).astype(integers)

    @classmethod
    def build(cls, run: list[Member], crossbars: dict[int, Datapath]) -> FastGroup:
        first = run[0].parts
        bits = sum(first[0].args["input_slices"])
        folded = [_weights(m, crossbars, narrow=bits <= 8) for m in run]
        if all(f.dtype == np.int8 for f in folded):
            weights = np.hstack(folded)
        else:
            matrix = np.hstack(folded).astype(np.float64, copy=False)
            bound = ((1 << bits) - 1) * float(np.abs(matrix).max(initial=0)) * len(matrix)
            weights = matrix.astype(np.float32 if bound < 2**24 else np.float64)
        bounds = np.cumsum([0] + [f.shape[1] for f in folded]).tolist()
        outputs = [(m.dst, *m.parts[0].args["vectors"], start, stop) for m, start, stop in zip(run, bounds, bounds[1:])]
        events = [(i.args["xbar"], _events(i, crossbars[i.args["xbar"]])) for m in run for i in m.parts]
        replaced = [i for m in run for i in (*m.parts, *m.moves, *([m.sum] if m.sum else []))]
        return cls(replaced, (first[0].args["src_cols"][0], first[-1].args["src_cols"][1]), weights, outputs, events)


def _weights(m: Member, crossbars: dict[int, Datapath], narrow: bool) -> np.ndarray:
    """A member's weights, digital corrections folded in: its parts' rows, in the order of their input columns;
    `narrow`ed to int8 a crossbar at a time where every value fits (VGG-16's first classifier layer is 822 MB in
    float64, 103 MB in int8)."""
    parts = []
    for i in m.parts:
        part = crossbars[i.args["xbar"]].stored + crossbars[i.args["xbar"]].correction
        narrowed = as_int8(part) if narrow else None
        parts.append(part if narrowed is None else narrowed)
    return parts[0] if len(parts) == 1 else np.vstack(parts)


def _events(i: Instruction, crossbar: Datapath) -> CrossbarStats:
    """What one fast execution of MVM `i` counts on its crossbar; signed planes: two passes."""
    events, (v0, v1) = CrossbarStats(), i.args["vectors"]
    for _ in range(2 if i.args.get("zero_point") else 1):
        crossbar.count(v1 - v0, tuple(i.args["input_slices"]), speculative(i), events)
    return events


def plan_groups(instructions: list[Instruction], crossbars: dict[int, Datapath], adc: tuple[int, int],
                sums: bool = False) -> dict[int, FastGroup]:
    """The groups of MVMs over the same input vectors whose crossbars provably never clip, by the step they run at
    (their earliest MVM's seq); with `sums`, each xbar.add of such MVMs over adjacent input columns, whose outputs
    nothing else reads, is one member computing the add (`_sums`). Buffers are written once per run, so a group
    may compute every member's output at its first; a whole `send` gives its destination the source's array, so
    MVMs on several tiles may read the same vectors.
    """
    origin: dict[str, str] = {}  # a buffer a whole send wrote -> the buffer it copies
    fast: dict[int, Instruction] = {}
    for i in instructions:
        if i.op == "send" and "rows" not in i.args:
            origin[i.args["dst"]] = origin.get(i.args["src"], i.args["src"])
        if i.op == "mvm" and crossbars[i.args["xbar"]].never_clips(tuple(i.args["input_slices"]), speculative(i), *adc):
            fast[i.seq] = i
    members = _sums(instructions, fast, origin, crossbars) if sums else []
    summed = {i.seq for m in members for i in m.parts}
    members = sorted(members + [Member((i,)) for seq, i in fast.items() if seq not in summed], key=lambda m: m.first)
    runs: dict[tuple, list[Member]] = {}
    for m in members:
        runs.setdefault(_inputs_of(m, origin), []).append(m)
    return {run[0].first: FastGroup.build(run, crossbars) for run in runs.values()}


def _sums(instructions: list[Instruction], fast: dict[int, Instruction], origin: dict[str, str],
          crossbars: dict[int, Datapath]) -> list[Member]:
    """Each xbar.add whose operands all come whole from fast MVMs on int8 weights (directly or through one whole
    send), read by nothing else, over adjacent columns of the same input vectors: its i32 sum is then one
    integer-kernel product, exact (below 255 * 128 * rows < 2^31), so it wraps nowhere, as the add would not."""
    writers: dict[str, list[Instruction]] = {}
    readers: dict[str, list[Instruction]] = {}
    for i in instructions:
        for name in i.writes:
            writers.setdefault(name, []).append(i)
        for name in i.reads:
            readers.setdefault(name, []).append(i)

    def part(name: str, add: Instruction) -> tuple[Instruction | None, tuple[Instruction, ...]]:
        """The fast MVM that wrote `name` for `add` alone, directly or through one whole send (returned with the
        send and its receive); (None, ()) otherwise."""
        written, others = writers.get(name, []), [r for r in readers[name] if r is not add]
        if len(written) != 1:
            return None, ()
        source, moves = written[0], ()
        if source.op == "send" and "rows" not in source.args and all(r.op == "recv" for r in others):
            carried = source.args["src"]
            if len(writers.get(carried, [])) != 1 or readers[carried] != [source]:
                return None, ()
            source, moves, others = writers[carried][0], (source, *others), []
        return (source, moves) if source.seq in fast and not others else (None, ())

    members = []
    for add in instructions:
        if add.op != "vop" or add.args["kind"] != "xbar.add":
            continue
        result = parse_type(add.args["type"].split(" -> ")[1])
        found = [part(name, add) for name in add.args["srcs"]]
        parts = sorted((p for p, _ in found if p is not None), key=lambda p: p.args["src_cols"][0])
        if result.element.numpy_dtype() != np.int32 or len(parts) != len(found) or len(writers[add.args["dst"]]) != 1:
            continue
        reads = {key[:1] + key[2:] for key in (_inputs_of(Member((p,)), origin) for p in parts)}  # all but columns
        adjacent = all(a.args["src_cols"][1] == b.args["src_cols"][0] for a, b in zip(parts, parts[1:]))
        (v0, v1), rows = parts[0].args["vectors"], parts[-1].args["src_cols"][1] - parts[0].args["src_cols"][0]
        whole = v0 == 0 and v1 == result.shape[0] and sum(parts[0].args["input_slices"]) <= 8
        int8 = all(as_int8(crossbars[p.args["xbar"]].stored + crossbars[p.args["xbar"]].correction) is not None
                   for p in parts)
        if len(reads) == 1 and adjacent and whole and 255 * 128 * rows < 2**31 and int8:
            members.append(Member(tuple(parts), add, tuple(m for _, moves in found for m in moves)))
    return members


def speculative(i: Instruction) -> bool:
    """The MVM applies speculative input slices (RAELLA's)."""
    return bool(i.args.get("speculate", False))


def _inputs_of(m: Member, origin: dict[str, str]) -> tuple:
    a, columns = m.parts[0].args, (m.parts[0].args["src_cols"][0], m.parts[-1].args["src_cols"][1])
    return (origin.get(a["src"], a["src"]), columns, tuple(a["vectors"]), tuple(a["input_slices"]),
            speculative(m.parts[0]), a.get("zero_point", 0))

"""The IR data model: SSA values with use lists, operations, blocks and regions.

    %y = nn.relu(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

from pimc.ir.location import FileLoc, Location, UnknownLoc

if TYPE_CHECKING:
    from pimc.ir.attributes import Attr
    from pimc.ir.types import Type


class Use:
    """Operand `index` of `operation` reads a value."""

    __slots__ = ("operation", "index")

    def __init__(self, operation: Operation, index: int) -> None:
        self.operation = operation
        self.index = index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Use) and other.operation is self.operation and other.index == self.index

    def __hash__(self) -> int:
        return hash((id(self.operation), self.index))


class Value:
    """An SSA value. Equality is identity; `uses` keeps insertion order."""

    __slots__ = ("type", "name_hint", "_uses")

    def __init__(self, type: Type, name_hint: str | None = None) -> None:
        self.type = type
        self.name_hint = name_hint
        self._uses: dict[Use, None] = {}

    @property
    def uses(self) -> tuple[Use, ...]:
        return tuple(self._uses)

    @property
    def users(self) -> list[Operation]:
        """The operations that read this value, each once, in first-use order."""
        return list(dict.fromkeys(use.operation for use in self._uses))

    def has_uses(self) -> bool:
        return bool(self._uses)

    def replace_all_uses_with(self, new: Value) -> None:
        """Point every use at `new`; `new` inherits this value's name if it has none."""
        if new is self:
            return
        for use in tuple(self._uses):
            use.operation.set_operand(use.index, new)
        if new.name_hint is None:
            new.name_hint = self.name_hint


class OpResult(Value):
    """Result `index` of `op`."""

    __slots__ = ("op", "index")

    def __init__(self, type: Type, op: Operation, index: int) -> None:
        super().__init__(type)
        self.op = op
        self.index = index


class BlockArgument(Value):
    """Argument `index` of `block`, such as a function parameter."""

    __slots__ = ("block", "index")

    def __init__(self, type: Type, block: Block, index: int, name_hint: str | None = None) -> None:
        super().__init__(type, name_hint)
        self.block = block
        self.index = index


class Operation:
    """A generic operation. Declared ops subclass it (see `pimc.ir.irdl`)."""

    name: ClassVar[str] = ""
    pure: ClassVar[bool] = False
    is_terminator: ClassVar[bool] = False

    __slots__ = ("op_name", "_operands", "results", "attributes", "regions", "location",
                 "span", "parent", "prev_op", "next_op")

    def __init__(
        self,
        operands: Sequence[Value] = (),
        result_types: Sequence[Type] = (),
        attributes: dict[str, Attr] | None = None,
        regions: Sequence[Region] = (),
        location: Location = UnknownLoc(),
        op_name: str | None = None,
    ) -> None:
        self.op_name = op_name or type(self).name
        self._operands: tuple[Value, ...] = ()
        self.operands = operands
        self.results = tuple(OpResult(t, self, i) for i, t in enumerate(result_types))
        self.attributes: dict[str, Attr] = dict(attributes or {})
        self.regions = tuple(regions)
        for region in self.regions:
            region.parent = self
        self.location = location
        self.span: FileLoc | None = None
        self.parent: Block | None = None
        self.prev_op: Operation | None = None
        self.next_op: Operation | None = None

    def __repr__(self) -> str:
        return f"<{self.op_name} at {self.span or self.location}>"

    @property
    def operands(self) -> tuple[Value, ...]:
        return self._operands

    @operands.setter
    def operands(self, values: Sequence[Value]) -> None:
        for index, value in enumerate(self._operands):
            del value._uses[Use(self, index)]
        self._operands = tuple(values)
        for index, value in enumerate(self._operands):
            value._uses[Use(self, index)] = None

    def set_operand(self, index: int, value: Value) -> None:
        old = self._operands
        del old[index]._uses[Use(self, index)]
        self._operands = (*old[:index], value, *old[index + 1 :])
        value._uses[Use(self, index)] = None

    @property
    def result(self) -> OpResult:
        """The only result of a single-result op."""
        if len(self.results) != 1:
            raise ValueError(f"'{self.op_name}' has {len(self.results)} results, not one")
        return self.results[0]

    def walk(self) -> Iterator[Operation]:
        """This op, then every op nested in its regions, in pre-order."""
        yield self
        for region in self.regions:
            for block in region.blocks:
                for op in block.ops:
                    yield from op.walk()

    def parent_op(self) -> Operation | None:
        if self.parent is None or self.parent.parent is None:
            return None
        return self.parent.parent.parent

    def detach(self) -> None:
        """Unlink from the parent block, keeping operands and results."""
        if self.parent is not None:
            self.parent._unlink(self)

    def erase(self) -> None:
        """Detach and drop every operand use; the results must be unused."""
        used = [r for r in self.results if r.has_uses()]
        if used:
            raise ValueError(f"cannot erase '{self.op_name}': its results are still used")
        self.detach()
        self.operands = ()
        for region in self.regions:
            for block in region.blocks:
                for op in reversed(list(block.ops)):
                    op.erase()

    def clone(self, mapping: dict[Value, Value] | None = None) -> Operation:
        """A detached copy; operands are remapped through `mapping`, which gains the results."""
        mapping = {} if mapping is None else mapping
        regions = [region.clone(mapping) for region in self.regions]
        new = type(self)(
            [mapping.get(v, v) for v in self._operands],
            [r.type for r in self.results],
            self.attributes,
            regions,
            self.location,
            self.op_name,
        )
        new.span = self.span
        for old, fresh in zip(self.results, new.results):
            fresh.name_hint = old.name_hint
            mapping[old] = fresh
        return new


class Block:
    """A list of operations, linked both ways, with typed arguments."""

    __slots__ = ("args", "parent", "first_op", "last_op", "_count")

    def __init__(self, arg_types: Iterable[Type] = (), ops: Iterable[Operation] = ()) -> None:
        self.args = tuple(BlockArgument(t, self, i) for i, t in enumerate(arg_types))
        self.parent: Region | None = None
        self.first_op: Operation | None = None
        self.last_op: Operation | None = None
        self._count = 0
        for op in ops:
            self.append(op)

    def __len__(self) -> int:
        return self._count

    @property
    def ops(self) -> Iterator[Operation]:
        """The ops in order; erasing the current op while iterating is safe."""
        op = self.first_op
        while op is not None:
            following = op.next_op
            yield op
            op = following

    def append(self, op: Operation) -> None:
        self._link(op, self.last_op, None)

    def insert_before(self, op: Operation, anchor: Operation) -> None:
        self._link(op, anchor.prev_op, anchor)

    def insert_after(self, op: Operation, anchor: Operation) -> None:
        self._link(op, anchor, anchor.next_op)

    def _link(self, op: Operation, prev: Operation | None, next: Operation | None) -> None:
        if op.parent is not None:
            raise ValueError(f"'{op.op_name}' already belongs to a block")
        op.parent, op.prev_op, op.next_op = self, prev, next
        if prev is None:
            self.first_op = op
        else:
            prev.next_op = op
        if next is None:
            self.last_op = op
        else:
            next.prev_op = op
        self._count += 1

    def _unlink(self, op: Operation) -> None:
        if op.prev_op is None:
            self.first_op = op.next_op
        else:
            op.prev_op.next_op = op.next_op
        if op.next_op is None:
            self.last_op = op.prev_op
        else:
            op.next_op.prev_op = op.prev_op
        op.parent = op.prev_op = op.next_op = None
        self._count -= 1


class Region:
    """A list of blocks owned by an op; pimc uses single-block regions."""

    __slots__ = ("blocks", "parent")

    def __init__(self, blocks: Iterable[Block] = ()) -> None:
        self.blocks: list[Block] = []
        self.parent: Operation | None = None
        for block in blocks:
            self.add_block(block)

    def add_block(self, block: Block) -> None:
        block.parent = self
        self.blocks.append(block)

    @property
    def block(self) -> Block:
        """The only block of a single-block region."""
        if len(self.blocks) != 1:
            raise ValueError(f"region has {len(self.blocks)} blocks, not one")
        return self.blocks[0]

    def clone(self, mapping: dict[Value, Value]) -> Region:
        region = Region()
        for block in self.blocks:
            fresh = Block(a.type for a in block.args)
            for old, new in zip(block.args, fresh.args):
                new.name_hint = old.name_hint
                mapping[old] = new
            for op in block.ops:
                fresh.append(op.clone(mapping))
            region.add_block(fresh)
        return region

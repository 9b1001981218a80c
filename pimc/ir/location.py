"""Source locations, spelled as MLIR spells them: `loc("conv1")`, `loc("a.pimc":3:7)`."""

from __future__ import annotations

from dataclasses import dataclass

from pimc.ir.attributes import escape_string


@dataclass(frozen=True, slots=True)
class UnknownLoc:
    """No location: `loc(unknown)`."""

    def __str__(self) -> str:
        return "unknown"


@dataclass(frozen=True, slots=True)
class FileLoc:
    """A position in a text file, 1-based: `loc("model.pimc":12:5)`."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{escape_string(self.file)}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class NameLoc:
    """A name, such as an ONNX node name, optionally wrapping another location: `loc("fc")`."""

    name: str
    child: Location | None = None

    def __str__(self) -> str:
        inner = f"({self.child})" if self.child is not None else ""
        return escape_string(self.name) + inner


@dataclass(frozen=True, slots=True)
class FusedLoc:
    """Several locations merged by a rewrite: `loc(fused["bn", "conv"])`."""

    locations: tuple[Location, ...]

    def __str__(self) -> str:
        return "fused[" + ", ".join(str(loc) for loc in self.locations) + "]"


Location = UnknownLoc | FileLoc | NameLoc | FusedLoc


def names_of(location: Location) -> tuple[str, ...]:
    """The names a location carries, outermost first: ONNX node names for imported ops."""
    if isinstance(location, NameLoc):
        return (location.name,) + (names_of(location.child) if location.child else ())
    if isinstance(location, FusedLoc):
        return tuple(name for loc in location.locations for name in names_of(loc))
    return ()

"""The IR vocabulary: types, attributes, locations, values, ops, blocks and regions."""

from pimc.ir.attributes import Attr, SymbolRef
from pimc.ir.core import Block, BlockArgument, Operation, OpResult, Region, Use, Value
from pimc.ir.location import FileLoc, FusedLoc, Location, NameLoc, UnknownLoc
from pimc.ir.types import ScalarType, TensorType, Type, parse_type, tensor

__all__ = [
    "Attr", "Block", "BlockArgument", "FileLoc", "FusedLoc", "Location", "NameLoc", "OpResult",
    "Operation", "Region", "ScalarType", "SymbolRef", "TensorType", "Type", "UnknownLoc", "Use",
    "Value", "parse_type", "tensor",
]

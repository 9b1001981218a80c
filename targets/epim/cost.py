"""EPIM's cost hooks: its input pre-sums and output address tables (docs/epitome.md), as the cost model charges them.

    %s = xbar.wrap_sum(%x) ...    one add per wrapped input element, on the layer whose MVMs read %s
    %y = xbar.route(%m) ...       one address-table read per output element, on the layer whose MVMs wrote %m
"""

from __future__ import annotations

from pimc.ir.types import parse_type
from pimc.targets.program import Program, destinations
from pimc.targets.target import DigitalCharge


def wrap_sum(program: Program, a: dict, elements: int, c: dict) -> DigitalCharge:
    """Input channels that wrap onto one epitome channel, pre-summed: one add per wrapped input column."""
    adds = sum(parse_type(program.buffers[s].type).num_elements for s in a["srcs"]) - elements
    return DigitalCharge("epitome_adds", "epitome_adds", adds, c["digital_pj"], "reader", destinations(a))


def route(program: Program, a: dict, elements: int, c: dict) -> DigitalCharge:
    """The address table routing epitome columns to output channels: one lookup per output channel read."""
    return DigitalCharge("address_tables", "table_lookups", elements, c["table_lookup_pj"], "writer", a["srcs"])

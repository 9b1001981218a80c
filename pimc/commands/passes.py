"""`pimc passes`: every registered pass with its options and what it does."""

from __future__ import annotations

import argparse
import dataclasses

HELP = "list every pass with its options"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    import typing

    from pimc.options import format_value, option_name
    from pimc.passes import PASSES

    for name in sorted(PASSES):
        cls = PASSES[name]()
        print(f"{name}: {cls.summary()}")
        hints = typing.get_type_hints(cls)
        for option in dataclasses.fields(cls):
            kind = getattr(hints[option.name], "__name__", None) or str(hints[option.name]).replace("typing.", "")
            doc = option.metadata.get("doc", "")
            print(f"  {option_name(option.name)}: {kind} = {format_value(option.default)}" + (f"  -- {doc}" if doc else ""))
    return 0

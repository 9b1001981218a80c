"""`pimc passes`: every registered pass with its options and what it does."""

from __future__ import annotations

import argparse
import dataclasses

HELP = "list every pass with its options"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from pimc.pass_manager import _format_value, _kebab
    from pimc.passes import PASSES

    for name in sorted(PASSES):
        cls = PASSES[name]()
        print(f"{name}: {cls.summary()}")
        for option in dataclasses.fields(cls):
            shown = _format_value(option.default)
            doc = option.metadata.get("doc", "")
            print(f"  {_kebab(option.name)}={shown}" + (f"  {doc}" if doc else ""))
    return 0

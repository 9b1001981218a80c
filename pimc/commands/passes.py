"""`pimc passes`: every registered pass with its options and what it does."""

from __future__ import annotations

import argparse
import dataclasses

HELP = "list every pass with its options"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    import typing

    from pimc.options import format_value, meaning, option_name, valid
    from pimc.targets.passes import all_passes

    passes = all_passes()
    for name in sorted(passes):
        cls = passes[name]()
        print(f"{name}: {cls.summary()}")
        hints = typing.get_type_hints(cls)
        for option in dataclasses.fields(cls):
            hint = hints[option.name]
            kind = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
            if typing.get_origin(hint) is tuple:
                kind = f"list of {typing.get_args(hint)[0].__name__}"
            default = format_value(option.default) if option.default != () else "(none)"
            meta = option.metadata
            bounded = meta.get("low") is not None or meta.get("high") is not None
            about = meaning(meta) + (f"; valid: {valid(hint, meta)}" if bounded else "")
            print(f"  {option_name(option.name)}: {kind} = {default}" + (f"  -- {about}" if about else ""))
    return 0

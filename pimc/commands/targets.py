"""`pimc targets [TARGET]`: the targets, or one target's every parameter with its value, unit and range."""

from __future__ import annotations

import argparse

HELP = "list targets, or show one target's parameters"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", help="a target, optionally with options: 'isaac{adc-bits=6}'")
    parser.add_argument("--target-config", metavar="FILE", help="a TOML file of option values, applied before TARGET's")


def run(args: argparse.Namespace) -> int:
    from pimc.targets import TARGETS, config_class, load_config

    if args.target is None:
        for name in TARGETS:
            cls = config_class(name)
            print(f"{name}: {cls.summary}")
        return 0
    from pimc.frontend.load import check_input

    check_input(args.target_config, "--target-config")
    config = load_config(args.target, args.target_config)
    print(f"{config.name}: {config.summary}")
    rows = [("option", "value", "unit", "valid", "meaning")] + config.rows()
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    return 0

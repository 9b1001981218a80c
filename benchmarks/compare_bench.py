"""What got slower: the ratios of a new bench_commands.py JSON against the committed last results.

    python benchmarks/compare_bench.py new.json [--against benchmarks/results/bench_commands.json] [--tolerance 0.2]

Compares ratios to onnxruntime (not seconds: the machine's speed and load cancel out in them) for every
model/target both files hold, prints each ratio more than --tolerance (20%) above the old one, and exits 1
if there is one. Not a test: timings are noisy, and a regression is a person's call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

COMMITTED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "bench_commands.json")


def slower(new: dict, old: dict, tolerance: float) -> list[str]:
    """One line per ratio of `new` more than `tolerance` above the same ratio of `old`."""
    lines = []
    for key in sorted(new["results"].keys() & old["results"].keys()):
        before, after = old["results"][key]["ratios"], new["results"][key]["ratios"]
        for name in sorted(before.keys() & after.keys()):
            if after[name] > before[name] * (1 + tolerance):
                lines.append(f"{key} {name}: {before[name]:.2f}x -> {after[name]:.2f}x "
                             f"(+{100 * (after[name] / before[name] - 1):.0f}%)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("new", help="a JSON bench_commands.py --json wrote")
    parser.add_argument("--against", default=COMMITTED, help="the results to compare with (default: the committed ones)")
    parser.add_argument("--tolerance", type=float, default=0.2, help="how much slower counts (default: 0.2, 20%%)")
    args = parser.parse_args()
    with open(args.new) as file:
        new = json.load(file)
    with open(args.against) as file:
        old = json.load(file)
    lines = slower(new, old, args.tolerance)
    common = len(new["results"].keys() & old["results"].keys())
    for line in lines:
        print(f"slower: {line}")
    print(f"{len(lines)} ratio(s) more than {args.tolerance:.0%} slower, over {common} model/target pair(s) in both")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())

"""Parse, verify and print a 50,000-op module; report each phase and ops/second.

    python benchmarks/bench_ir.py [--ops 50000] [--repeat 3]

The module is a chain of ops of the kinds a compiled CNN holds (weights, conv, batch
norm folded into add/mul, relu, pooling), each with its own attributes and location.
"""

from __future__ import annotations

import argparse
import statistics
import time

from pimc.context import Context
from pimc.ir.verifier import verify
from pimc.text.parser import parse_module
from pimc.text.printer import print_module

LINES = (
    '    %w{i} = test.pure() {{ref = "layer{i}.weight"}} : () -> tensor<64x64x3x3xf32> loc("/layer{i}/w")',
    "    %c{i} = test.pure(%a{p}, %w{i}) {{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], group = 1}}"
    ' : (tensor<1x64x56x56xf32>, tensor<64x64x3x3xf32>) -> tensor<1x64x56x56xf32> loc("/layer{i}/Conv")',
    '    %s{i} = test.pure(%c{i}) {{alpha = 0.5, scale = 0.001}} : (tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32> loc("/layer{i}/Mul")',
    '    %a{i} = test.pure(%s{i}) : (tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32> loc("/layer{i}/Relu")',
)


def module_text(ops: int) -> str:
    lines = ['module @bench attributes {stage = "nn"} {',
             "  func.func @main(%a0: tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32> {"]
    for index in range(ops // len(LINES)):
        lines += [line.format(i=index + 1, p=index) for line in LINES]
    lines += [f"    func.return(%a{ops // len(LINES)}) : (tensor<1x64x56x56xf32>) -> ()", "  }", "}"]
    return "\n".join(lines) + "\n"


def measure(text: str) -> dict[str, float]:
    start = time.perf_counter()
    module = parse_module(text, "bench.pimc", Context())
    parsed = time.perf_counter()
    verify(module)
    verified = time.perf_counter()
    printed = print_module(module, print_loc=True)
    done = time.perf_counter()
    assert printed == text, "round trip changed the text"
    return {"parse": parsed - start, "verify": verified - parsed, "print": done - verified, "total": done - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    text = module_text(args.ops)
    ops = text.count("\n") - 4
    runs = [measure(text) for _ in range(args.repeat)]
    median = {phase: statistics.median(r[phase] for r in runs) for phase in runs[0]}
    print(f"module: {ops} ops, {len(text) / 1e6:.1f} MB of text; median of {args.repeat} runs")
    for phase, seconds in median.items():
        print(f"  {phase:<7} {seconds:7.2f} s  {ops / seconds:10,.0f} ops/s")


if __name__ == "__main__":
    main()

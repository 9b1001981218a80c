"""Backend conformance: every onnx backend test case whose ops `nn` claims, through import -> interpret -> compare.

    python tests/conformance/run.py [-k SUBSTRING] [--verbose] [--json]

A case is applicable when every node's op type is one the importer converts
(`pimc.frontend.converters.CLAIMED`) and every graph input and output is a
tensor of a pimc element type (no float8, bfloat16, int4, strings, sequences). It passes when every output has the
expected dtype and shape and matches elementwise within the case's own
tolerances (onnx's runner: rtol 1e-3, atol 1e-7 unless the case says
otherwise). The skip list in `skips.py` is explicit, with a reason per entry.
Exit status 1 if fewer than `--min-pass-rate` of the applicable cases pass.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(__file__))

from cases import Case, all_cases  # noqa: E402
from skips import skip_reason  # noqa: E402


# In real models these input slots hold shapes, axes, pads, sizes, bounds, BatchNormalization's statistics,
# or quantization scales, zero points and weights, and they are constants; the
# backend cases feed them at run time. pimc compiles for fixed values, so, as `--input-shape` fixes a
# dimension, the runner binds such graph inputs to the case's values (as initializers) before import.
CONSTANT_SLOTS = {
    "Reshape": {1}, "Slice": {1, 2, 3, 4}, "Pad": {1, 2, 3}, "Resize": {1, 2, 3}, "Squeeze": {1},
    "Unsqueeze": {1}, "Split": {1}, "ReduceMean": {1}, "Clip": {1, 2}, "Dropout": {1, 2}, "ConstantOfShape": {0},
    "BatchNormalization": {1, 2, 3, 4}, "QuantizeLinear": {1, 2}, "DequantizeLinear": {1, 2},
    "QLinearConv": {1, 2, 3, 4, 5, 6, 7, 8}, "QLinearMatMul": {1, 2, 3, 4, 5, 6, 7},
}


def bind_constants(model: onnx.ModelProto, inputs: list[np.ndarray]) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """`model` with its shape-like graph inputs turned into initializers, and the inputs left to feed."""
    constants = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in constants]
    bound = {node.input[slot] for node in model.graph.node for slot in CONSTANT_SLOTS.get(node.op_type, ())
             if slot < len(node.input) and node.input[slot] in names}
    if not bound:
        return model, inputs
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    kept = [i for i in copy.graph.input if i.name not in bound]
    del copy.graph.input[:]
    copy.graph.input.extend(kept)
    values = dict(zip(names, inputs))
    copy.graph.initializer.extend(numpy_helper.from_array(values[name], name) for name in sorted(bound))
    return copy, [values[name] for name in names if name not in bound]


def not_applicable(case: Case) -> str:
    """Why the case is outside what `nn` claims ("ops" or "types"), or "" if it is applicable."""
    from pimc.frontend.converters import CLAIMED
    from pimc.frontend.types import UnsupportedType, element_type

    if not all(node.domain in ("", "ai.onnx") and node.op_type in CLAIMED for node in case.model.graph.node):
        return "ops"
    for info in (*case.model.graph.input, *case.model.graph.output):
        if info.type.WhichOneof("value") != "tensor_type":
            return "types"
        try:
            element_type(info.type.tensor_type.elem_type)
        except UnsupportedType:
            return "types"
    return ""


def run_case(case: Case) -> tuple[str, str, bool]:
    """(status, detail, whether any op ran on the host) for one applicable case."""
    from pimc.diagnostics import DiagnosticError
    from pimc.frontend.importer import host_ops, import_model
    from pimc.interp.interpreter import Interpreter

    hosted = False
    try:
        for inputs, expected in case.data_sets():
            model, inputs = bind_constants(case.model, inputs)
            constants = {i.name for i in model.graph.initializer}
            names = [i.name for i in model.graph.input if i.name not in constants]
            module = import_model(model, dict(zip(names, (np.shape(a) for a in inputs))), case.name)
            hosted = hosted or bool(host_ops(module))
            outputs = Interpreter(module, record=False).run(inputs)
            for index, (got, want) in enumerate(zip(outputs, expected)):
                problem = mismatch(np.asarray(got), np.asarray(want), case.rtol, case.atol)
                if problem:
                    return "fail", f"output {index}: {problem}", hosted
    except DiagnosticError as error:
        return "fail", error.diagnostic.headline(case.name), hosted
    except Exception as error:  # a crash is a failure to report, not a reason to stop
        return "fail", f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}", hosted
    return "pass", "", hosted


def mismatch(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str:
    if got.dtype != want.dtype:
        return f"dtype {got.dtype}, expected {want.dtype}"
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if want.dtype.kind not in "fc":
        return "" if np.array_equal(got, want) else "values differ"
    close = np.isclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return ""
    worst = np.abs(got.astype(np.float64) - want.astype(np.float64))[~close].max()
    return f"{int((~close).sum())} of {close.size} values differ (worst by {worst:.3g})"


def conformance(only: str = "", verbose: bool = False, host: bool = False) -> dict:
    """Run every applicable case whose name contains `only`; the summary counts and lists them."""
    start = time.perf_counter()
    results: dict[str, list] = {"pass": [], "fail": [], "skip": []}
    kinds: Counter = Counter()
    hosted, total, outside = 0, 0, Counter()
    for case in all_cases():
        total += 1
        if only not in case.name:
            continue
        reason = not_applicable(case)
        if reason:
            outside[reason] += 1
            continue
        kinds[case.kind] += 1
        reason = skip_reason(case.name)
        status, detail, on_host = ("skip", reason, False) if reason else run_case(case)
        hosted += status == "pass" and on_host
        results[status].append((case.kind, case.name, detail))
        if verbose or status == "fail" or (on_host and host):
            print(f"{status.upper():4} {case.kind}/{case.name}" + (f": {detail}" if detail else ""), file=sys.stderr)
    count = sum(len(v) for v in results.values())
    return {
        "cases": total, "applicable": count, "passed": len(results["pass"]), "failed": len(results["fail"]),
        "skipped": len(results["skip"]), "pass_rate": round(len(results["pass"]) / count, 4) if count else 1.0,
        "passed_with_host_ops": hosted, "by_kind": dict(kinds),
        "not_applicable_ops": outside["ops"], "not_applicable_types": outside["types"],
        "seconds": round(time.perf_counter() - start, 1),
        "skips": {name: reason for _, name, reason in results["skip"]},
        "failures": {name: detail for _, name, detail in results["fail"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    parser.add_argument("--verbose", action="store_true", help="print every applicable case")
    parser.add_argument("--host", action="store_true", help="print the cases that ran some op on the host")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--min-pass-rate", type=float, default=0.95)
    args = parser.parse_args(argv)
    summary = conformance(args.k, args.verbose, args.host)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['applicable']} applicable of {summary['cases']} cases: {summary['passed']} passed "
              f"({100 * summary['pass_rate']:.1f}%), {summary['failed']} failed, {summary['skipped']} skipped "
              f"[{summary['seconds']} s]")
        print(f"  {summary['passed_with_host_ops']} of the passes ran some op on the host; not applicable: "
              f"{summary['not_applicable_ops']} cases with ops nn does not claim, "
              f"{summary['not_applicable_types']} with non-tensor values or element types pimc lacks")
        for name, reason in summary["skips"].items():
            print(f"  skipped {name}: {reason}")
    return 0 if summary["pass_rate"] >= args.min_pass_rate else 1


if __name__ == "__main__":
    sys.exit(main())

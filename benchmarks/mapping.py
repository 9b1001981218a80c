"""Mapping quality: crossbars, utilisation, ADC conversions per MAC, energy and latency, with the groups of grouped
and depthwise convs packed onto shared crossbars (pack-groups) against one group per crossbar, as `pimc compile
--estimate-only --json` reports them (whole processes).

    python benchmarks/mapping.py                          # MobileNetV2, ShuffleNet (g=3), ResNet-18, ResNet-50
    python benchmarks/mapping.py --models mobilenetv2 --targets isaac raella

A model without grouped convs compiles the same either way (the pass finds nothing to pack): it is compiled once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnx.numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "samples"))

import zoo  # noqa: E402  (samples/zoo.py: the seeded model builders)

SHUFFLENET_STAGES = ((240, 4), (480, 8), (960, 4))  # ShuffleNet v1, g = 3: output channels, units
SHUFFLE_GROUPS = 3


def shuffle(b: zoo.GraphBuilder, x: str, module: str, channels: int, size: int) -> str:
    """Channel shuffle as PyTorch exports it: Reshape to (1, g, C/g, H, W), Transpose, Reshape back."""
    split = _shape(b, f"{module}.split", [1, SHUFFLE_GROUPS, channels // SHUFFLE_GROUPS, size, size])
    joined = _shape(b, f"{module}.join", [1, channels, size, size])
    x = b.op("Reshape", module, [x, split])
    x = b.op("Transpose", module, [x], perm=[0, 2, 1, 3, 4])
    return b.op("Reshape", module, [x, joined])


def _shape(b: zoo.GraphBuilder, name: str, dims: list[int]) -> str:
    """An int64 shape initializer (GraphBuilder.param makes float32 ones)."""
    b.initializers.append(onnx.numpy_helper.from_array(np.array(dims, np.int64), name))
    return name


def shufflenet(b: zoo.GraphBuilder) -> None:
    """A ShuffleNet v1 (g = 3) of zoo.py's kind: grouped 1x1 convs around a channel shuffle and a 3x3 depthwise
    conv; stride-2 units concatenate an average-pooled shortcut."""
    x = b.relu(b.conv_bn("input", "conv1", "bn1", 3, 24, 3, stride=2), "relu1")
    x, cin, size = b.maxpool(x, "maxpool", 3, 2, 1), 24, 56
    for stage, (cout, units) in enumerate(SHUFFLENET_STAGES, start=2):
        for unit in range(units):
            m, stride = f"stage{stage}.{unit}", 2 if unit == 0 else 1
            out = cout - cin if stride == 2 else cout
            mid = cout // 4
            y = b.relu(b.conv_bn(x, f"{m}.conv1", f"{m}.bn1", cin, mid, 1, groups=SHUFFLE_GROUPS), f"{m}.relu1")
            y = shuffle(b, y, f"{m}.shuffle", mid, size)
            y = b.conv_bn(y, f"{m}.conv2", f"{m}.bn2", mid, mid, 3, stride, groups=mid)
            y = b.conv_bn(y, f"{m}.conv3", f"{m}.bn3", mid, out, 1, groups=SHUFFLE_GROUPS, gamma=zoo.RESIDUAL_GAMMA)
            if stride == 2:
                pooled = b.op("AveragePool", f"{m}.shortcut", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
                x = b.relu(b.op("Concat", m, [pooled, y], axis=1), f"{m}.relu")
            else:
                x = b.relu(b.op("Add", m, [x, y]), f"{m}.relu")
            cin, size = cout, size // stride
    b.classifier(x, "avgpool", "fc", cin)


def build(name: str) -> onnx.ModelProto:
    if name != "shufflenet":
        return zoo.build(name)
    builder = zoo.GraphBuilder(0)
    shufflenet(builder)
    return builder.model(name, 1)


def compile_json(model: str, target: str, out: str) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pimc", "compile", model, "--target", target, "--estimate-only",
                           "--json", "-o", out], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"pimc compile {model} --target {target}: {done.stderr.strip()}")
    return json.loads(done.stdout), time.perf_counter() - started


def grouped(model: onnx.ModelProto) -> list[str]:
    return [n.name for n in model.graph.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenetv2", "shufflenet", "resnet18", "resnet50"])
    parser.add_argument("--targets", nargs="+", default=["isaac", "raella", "epim"])
    parser.add_argument("--chips", type=int, default=16, help="chips a model may span (unpacked, RAELLA's MobileNetV2 needs 8)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            model = build(name)
            path = os.path.join(folder, f"{name}.onnx")
            onnx.save(model, path)
            convs = set(grouped(model))
            for target in args.targets:
                reports = {}
                for packed in (["true", "false"] if convs else ["true"]):
                    spec = f"{target}{{pack-groups={packed} chips={args.chips}}}"
                    report, seconds = compile_json(path, spec, os.path.join(folder, "out"))
                    reports[packed] = report
                    t = report["totals"]
                    in_groups = sum(layer["crossbars"] for layer in report["layers"] if layer["name"] in convs)
                    rows.append({"model": name, "target": target, "packed": packed, "crossbars": t["crossbars"],
                                 "grouped_conv_crossbars": in_groups, "ideal_crossbars": t["ideal_crossbars"],
                                 "row_utilisation": t["row_utilisation"], "cell_utilisation": t["cell_utilisation"],
                                 "converts_per_mac": round(t["converts_per_mac"], 4), "energy_uj": round(t["energy_pj"] / 1e6, 2),
                                 "latency_ms": round(t["latency_ns"] / 1e6, 3), "tiles": t["tiles"],
                                 "area_mm2": round(t["area_mm2"], 2), "compile_s": round(seconds, 1)})
                    print(_line(rows[-1]), flush=True)
    _ratios(rows)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1)
    return 0


def _line(row: dict) -> str:
    return (f"{row['model']:12} {row['target']:7} packed={row['packed']:5} crossbars {row['crossbars']:6,} "
            f"(grouped convs {row['grouped_conv_crossbars']:5,}, ideal {row['ideal_crossbars']:5,})  rows {row['row_utilisation']:6.1%} "
            f"cells {row['cell_utilisation']:6.1%}  converts/MAC {row['converts_per_mac']:.3f}  energy {row['energy_uj']:9.2f} uJ  "
            f"latency {row['latency_ms']:8.3f} ms  {row['tiles']} tiles {row['area_mm2']} mm2  ({row['compile_s']} s)")


def _ratios(rows: list[dict]) -> None:
    """RAELLA against ISAAC per model, as its paper compares them (2.9-4.9x energy efficiency over seven networks)."""
    for model in dict.fromkeys(r["model"] for r in rows):
        chosen = {r["target"]: r for r in rows if r["model"] == model and r["packed"] == "true"}
        if "isaac" in chosen and "raella" in chosen:
            isaac, raella = chosen["isaac"], chosen["raella"]
            print(f"{model}: RAELLA against ISAAC (both packed where they pack): energy efficiency "
                  f"{isaac['energy_uj'] / raella['energy_uj']:.2f}x, converts per MAC {raella['converts_per_mac']:.3f} "
                  f"against {isaac['converts_per_mac']:.3f} (paper: 2.9-4.9x over seven networks)")


if __name__ == "__main__":
    sys.exit(main())

"""The FlexSpIM program: one instruction stream per macro for one timestep, repeated every timestep.

    macro 0: recv conv1 | load conv1 vmem 16384 | acc conv1 ch 0:8 | clamp conv1 ch 0:8 | fire conv1 ch 0:8
             | reset conv1 ch 0:8 | store conv1 vmem 16384 | send conv1 -> n3

Layers run in order (layer first); for each layer every macro that holds part of it runs that layer's
instructions (docs/flexspim.md has the instruction set). The size grows with layers and macros, not with events
or timesteps. Written as program.txt and program.json, with the integer weights in arrays.npz.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from pimc.diagnostics import UserError
from pimc.targets.flexspim.placement import LayerPlan


@dataclass(frozen=True)
class Instruction:
    macro: int
    op: str  # recv load acc bias clamp fire reset store send out
    layer: int
    args: dict

    def text(self, plans: list[LayerPlan]) -> str:
        words = " ".join(f"{k}={_fmt(v)}" for k, v in self.args.items())
        return f"  {self.op:<6}{plans[self.layer].name}" + (f" {words}" if words else "")


def _fmt(value) -> str:
    return ":".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


@dataclass
class Program:
    plans: list[LayerPlan]
    instructions: list[Instruction]
    macros: int
    input_shape: tuple[int, ...] = ()  # one timestep's events, C x H x W (or K)

    def stream(self, macro: int) -> list[Instruction]:
        return [i for i in self.instructions if i.macro == macro]

    def write(self, directory: str) -> None:
        with open(os.path.join(directory, "program.txt"), "w") as file:
            file.write(self.text())
        with open(os.path.join(directory, "program.json"), "w") as file:
            json.dump(self.to_json(), file, indent=1, allow_nan=False)
            file.write("\n")
        arrays = {f"weight_{i}": p.weight for i, p in enumerate(self.plans)}
        arrays |= {f"bias_{i}": p.bias for i, p in enumerate(self.plans) if p.bias is not None}
        from pimc.weights import WeightStore

        WeightStore(arrays).save(os.path.join(directory, "arrays.npz"))

    def text(self) -> str:
        lines = ["// FlexSpIM program: per-macro streams for one timestep (layer first); docs/flexspim.md"]
        for index, plan in enumerate(self.plans):
            lines.append(f"// layer {index} {plan.name}: {plan.kind} {'x'.join(map(str, plan.weight.shape))} "
                         f"w{plan.weight_bits} v{plan.vmem_bits} {plan.stationary.upper()} macros "
                         f"{','.join(map(str, plan.macros))} operand {plan.operand_rows}x{plan.operand_cols}")
        for macro in range(self.macros):
            stream = self.stream(macro)
            if stream:
                lines.append(f"macro {macro}:")
                lines += [i.text(self.plans) for i in stream]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        return {"target": "flexspim", "macros": self.macros, "input_shape": list(self.input_shape),
                "layers": [p.to_json() for p in self.plans],
                "instructions": [{"macro": i.macro, "op": i.op, "layer": i.layer, **i.args} for i in self.instructions]}

    @classmethod
    def read(cls, directory: str) -> Program:
        """The program `pimc compile` wrote to `directory`; an unreadable one is a one-line error."""
        import zipfile

        try:
            return cls._read(directory)
        except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as failure:
            raise UserError(f"{directory}: not a readable FlexSpIM program (program.json and arrays.npz from "
                            f"`pimc compile`): {type(failure).__name__}: {failure}") from None

    @classmethod
    def _read(cls, directory: str) -> Program:
        with open(os.path.join(directory, "program.json")) as file:
            data = json.load(file)
        with np.load(os.path.join(directory, "arrays.npz"), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        plans = []
        for index, entry in enumerate(data["layers"]):
            plans.append(LayerPlan(
                name=entry["name"], kind=entry["kind"], in_shape=tuple(entry["in_shape"]),
                out_shape=tuple(entry["out_shape"]), weight=arrays[f"weight_{index}"].astype(np.int64),
                bias=arrays[f"bias_{index}"].astype(np.int64) if entry["bias"] else None,
                strides=tuple(entry["strides"]), pads=tuple(entry["pads"]), routing=entry["routing"],
                weight_bits=entry["weight_bits"], vmem_bits=entry["vmem_bits"], overflow=entry["overflow"],
                threshold=entry["threshold"], reset=entry["reset"], compare=entry["compare"],
                readout=entry["readout"], stationary=entry["stationary"], macros=entry["macros"],
                channels=[tuple(c) for c in entry["channels"]], operand_cols=entry["operand_shape"][1],
                resident=entry["resident"]))
        instructions = [Instruction(i.pop("macro"), i.pop("op"), i.pop("layer"), i) for i in data["instructions"]]
        return cls(plans, instructions, data["macros"], tuple(data["input_shape"]))


def emit(plans: list[LayerPlan], macros: int, input_shape: tuple[int, ...] = ()) -> Program:
    """Every macro's instructions, layer by layer, for events of `input_shape` (default: the first layer's input)."""
    instructions = []
    for index, plan in enumerate(plans):
        streamed = "vmem" if plan.stationary == "ws" else "weights"
        for macro, (lo, hi) in zip(plan.macros, plan.channels):
            ch = {"ch": [lo, hi]}
            add = lambda op, **args: instructions.append(Instruction(macro, op, index, args))  # noqa: E731
            add("recv", **({"route": "+".join(r["op"] for r in plan.routing)} if plan.routing else {}))
            if not plan.resident:
                add("load", operand="weights" if streamed == "vmem" else "vmem", reload=1)
            add("load", operand=streamed)
            add("acc", **ch)
            if plan.bias is not None:
                add("bias", **ch)
            add("clamp", **ch, bits=plan.vmem_bits, mode=plan.overflow)
            if not plan.readout:
                add("fire", **ch, threshold=plan.threshold, compare=plan.compare)
                add("reset", **ch, mode=plan.reset)
            if plan.stationary == "ws" or not plan.resident:
                add("store", operand="vmem")
            add("out" if plan.readout else "send", **ch)
    return Program(plans, instructions, macros, tuple(input_shape) or tuple(plans[0].in_shape))

"""The compiler driver: an ONNX model through a target's named stages to a crossbar program.

    compiled = compile_model("model.onnx", load_config("isaac{adc-bits=6}"), {"x": (1, 3, 224, 224)})
    compiled.program.write("out/")

Stages are pipeline strings the target names (`quantize`, `lower`, `slice`, `place`); the
program is emitted from the placed module. `stages` keeps each stage's IR text for the dumps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from pimc.diagnostics import UserError
from pimc.dialects.builtin import ModuleOp
from pimc.ir.core import Value
from pimc.options import OptionError
from pimc.pass_manager import Instrumentation, parse_pipeline, report_timings, run_pipeline, verify_after
from pimc.text.printer import print_module


@dataclass
class Compiled:
    module: ModuleOp  # the placed module: the integer reference runs it
    program: object  # targets.program.Program
    buffers: dict[Value, str]  # each IR value's home buffer in the program
    pipelines: list[tuple[str, str]]  # (stage, pipeline) as run
    stages: list[tuple[str, str]] = field(default_factory=list)  # (stage, IR text after it)

    def mismatches(self, buffers: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> list[str]:
        """The simulated buffers that differ from the integer reference, pimc's interpreter of the placed IR,
        run on the same `inputs`."""
        from pimc.interp.compare import fingerprint

        named = set(self.buffers.values())
        return differing(self.reference_fingerprints(inputs), {name: fingerprint(a) for name, a in buffers.items() if name in named})

    def reference_alongside(self, inputs: dict[str, np.ndarray]) -> ReferenceAlongside:
        """A simulator's observer that checks each buffer of a run on `inputs` against the integer reference's
        tensor as the simulator shows it: cheaper than two runs' fingerprints when the module is at hand."""
        from pimc.interp.interpreter import Interpreter

        func = self.module.funcs()[0]
        steps = Interpreter(self.module, record=False).stepwise([inputs[a.name_hint] for a in func.arguments])
        return ReferenceAlongside(self.buffers, steps)

    def reference_fingerprints(self, inputs: dict[str, np.ndarray]) -> list[tuple[str, bytes]]:
        """(buffer, fingerprint) of each tensor of the integer reference run on `inputs`, in buffer order; as the
        reference runs it keeps no tensor."""
        from pimc.interp.compare import fingerprint
        from pimc.interp.interpreter import Interpreter

        found: dict[Value, bytes] = {}

        def look(value: Value, array: np.ndarray) -> None:
            if value in self.buffers:
                found[value] = fingerprint(array)

        func = self.module.funcs()[0]
        Interpreter(self.module, record=False, observer=look).run([inputs[a.name_hint] for a in func.arguments])
        return [(name, found[value]) for value, name in self.buffers.items() if value in found]


@dataclass
class ReferenceAlongside:
    """The integer reference, run as far as the buffer a simulator shows it, in the simulator's thread: the two
    tensors of each buffer are compared directly, never hashed (`Compiled.reference_alongside`). Tensors the
    reference computes before the simulator shows them wait (the program follows the IR's order: a few), and
    those of values without a buffer are let go at once."""

    buffers: dict[Value, str]
    steps: Iterator[tuple[Value, np.ndarray]]  # the reference's values and arrays in the order it computes them
    waiting: dict[Value, np.ndarray] = field(default_factory=dict)
    differ: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._values = {name: value for value, name in self.buffers.items()}

    def __call__(self, name: str, array: np.ndarray) -> None:
        from pimc.interp.compare import same_values

        value = self._values.get(name)
        if value is None:
            return
        reference = self.waiting.pop(value) if value in self.waiting else self._ahead_to(value)
        if reference is not None and not same_values(reference, array):
            self.differ.add(name)

    def _ahead_to(self, value: Value) -> np.ndarray | None:
        for computed, array in self.steps:
            if computed is value:
                return array
            if computed in self.buffers:
                self.waiting[computed] = array
        return None

    def mismatched(self) -> list[str]:
        """The buffers whose tensors differ, in buffer order (as `differing` gives them)."""
        return [name for name in self.buffers.values() if name in self.differ]


def differing(reference: list[tuple[str, bytes]], simulated: dict[str, bytes]) -> list[str]:
    """The buffers whose simulated fingerprint is not the integer reference's (`Compiled.reference_fingerprints`)."""
    return [name for name, digest in reference if name in simulated and simulated[name] != digest]


def compile_model(path: str, config, shapes: dict, calib: str = "", inst: Instrumentation | None = None,
                  keep_stages: bool = False, after_stage: Callable[[str, ModuleOp], None] | None = None,
                  samples: int = 16, calib_ranges: str = "", save_ranges: str = "") -> Compiled:
    """Import `path` and take it through `config`'s stages to a program, calibrating on `samples` inputs, or
    reusing the ranges of the calibration.json `calib_ranges`; `save_ranges` names where to write the ranges."""
    from pimc.frontend.importer import import_onnx
    from pimc.targets.emit import emit_program
    from pimc.targets.passes import all_passes

    pipelines = config.stages(calib, samples)
    try:
        registry = all_passes()
        parsed = [parse_pipeline(spec, registry) for _, spec in pipelines]  # bad options fail before the import
    except OptionError as error:
        raise UserError(str(error)) from None
    if calib_ranges or save_ranges:  # files of this compile, not options of the pipeline it records
        parsed = [[replace(p, ranges=calib_ranges, save_ranges=save_ranges) if p.name == "quantize" else p
                   for p in passes] for passes in parsed]
    module = import_onnx(path, shapes)
    if keep_stages:
        module.attributes["weights"] = "weights.npz"  # the stage dumps are written beside one store
    stages = [("import", print_module(module))] if keep_stages else []
    inst = inst or Instrumentation()
    for index, ((stage, _), passes) in enumerate(zip(pipelines, parsed), start=1):
        dump_dir = os.path.join(inst.dump_dir, f"{index}-{stage}") if inst.dump_dir else None
        stage_inst = Instrumentation(**{**inst.__dict__, "dump_dir": dump_dir, "verify_each": False,
                                        "time_passes": False, "timings": []})
        run_pipeline(module, passes, stage_inst)
        inst.timings.extend(stage_inst.timings)
        if inst.verify_each:  # once per stage: a stage's passes are verified together
            verify_after(module, f"stage '{stage}'")
        if keep_stages:
            stages.append((stage, print_module(module)))
        if after_stage is not None:
            after_stage(stage, module)
    if inst.time_passes:
        report_timings(inst)
    program, buffers = emit_program(module, config)
    return Compiled(module, program, buffers, pipelines, stages)

"""Passes, pipelines and their instrumentation.

A pass is a frozen dataclass whose fields are its options, declared with `param` as a target's are (a default, a
unit, a meaning, bounds) and checked when the pass is made; a pipeline is a string:
`canonicalize,slice-weights{rows=128 cols=128}`.
"""

from __future__ import annotations

import os
import sys
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from pimc.diagnostics import Diagnostic, DiagnosticError, op_error
from pimc.dialects.builtin import ModuleOp
from pimc.ir.verifier import verify
from pimc.options import OptionError, check_options, convert_options, did_you_mean, parse_specs, spec_of
from pimc.text.printer import print_module


MATRIX_OPS = frozenset({"nn.conv2d", "nn.gemm", "nn.matmul", "q.conv2d", "q.gemm", "xbar.mvm"})


@dataclass(frozen=True)
class ModulePass:
    """Base of all passes; subclasses set `name` and implement `apply`."""

    name: ClassVar[str] = ""
    # The ops this pass works on and the pass that makes them: ("xbar.mvm",) from "lower-to-xbar". A module with
    # matrix ops but none of these is at an earlier stage, and the pass refuses it rather than do nothing.
    needs: ClassVar[tuple[str, ...]] = ()
    made_by: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_options(self)
        self.check()

    def check(self) -> None:
        """Constraints the options' declarations cannot say (between options, say); raise ValueError."""

    def apply(self, module: ModuleOp) -> None:
        raise NotImplementedError

    def check_stage(self, module: ModuleOp) -> None:
        """Raise a located error if `module` is at an earlier stage than this pass works on."""
        ops = list(module.walk()) if self.needs else []
        if any(op.op_name in self.needs for op in ops):
            return
        early = next((op for op in ops if op.op_name in MATRIX_OPS), None)
        if early is not None:
            raise op_error(early, f"is at an earlier stage than pass '{self.name}' works on: it needs "
                                  f"{' or '.join(self.needs)} ops, which {self.made_by} makes; run the passes "
                                  "before it first, as `pimc compile` does")

    def __str__(self) -> str:
        return spec_of(self.name, self)

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0]


def parse_pipeline(spec: str, registry: dict[str, Callable[[], type[ModulePass]]]) -> list[ModulePass]:
    """`'a,b{x=1 y=2,3}'` -> [A(), B(x=1, y=(2, 3))]; raise OptionError on anything unknown."""
    passes = []
    for name, options in parse_specs(spec, "pipeline"):
        if name not in registry:
            raise OptionError(f"unknown pass '{name}'{did_you_mean(name, registry)}")
        cls = registry[name]()
        values = convert_options(cls, f"pass '{name}'", options)
        try:
            passes.append(cls(**values))
        except (OptionError, ValueError) as error:
            raise OptionError(f"pass '{name}': {error}") from None
    return passes


@dataclass
class Instrumentation:
    """What to do around each pass: verify, print, dump, time."""

    verify_each: bool = True
    print_before: frozenset[str] = frozenset()
    print_after: frozenset[str] = frozenset()
    print_after_all: bool = False
    print_after_change: bool = False
    dump_dir: str | None = None
    time_passes: bool = False
    print_loc: bool = False
    generic: bool = False
    stream: typing.TextIO = field(default_factory=lambda: sys.stderr)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def _text(self, module: ModuleOp) -> str:
        return print_module(module, self.generic, self.print_loc)

    def _dump(self, module: ModuleOp, when: str, the_pass: ModulePass) -> None:
        title = type(the_pass).__name__
        self.stream.write(f"// -----// IR Dump {when} {title} ({the_pass}) //----- //\n{self._text(module)}\n")


def run_pipeline(module: ModuleOp, passes: list[ModulePass], inst: Instrumentation | None = None) -> None:
    """Run `passes` in order with `inst`'s hooks; a failing verification names the pass."""
    inst = inst or Instrumentation()
    if inst.dump_dir:
        os.makedirs(inst.dump_dir, exist_ok=True)
        _write(os.path.join(inst.dump_dir, "00-input.pimc"), inst._text(module))
    for index, the_pass in enumerate(passes, start=1):
        before = inst._text(module) if inst.print_after_change else None
        if the_pass.name in inst.print_before:
            inst._dump(module, "Before", the_pass)
        the_pass.check_stage(module)
        start = time.perf_counter()
        the_pass.apply(module)
        inst.timings.append((str(the_pass), time.perf_counter() - start))
        if inst.verify_each:
            verify_after(module, f"pass '{the_pass.name}'")
        after = inst._text(module) if (inst.dump_dir or before is not None) else None
        changed = before is not None and after != before
        if inst.print_after_all or the_pass.name in inst.print_after or changed:
            inst._dump(module, "After", the_pass)
        if inst.dump_dir:
            _write(os.path.join(inst.dump_dir, f"{index:02d}-{the_pass.name}.pimc"), after)
    if inst.time_passes:
        report_timings(inst)


def verify_after(module: ModuleOp, step: str) -> None:
    """Verify `module`; a failure names the step that broke it: `[after pass 'quantize']`."""
    try:
        verify(module)
    except DiagnosticError as error:
        d = error.diagnostic
        raise DiagnosticError(Diagnostic(f"{d.message} [after {step}]", d.location)) from None


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def report_timings(inst: Instrumentation) -> None:
    total = sum(t for _, t in inst.timings) or 1e-12
    out = inst.stream
    out.write("===" + "-" * 73 + "===\n")
    out.write(" " * 26 + "... Pass execution timing report ...\n")
    out.write("===" + "-" * 73 + "===\n")
    out.write(f"  Total Execution Time: {total:.4f} seconds\n\n   ----Wall Time----  ----Name----\n")
    for name, seconds in inst.timings:
        out.write(f"   {seconds:.4f} ({100 * seconds / total:5.1f}%)  {name}\n")
    out.write(f"   {total:.4f} (100.0%)  Total\n")

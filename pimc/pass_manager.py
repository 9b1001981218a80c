"""Passes, pipelines and their instrumentation.

A pass is a frozen dataclass whose fields are its options; a pipeline is a string:
`canonicalize,slice-weights{rows=128 cols=128}`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import ClassVar, Literal, get_args, get_origin

from lark import Lark, UnexpectedInput

from pimc.diagnostics import Diagnostic, DiagnosticError
from pimc.dialects.builtin import ModuleOp
from pimc.ir.verifier import verify
from pimc.text.printer import print_module


class PipelineError(Exception):
    """A pipeline string names an unknown pass or option, or gives a bad value."""


@dataclass(frozen=True)
class ModulePass:
    """Base of all passes; subclasses set `name` and implement `apply`."""

    name: ClassVar[str] = ""

    def apply(self, module: ModuleOp) -> None:
        raise NotImplementedError

    def __str__(self) -> str:
        options = [f"{_kebab(f.name)}={_format_value(getattr(self, f.name))}" for f in dataclasses.fields(self)]
        return self.name + ("{" + " ".join(options) + "}" if options else "")

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0]

    @classmethod
    def from_options(cls, options: dict[str, list[str]]) -> ModulePass:
        fields = {_kebab(f.name): f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        values = {}
        for key, raw in options.items():
            if key not in fields:
                raise PipelineError(f"pass '{cls.name}' has no option '{key}'{_did_you_mean(key, fields)}")
            values[fields[key].name] = _convert(cls.name, key, hints[fields[key].name], raw)
        try:
            return cls(**values)
        except ValueError as error:
            raise PipelineError(f"pass '{cls.name}': {error}") from None


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(_format_value(v) for v in value)
    return str(value)


def _convert(pass_name: str, key: str, hint: object, raw: list[str]) -> object:
    """Turn the option's text into the type its field declares."""
    where = f"option '{key}' of pass '{pass_name}'"
    if get_origin(hint) is tuple:
        element = get_args(hint)[0]
        return tuple(_convert_one(where, element, item) for item in raw)
    if len(raw) != 1:
        raise PipelineError(f"{where} takes one value, got {len(raw)}")
    return _convert_one(where, hint, raw[0])


def _convert_one(where: str, hint: object, text: str) -> object:
    if get_origin(hint) is Literal:
        if text not in get_args(hint):
            raise PipelineError(f"{where} must be one of {', '.join(get_args(hint))}, got '{text}'")
        return text
    if hint is bool:
        if text not in ("true", "false", "1", "0"):
            raise PipelineError(f"{where} must be true or false, got '{text}'")
        return text in ("true", "1")
    if hint in (int, float):
        try:
            return hint(text)
        except ValueError:
            raise PipelineError(f"{where} must be {'an integer' if hint is int else 'a number'}, got '{text}'") from None
    return text.strip('"')


@cache
def _pipeline_grammar() -> Lark:
    return Lark.open("text/pipeline.lark", rel_to=__file__, parser="lalr", start="pipeline", cache=True)


def parse_pipeline(spec: str, registry: dict[str, Callable[[], type[ModulePass]]]) -> list[ModulePass]:
    """`'a,b{x=1 y=2,3}'` -> [A(), B(x=1, y=(2, 3))]; raise PipelineError on anything unknown."""
    try:
        tree = _pipeline_grammar().parse(spec)
    except UnexpectedInput as error:
        raise PipelineError(f"malformed pipeline at column {error.column}: {spec!r}") from None
    passes = []
    for pass_spec in (c for c in tree.children if c is not None):
        name, *options = pass_spec.children
        if name not in registry:
            raise PipelineError(f"unknown pass '{name}'{_did_you_mean(name, registry)}")
        values = {}
        for option in (o for o in options if o is not None):
            key, *raw = option.children
            values[str(key)] = [str(v.children[0]) for v in raw if v is not None] or ["true"]
        passes.append(registry[name]().from_options(values))
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
        start = time.perf_counter()
        the_pass.apply(module)
        inst.timings.append((str(the_pass), time.perf_counter() - start))
        if inst.verify_each:
            _verify_after(module, the_pass)
        after = inst._text(module) if (inst.dump_dir or before is not None) else None
        changed = before is not None and after != before
        if inst.print_after_all or the_pass.name in inst.print_after or changed:
            inst._dump(module, "After", the_pass)
        if inst.dump_dir:
            _write(os.path.join(inst.dump_dir, f"{index:02d}-{the_pass.name}.pimc"), after)
    if inst.time_passes:
        _report_timings(inst)


def _verify_after(module: ModuleOp, the_pass: ModulePass) -> None:
    try:
        verify(module)
    except DiagnosticError as error:
        d = error.diagnostic
        raise DiagnosticError(Diagnostic(f"{d.message} [after pass '{the_pass.name}']", d.location)) from None


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def _report_timings(inst: Instrumentation) -> None:
    total = sum(t for _, t in inst.timings) or 1e-12
    out = inst.stream
    out.write("===" + "-" * 73 + "===\n")
    out.write(" " * 26 + "... Pass execution timing report ...\n")
    out.write("===" + "-" * 73 + "===\n")
    out.write(f"  Total Execution Time: {total:.4f} seconds\n\n   ----Wall Time----  ----Name----\n")
    for name, seconds in inst.timings:
        out.write(f"   {seconds:.4f} ({100 * seconds / total:5.1f}%)  {name}\n")
    out.write(f"   {total:.4f} (100.0%)  Total\n")

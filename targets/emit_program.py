"""emit-program: write a placed module's crossbar program (docs/isa.md) for a target; the IR is unchanged.

    %m = xbar.mvm(%p) {weights = "fc.matrix", rows = [0, 64], cols = [0, 10], tile = 0, ima = 2, xbar = 0, ...}
  ->  DIR/program.txt:
    mvm      %m[0:1] = xbar 3 (%p[0:1, 0:64])  input slices [1,1,1,1,1,1,1,1]

With no `dir`, the listing goes to standard output, after nothing else: `pimc opt` then prints
the IR as usual, so a test can check both.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from pimc.dialects.builtin import ModuleOp
from pimc.options import param
from pimc.pass_manager import ModulePass
from pimc.targets import ConfigError, load_config
from pimc.targets.crossbar import CrossbarConfig
from pimc.targets.emit import emit_program
from pimc.targets.program import program_text


@dataclass(frozen=True)
class EmitProgram(ModulePass):
    """Emit the crossbar program of a placed, input-sliced module: per-tile instruction streams and cells."""

    name = "emit-program"
    needs = ("xbar.mvm",)
    made_by = "lower-to-xbar"
    target: str = param("isaac", "-", "the target whose datapath the program is for: 'isaac{adc-bits=6}'")
    dir: str = param("", "-", "write program.txt, program.json, cells.npz and constants.npz here; empty: print "
                     "program.txt on standard output")

    def check(self) -> None:
        try:
            config = load_config(self.target)  # a bad target is a bad option, reported before anything runs
        except ConfigError as error:
            raise ValueError(str(error)) from None
        if not isinstance(config, CrossbarConfig):
            raise ValueError(f"target '{config.name}' has no crossbars; emit-program writes crossbar programs")

    def apply(self, module: ModuleOp) -> None:
        program, _ = emit_program(module, load_config(self.target))
        if self.dir:
            program.write(self.dir)
        else:
            sys.stdout.write(program_text(program))

"""Every pass a pipeline may name: the shared ones (passes/), emit-program, and each target's own.

    parse_pipeline("center-offset,slice-weights", all_passes())
"""

from __future__ import annotations

from collections.abc import Callable

from pimc.pass_manager import ModulePass
from pimc.passes import PASSES
from pimc.targets import TARGETS, target
from pimc.targets.emit_program import EmitProgram


def all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Pass name -> its class's loader; a target's passes are loaded with its TARGET."""
    own = {cls.name: cls for name in TARGETS for cls in target(name).passes}
    return {**PASSES, EmitProgram.name: lambda: EmitProgram, **{name: (lambda c=cls: c) for name, cls in own.items()}}

"""What a target is to the compiler: one declaration, `TARGET`, in its folder's `__init__.py`, of named hooks.

    TARGET = Target(IsaacConfig, datapaths={"offset": LoadedCrossbar, "differential": LoadedCrossbar})

`pimc.targets.TARGETS` names each target's folder; `target("isaac")` imports it and gives its TARGET.
The configuration class is the target's options and its stages (`config.stages(calib, samples)`: the
pipelines `pimc compile` runs); its own passes (in its folder) join the shared ones of passes/ in every
pipeline (`pimc.targets.passes.all_passes`); the simulator builds each crossbar from the datapath model
the target declares for the crossbar's cell encoding; the cost model charges the target's own digital
ops and MVM energy through its cost hooks. docs/targets.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pimc.diagnostics import UserError
from pimc.pass_manager import ModulePass
from pimc.targets.base import TargetConfig
from pimc.targets.datapath import Datapath
from pimc.targets.program import Crossbar, Program


@dataclass(frozen=True)
class DigitalCharge:
    """A target's own digital op in the cost model: `events` of `pj` each, added to the layer count `counter` and
    the energy `component` of the layer whose MVMs read (`reader`) or wrote (`writer`) all of `buffers`."""

    component: str
    counter: str
    events: int
    pj: float
    owner: Literal["reader", "writer"]
    buffers: list[str]


DigitalCost = Callable[[Program, dict, int, dict], DigitalCharge]  # (program, vop args, result elements, config)
MvmEnergy = Callable[[Crossbar, int, dict], dict[str, float]]  # (crossbar, vectors driven, config) -> component: pJ
ReportCosts = Callable[[dict, Program, object], None]  # (the cost report, program, placed module or None): adds to it


@dataclass(frozen=True)
class Target:
    """A target's hooks: its configuration (options and stages), own passes, datapath models and cost hooks."""

    config: type[TargetConfig]
    datapaths: dict[str, type[Datapath]] = field(default_factory=dict)  # cell encoding -> one crossbar's model
    digital_costs: dict[str, DigitalCost] = field(default_factory=dict)  # vop kind -> its charge
    mvm_energy: MvmEnergy | None = None  # an MVM's energy beyond crossbar, DAC, ADC, shift-add, digital and eDRAM
    passes: tuple[type[ModulePass], ...] = ()  # the passes of its stages that live in its folder
    report_costs: ReportCosts | None = None  # the target's own costs beyond the program's events (MLG's weight loads)

    @property
    def name(self) -> str:
        return self.config.name

    def datapath(self, encoding: str) -> type[Datapath]:
        """The model of a crossbar whose cells hold `encoding`."""
        if encoding not in self.datapaths:
            raise UserError(f"target '{self.name}' has no datapath model for {encoding} encoding "
                            f"(it models: {', '.join(self.datapaths) or 'none'})")
        return self.datapaths[encoding]

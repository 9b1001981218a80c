"""RAELLA: 512x512 2T2R crossbars, Center+Offset weights, adaptive weight slicing, speculative inputs, 7-bit ADCs."""

from pimc.targets.raella.adaptive_slicing import AdaptiveSlicing
from pimc.targets.raella.center_offset import CenterOffset
from pimc.targets.raella.config import RaellaConfig
from pimc.targets.raella.cost import center_energy
from pimc.targets.raella.datapath import PairedCrossbar
from pimc.targets.target import Target

TARGET = Target(RaellaConfig, {"center-offset": PairedCrossbar}, mvm_energy=center_energy,
                passes=(AdaptiveSlicing, CenterOffset))

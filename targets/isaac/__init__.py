"""The ISAAC-like baseline: 128x128 crossbars of 2-bit cells, 1-bit DACs, one 8-bit ADC per crossbar."""

from pimc.targets.isaac.config import IsaacConfig
from pimc.targets.isaac.datapath import LoadedCrossbar
from pimc.targets.target import Target

DATAPATHS = {"offset": LoadedCrossbar, "differential": LoadedCrossbar}  # also the models of ISAAC-like targets
TARGET = Target(IsaacConfig, DATAPATHS)

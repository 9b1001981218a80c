"""EPIM: ISAAC-like crossbars that hold only each conv's epitome, with address tables around them."""

from pimc.targets.epim.config import EpimConfig
from pimc.targets.epim.cost import route, wrap_sum
from pimc.targets.epim.design_epitomes import DesignEpitomes
from pimc.targets.epim.fold_epitome import FoldEpitome
from pimc.targets.isaac import DATAPATHS
from pimc.targets.target import Target

TARGET = Target(EpimConfig, DATAPATHS, digital_costs={"xbar.wrap_sum": wrap_sum, "xbar.route": route},
                passes=(FoldEpitome, DesignEpitomes))

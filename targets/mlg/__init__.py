"""The MLG target: conv weights generated in situ from low-precision bases and coefficients (docs/mlg.md)."""

from pimc.targets.isaac import DATAPATHS
from pimc.targets.mlg.config import MlgConfig
from pimc.targets.mlg.cost import report_costs
from pimc.targets.mlg.fold_mlg import FoldMlg
from pimc.targets.mlg.integer_mlg import IntegerMlg
from pimc.targets.mlg.lower_mlg import LowerMlg
from pimc.targets.target import Target

TARGET = Target(MlgConfig, DATAPATHS, passes=(FoldMlg, IntegerMlg, LowerMlg), report_costs=report_costs)

"""FlexSpIM: spiking CNNs on digital SRAM compute-in-memory macros, from NIR to an event-driven program.

See docs/flexspim.md. It has no crossbars: its programs run on its own simulator (targets/flexspim/simulator.py).
"""

from pimc.targets.flexspim.config import FlexspimConfig
from pimc.targets.target import Target

TARGET = Target(FlexspimConfig)

"""Every converter, registered by importing the modules that define them.

    CONVERTERS["Conv"].function(importer, x, w, b, pads=(1, 1, 1, 1))
"""

from __future__ import annotations

from pimc.frontend import ops_elementwise, ops_nn, ops_quant, ops_tensor  # noqa: F401  (they register converters)
from pimc.frontend.registry import CONVERTERS

# op types pimc imports as nn ops; Constant and ConstantOfShape (whose input is a shape) always fold away
CLAIMED = frozenset(CONVERTERS) | {"Constant", "ConstantOfShape"}

# converted even when every input is constant: a dequantized integer weight keeps its integers
KEPT_CONSTANT = frozenset({"DequantizeLinear"})

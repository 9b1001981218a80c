"""The `builtin` dialect: the module that holds everything else.

    module @tiny_cnn attributes {stage = "nn", weights = "tiny_cnn.npz"} { ... }
"""

from __future__ import annotations

from pimc.ir.core import Block, Region
from pimc.ir.irdl import STR, DeclaredOp, attr, irdl_op
from pimc.weights import WeightStore


@irdl_op("builtin.module", pure=False, regions=1, open_attributes=True)
class ModuleOp(DeclaredOp):
    """The top-level op; any attribute besides `sym_name` is free-form metadata.

    module @m attributes {stage = "nn"} { func.func @main(...) -> ... { ... } }
    """

    sym_name = attr(STR, default=None)

    @classmethod
    def empty(cls, name: str | None = None, attributes: dict | None = None) -> ModuleOp:
        attrs = {"sym_name": name} if name else {}
        attrs.update(attributes or {})
        return cls([], [], attrs, [Region([Block()])])

    @property
    def weights(self) -> WeightStore:
        """The arrays `nn.weight` ops refer to, kept outside the text."""
        return self.__dict__.setdefault("_weights", WeightStore())

    @weights.setter
    def weights(self, store: WeightStore) -> None:
        self.__dict__["_weights"] = store

    @property
    def body(self) -> Block:
        return self.regions[0].block

    def funcs(self) -> list:
        return [op for op in self.body.ops if op.op_name == "func.func"]


OPS = (ModuleOp,)

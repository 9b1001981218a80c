"""The `onnx` dialect: any ONNX op that `nn` does not model, kept as it was; it runs on the host.

    %y = onnx.Hardmax(%x) {axis = 1, opset = 17} : (tensor<2x3xf32>) -> tensor<2x3xf32>

The op name is `onnx.<OpType>`; the attributes are the node's ONNX
attributes as plain values, plus `opset` (and `domain` outside the default
one). When an optional ONNX input or output is left out in the middle,
`operand_slots` / `result_slots` give the ONNX positions of the ones present.
That is enough to rebuild the node (`to_node`) and run it with onnx's
reference implementation.
"""

from __future__ import annotations

import re
from typing import Any

from pimc.ir.irdl import INT, INTS, STR, DeclaredOp, VerifyError, attr, irdl_op, variadic_operand, variadic_result

_OP_TYPE = re.compile(r"onnx\.[A-Za-z_][A-Za-z0-9_]*")
RESERVED = ("opset", "domain", "operand_slots", "result_slots")


@irdl_op("onnx.op", open_attributes=True)
class OnnxOp(DeclaredOp):
    """An ONNX node pimc does not model; `op_name` is `onnx.<OpType>`.

    %y = onnx.Hardmax(%x) {axis = 1, opset = 17} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    """

    inputs = variadic_operand()
    outputs = variadic_result()
    opset = attr(INT)
    domain = attr(STR, default="")
    operand_slots = attr(INTS, default=None)
    result_slots = attr(INTS, default=None)

    @property
    def op_type(self) -> str:
        return self.op_name.partition(".")[2]

    def onnx_attributes(self) -> dict[str, Any]:
        """The node's own ONNX attributes, without pimc's bookkeeping ones."""
        return {k: v for k, v in self.attributes.items() if k not in RESERVED}

    def verify_(self) -> None:
        if not _OP_TYPE.fullmatch(self.op_name):
            raise VerifyError("op name must be 'onnx.' followed by an ONNX op type")
        for name, values in (("operand_slots", self.operands), ("result_slots", self.results)):
            slots = getattr(self, name)
            if slots is None:
                continue
            if len(slots) != len(values) or list(slots) != sorted(set(slots)) or min(slots, default=0) < 0:
                raise VerifyError(f"'{name}' must list {len(values)} increasing positions, but is {list(slots)}")

    def to_node(self, input_names: list[str], output_names: list[str]):
        """The ONNX NodeProto this op stands for, reading `input_names` and writing `output_names`."""
        from onnx import helper

        inputs = _slotted(input_names, self.operand_slots)
        outputs = _slotted(output_names, self.result_slots)
        node = helper.make_node(self.op_type, inputs, outputs, domain=self.domain or None)
        types = _schema_types(self.op_type, self.opset, self.domain)
        node.attribute.extend(to_onnx_attribute(k, v, types.get(k)) for k, v in self.onnx_attributes().items())
        return node


def _slotted(names: list[str], slots: tuple[int, ...] | None) -> list[str]:
    if slots is None:
        return list(names)
    placed = [""] * (max(slots, default=-1) + 1)
    for slot, name in zip(slots, names):
        placed[slot] = name
    return placed


def _schema_types(op_type: str, opset: int, domain: str) -> dict[str, int]:
    """Attribute name -> AttributeProto type from the op's schema (empty if ONNX has none)."""
    from onnx import defs

    try:
        schema = defs.get_schema(op_type, opset, domain)
    except defs.SchemaError:
        return {}
    return {name: int(a.type) for name, a in schema.attributes.items()}


def short_float(value: float) -> float:
    """A float32 attribute as the shortest decimal that reads back as the same float32: 0.01, not 0.0099999998."""
    import numpy as np

    return float(str(np.float32(value)))


def from_onnx_attribute(attribute) -> Any:
    """An ONNX AttributeProto's value as a plain pimc attribute; ValueError for tensors and graphs."""
    from onnx import AttributeProto

    kind = attribute.type
    if kind == AttributeProto.INT:
        return int(attribute.i)
    if kind == AttributeProto.FLOAT:
        return short_float(attribute.f)
    if kind == AttributeProto.STRING:
        return attribute.s.decode("utf-8", errors="surrogateescape")
    if kind == AttributeProto.INTS:
        return tuple(int(v) for v in attribute.ints)
    if kind == AttributeProto.FLOATS:
        return tuple(short_float(v) for v in attribute.floats)
    if kind == AttributeProto.STRINGS:
        return tuple(s.decode("utf-8", errors="surrogateescape") for s in attribute.strings)
    raise ValueError(f"attribute '{attribute.name}' holds a {AttributeProto.AttributeType.Name(kind).lower()}")


def to_onnx_attribute(name: str, value: Any, kind: int | None):
    """The AttributeProto for a plain value; `kind` (from the schema) settles empty lists."""
    from onnx import AttributeProto, helper

    if isinstance(value, tuple) and not value and kind is not None:
        return helper.make_attribute(name, [], attr_type=kind)
    if kind == AttributeProto.FLOAT or (kind == AttributeProto.FLOATS and isinstance(value, tuple)):
        value = tuple(float(v) for v in value) if isinstance(value, tuple) else float(value)
    if isinstance(value, tuple):
        value = list(value)
    return helper.make_attribute(name, value)


OPS: tuple = ()
FALLBACK = OnnxOp

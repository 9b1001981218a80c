"""ONNX element types <-> pimc scalar types, and ONNX type protos -> pimc tensor types.

    TensorProto.FLOAT <-> f32, INT64 <-> i64, UINT8 <-> ui8, BOOL <-> i1
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from pimc.ir.types import ScalarType, TensorType

_ELEMENTS = {
    TensorProto.FLOAT: "f32", TensorProto.DOUBLE: "f64", TensorProto.FLOAT16: "f16",
    TensorProto.INT8: "i8", TensorProto.INT16: "i16", TensorProto.INT32: "i32", TensorProto.INT64: "i64",
    TensorProto.UINT8: "ui8", TensorProto.UINT16: "ui16", TensorProto.UINT32: "ui32", TensorProto.UINT64: "ui64",
    TensorProto.BOOL: "i1",
}
_ONNX = {name: code for code, name in _ELEMENTS.items()}


class UnsupportedType(ValueError):
    """An ONNX element type pimc has no scalar type for (strings, complex, 8-bit and smaller floats, ...)."""


def element_type(code: int) -> ScalarType:
    if code not in _ELEMENTS:
        raise UnsupportedType(f"element type {TensorProto.DataType.Name(code)}, which pimc does not support")
    return ScalarType(_ELEMENTS[code])


def onnx_element(element: ScalarType) -> int:
    return _ONNX[element.name]


def array_type(array: np.ndarray) -> TensorType:
    """The tensor type of a constant array."""
    from onnx.helper import np_dtype_to_tensor_dtype

    return TensorType(tuple(int(d) for d in array.shape), element_type(np_dtype_to_tensor_dtype(array.dtype)))


def value_info(name: str, type: TensorType):
    """A ValueInfoProto for a static tensor."""
    from onnx import helper

    return helper.make_tensor_value_info(name, onnx_element(type.element), list(type.shape))


def shape_of(type_proto) -> list[int | str | None] | None:
    """The dims of a tensor TypeProto: ints, symbolic names, None for unknown; None without a shape."""
    if not type_proto.tensor_type.HasField("shape"):
        return None
    dims = []
    for dim in type_proto.tensor_type.shape.dim:
        kind = dim.WhichOneof("value")
        dims.append(dim.dim_value if kind == "dim_value" else dim.dim_param if kind == "dim_param" else None)
    return dims

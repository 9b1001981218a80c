"""Write a q-stage module as a QDQ ONNX model that onnxruntime runs: `export_qdq(module, "model.qdq.onnx")`.

    q.quantize               ->  QuantizeLinear
    q.dequantize             ->  DequantizeLinear (a `scales` operand: per axis)
    q.conv2d + q.requantize  ->  DequantizeLinear(x), DequantizeLinear(w, per output channel),
                                 DequantizeLinear(bias, i32), Conv, QuantizeLinear(y)
    q.gemm + q.requantize    ->  the same around Gemm {transB = 1}
    nn ops                   ->  the ONNX ops the importer reads them from
    ep.conv2d                ->  Conv of its materialised weight, an initializer
    ep.materialize           ->  nothing: its materialised integers are the weight of the layer that reads it

The scales of a layer follow from its q ops: scale_x is that of the integers it reads (the q.quantize or
q.requantize that made them, through max pools and reshapes), scale_y the requantize's own, and
scale_w[c] = multiplier[c] * scale_y / scale_x, since the multiplier is scale_x * scale_w[c] / scale_y.
The bias is its i32 integers at scale scale_x * scale_w[c], as onnxruntime's quantizer writes it.

Weights are written as uint8 with zero point 128 (the same values): onnxruntime's x86 kernels for uint8
activations times int8 weights add pairs of products in saturating int16 (`docs/quantize.md`), and
its uint8 x uint8 kernels do not. Activations of other widths than 8 and 16 bits are held in the next
wider ONNX type, with a Clip to their range after each QuantizeLinear, except where ONNX cannot: those of
more than 16 bits (QuantizeLinear writes none) and of 9 to 15 (onnxruntime has no Clip of 16-bit integers),
such as MLG's exact intermediates between stages, are held as their real values, in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pimc.diagnostics import UserError
from pimc.dialects import ep, nn_conv, nn_elementwise, nn_tensor, q
from pimc.dialects.builtin import ModuleOp
from pimc.dialects.func import ReturnOp
from pimc.dialects.nn_canonicalize import constant
from pimc.dialects.q_canonicalize import MOVES, produced_by
from pimc.ir.core import Operation, Value
from pimc.ir.types import ScalarType, TensorType

OPSET = 21  # 16-bit QuantizeLinear and DequantizeLinear
IR_VERSION = 10
U8 = ScalarType("ui8")


def export_qdq(module: ModuleOp, path: str) -> None:
    """Write `module` (stage `quant`, or `nn`) to `path` as a QDQ ONNX model; UserError names an op it cannot write."""
    import onnx

    onnx.save(QdqExporter(module).model(), path)


def container(element: ScalarType) -> ScalarType:
    """The ONNX element type that holds `element`: `ui6` -> `ui8`, `i9` -> `i16`; floats are themselves."""
    if element.is_float or element.name == "i1":
        return element
    width = next(w for w in (8, 16, 32, 64) if w >= element.width)
    return ScalarType(f"{'ui' if element.is_unsigned else 'i'}{width}")


class QdqExporter:
    """Builds the ONNX graph of a module's one function, op by op."""

    def __init__(self, module: ModuleOp) -> None:
        funcs = module.funcs()
        if len(funcs) != 1:
            raise UserError(f"export_qdq: the module must have one function, but has {len(funcs)}")
        self.module, self.func = module, funcs[0]
        self.names: dict[Value, str] = {}
        self.taken: set[str] = set()
        self.real: set[str] = set()  # tensors of integers wider than 16 bits, held as their real values
        self.nodes: list = []
        self.arrays: dict[str, np.ndarray] = {}  # the initializers, by name

    def model(self, beside: bool = False):
        """The ONNX model; `beside`, its initializers of a kilobyte or more are external data "in memory", for
        `runtime.make_session(model, arrays=exporter.arrays)`: no copy of the weights goes into the graph."""
        from onnx import helper, numpy_helper

        from pimc.frontend.types import value_info

        inputs = [value_info(self.name(arg), onnx_type(arg.type)) for arg in self.func.arguments]
        outputs = []
        for op in self.func.body.ops:
            if isinstance(op, ReturnOp):
                outputs = [value_info(self.tensor(v), onnx_type(v.type)) for v in op.operands]
            elif not isinstance(op, nn_conv.WeightOp | ep.MaterializeOp):
                self.export(op)
        graph = helper.make_graph(self.nodes, self.module.sym_name or "model", inputs, outputs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                                  producer_name="pimc")
        model.graph.initializer.extend(  # once: make_model copies the graph it is given
            _in_memory(name, array) if beside and array.nbytes >= 1024 else numpy_helper.from_array(array, name)
            for name, array in self.arrays.items())
        return model

    # ------------------------------------------------------------------ names, constants, nodes

    def name(self, value: Value) -> str:
        """The ONNX name of `value`, made unique on first use."""
        if value not in self.names:
            self.names[value] = self.fresh(value.name_hint or "t")
        return self.names[value]

    def fresh(self, hint: str) -> str:
        """`hint`, or `hint_1`, `hint_2`, ... if it is taken."""
        name, suffix = hint, 0
        while name in self.taken:
            suffix += 1
            name = f"{hint}_{suffix}"
        self.taken.add(name)
        return name

    def constant(self, array: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.arrays[name] = np.ascontiguousarray(array)
        return name

    def tensor(self, value: Value) -> str:
        """The ONNX tensor holding `value`; a weight (`weight_array`) becomes an initializer on first use."""
        array = weight_array(value) if value not in self.names else None
        if array is not None:
            array = array.astype(container(value.type.element).numpy_dtype(), copy=False)
            self.names[value] = self.constant(array, _ref(value))
        return self.name(value)

    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attributes) -> None:
        from onnx import helper

        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.fresh(f"{outputs[0]}_{op_type}"),
                                           **{k: v for k, v in attributes.items() if v is not None}))

    def scalar(self, value: float | int, element: ScalarType, hint: str) -> str:
        return self.constant(np.array(value, dtype=container(element).numpy_dtype()), hint)

    # ------------------------------------------------------------------ ops

    def export(self, op: Operation) -> None:
        for cls in type(op).__mro__:
            if cls in EXPORTERS:
                EXPORTERS[cls](self, op)
                return
        if op.op_name.startswith("xbar."):
            raise UserError(f"export_qdq: cannot export '{op.op_name}'; export the q stage, before lower-to-xbar")
        known = ", ".join(sorted(cls.name for cls in EXPORTERS if cls.name.startswith("nn.")))
        raise UserError(f"export_qdq: cannot export '{op.op_name}'; it exports q ops and {known}")

    def quantize(self, source: str, value: Value, scale: float, zero_point: int, hint: str) -> None:
        """QuantizeLinear of `source` into `value`, clipped to its type when that is narrower than its container."""
        element = value.type.element
        if container(element).width > 16 or (container(element).width == 16 and element.width < 16):
            self.node("Identity", [source], [self.name(value)])
            self.real.add(self.name(value))
            return
        grid = [self.scalar(scale, ScalarType("f32"), f"{hint}_scale"), self.scalar(zero_point, element, f"{hint}_zero_point")]
        if container(element) == element:
            self.node("QuantizeLinear", [source, *grid], [self.name(value)])
            return
        wide = self.fresh(f"{hint}_wide")
        self.node("QuantizeLinear", [source, *grid], [wide])
        low, high = element.bounds
        bounds = [self.scalar(low, element, f"{hint}_min"), self.scalar(high, element, f"{hint}_max")]
        self.node("Clip", [wide, *bounds], [self.name(value)])

    def dequantize(self, source: str, element: ScalarType, scale: float | np.ndarray, zero_point: int | np.ndarray,
                   out: str, axis: int = 0) -> str:
        """DequantizeLinear of tensor `source` into `out`, with one scale or one per index along `axis`."""
        if source in self.real:
            self.node("Identity", [source], [out])
            return out
        zeros = np.broadcast_to(zero_point, np.shape(scale)).astype(container(element).numpy_dtype())
        inputs = [source, self.constant(np.asarray(scale, dtype=np.float32), f"{out}_scale"), self.constant(zeros, f"{out}_zero_point")]
        self.node("DequantizeLinear", inputs, [out], axis=axis if np.ndim(scale) else None)
        return out


def _in_memory(name: str, array: np.ndarray):
    """An initializer whose data is external, "in memory": its name, type and shape."""
    from onnx import TensorProto, helper

    from pimc.runtime import mark_in_memory

    tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype), dims=array.shape)
    mark_in_memory(tensor)
    return tensor


def onnx_type(type_: TensorType) -> TensorType:
    return TensorType(type_.shape, container(type_.element))


def weight_array(value: Value | None) -> np.ndarray | None:
    """The array behind an `nn.weight` value or an `ep.materialize` of one, or None for anything else."""
    op = produced_by(value, ep.MaterializeOp)
    if op is None:
        return constant(value)
    epitome = constant(op.input)
    if epitome is None:
        raise UserError(f"export_qdq: the epitome of '%{value.name_hint or '?'}' (ep.materialize) must be a constant")
    return ep.materialize(epitome, *op.output.type.shape[:2], op.patch, op.stride)


def _ref(value: Value) -> str:
    """The initializer name of a weight: its nn.weight's ref, or the ep.materialize result's name."""
    weight = produced_by(value, nn_conv.WeightOp)
    return weight.ref if weight is not None else value.name_hint or "weight"


def _input_scale(value: Value) -> float:
    """The real scale of integer `value`, from the op that quantized it (through max pools and reshapes)."""
    op = produced_by(value, (q.QuantizeOp, q.RequantizeOp, *MOVES))
    if isinstance(op, MOVES):
        return _input_scale(op.operands[0])
    if op is not None and op.scale is not None:
        return op.scale
    readers = [u for u in value.users if isinstance(u, q.DequantizeOp) and u.scales is None]
    if readers:
        return readers[0].scale
    raise UserError(f"export_qdq: the scale of '%{value.name_hint or '?'}' is not known: no q.quantize or "
                    "q.requantize with a scale makes it")


def _quantize(ex: QdqExporter, op: q.QuantizeOp) -> None:
    ex.quantize(ex.tensor(op.input), op.output, op.scale, op.zero_point, ex.name(op.output))


def _dequantize(ex: QdqExporter, op: q.DequantizeOp) -> None:
    scale = op.scale if op.scales is None else constant(op.scales)
    if scale is None:
        raise UserError("export_qdq: a q.dequantize's scales must be a constant")
    ex.dequantize(ex.tensor(op.input), op.input.type.element, scale, op.zero_point, ex.name(op.output), op.axis)


def _accumulate(ex: QdqExporter, op: q.Conv2dOp | q.GemmOp) -> None:
    """Written with the q.requantize that reads it, which must be its only user."""
    users = op.output.users
    if len(op.output.uses) != 1 or not isinstance(users[0], q.RequantizeOp):
        raise UserError(f"export_qdq: the result of '{op.op_name}' must be read by one q.requantize, and only by it")


def _layer(ex: QdqExporter, op: q.RequantizeOp) -> None:
    """q.conv2d or q.gemm with the q.requantize that reads it: the float layer between dequantize and quantize."""
    layer = produced_by(op.input, (q.Conv2dOp, q.GemmOp))
    if layer is None:
        raise UserError("export_qdq: a q.requantize must read a q.conv2d or q.gemm")
    weights, multiplier = weight_array(layer.weight), constant(op.multiplier)
    bias = constant(layer.bias) if layer.bias is not None else None
    if weights is None or multiplier is None or (layer.bias is not None and bias is None):
        raise UserError(f"export_qdq: the weights, bias and multiplier of '{layer.op_name}' must be constants")
    y_scale = op.scale if op.scale is not None else _input_scale(op.output)
    x_scale, channels = _input_scale(layer.input), weights.shape[0]
    w_scale = np.broadcast_to(multiplier.astype(np.float64), (channels,)) * y_scale / x_scale
    if not (w_scale > 0).all() or not np.isfinite(w_scale).all():
        raise UserError(f"export_qdq: '{layer.op_name}' has a multiplier that is not positive")
    hint = ex.name(op.output)
    inputs = [ex.dequantize(ex.tensor(layer.input), layer.input.type.element, x_scale, layer.input_zero_point,
                            ex.fresh(f"{hint}_input"))]
    w_name, w_element, w_zero = _weight(ex, weights, layer.weight)
    inputs.append(ex.dequantize(w_name, w_element, w_scale, w_zero, ex.fresh(f"{hint}_weight")))
    if bias is not None:
        b_name = ex.constant(bias.astype(np.int32), layer.bias.op.ref)
        inputs.append(ex.dequantize(b_name, ScalarType("i32"), x_scale * w_scale, 0, ex.fresh(f"{hint}_bias")))
    real = ex.fresh(f"{hint}_real")
    if isinstance(layer, q.Conv2dOp):
        ex.node("Conv", inputs, [real], kernel_shape=list(weights.shape[2:]), strides=list(layer.strides),
                pads=list(layer.pads), dilations=list(layer.dilations), group=layer.group)
    else:
        ex.node("Gemm", inputs, [real], transB=1)
    ex.quantize(real, op.output, y_scale, op.zero_point, hint)


def _weight(ex: QdqExporter, weights: np.ndarray, value: Value) -> tuple[str, ScalarType, int]:
    """(initializer, its element type, zero point) of a layer's weight: signed weights of up to 8 bits as uint8 at 128."""
    element = value.type.element
    if element.width <= 8 and not element.is_unsigned:
        return ex.constant((weights.astype(np.int16) + 128).astype(np.uint8), _ref(value)), U8, 128
    return ex.constant(weights.astype(container(element).numpy_dtype()), _ref(value)), element, 0


def _epitome_conv(ex: QdqExporter, op: ep.Conv2dOp) -> None:
    """A Conv whose weight is the epitome's materialisation, written as a float initializer."""
    epitome = constant(op.epitome)
    if epitome is None:
        raise UserError(f"export_qdq: the epitome of '{op.op_name}' must be a constant (an nn.weight)")
    co, ci, _, _ = op.weight_shape()
    weight = ep.materialize(epitome, co, ci, op.patch, op.stride).astype(op.epitome.type.element.numpy_dtype())
    inputs = [ex.tensor(op.input), ex.constant(weight, _ref(op.epitome))]
    inputs += [] if op.bias is None else [ex.tensor(op.bias)]
    ex.node("Conv", inputs, [ex.name(op.output)], strides=list(op.strides), pads=list(op.pads),
            dilations=list(op.dilations), group=op.group)


def _plain(op_type: str) -> Callable:
    return lambda ex, op: ex.node(op_type, [ex.tensor(v) for v in op.operands], [ex.name(op.results[0])])


def _with(op_type: str, attributes: Callable) -> Callable:
    return lambda ex, op: ex.node(op_type, [ex.tensor(v) for v in op.operands], [ex.name(op.results[0])],
                                  **attributes(op))


def _with_inputs(op_type: str, inputs: Callable) -> Callable:
    """An op whose attributes ONNX takes as constant inputs (Reshape's shape, Squeeze's axes, Clip's bounds)."""
    def export(ex: QdqExporter, op: Operation) -> None:
        hint = ex.name(op.results[0])
        extra = [ex.constant(a, f"{hint}_{i}") if a is not None else "" for i, a in enumerate(inputs(op))]
        ex.node(op_type, [ex.tensor(op.operands[0]), *extra], [hint])

    return export


def _pool(op) -> dict:
    return {"kernel_shape": list(op.kernel_shape), "strides": list(op.strides), "pads": list(op.pads),
            "dilations": list(op.dilations), "ceil_mode": int(op.ceil_mode)}


def _bound(op, bound: float | None) -> np.ndarray | None:
    return None if bound is None else np.array(bound, dtype=container(op.input.type.element).numpy_dtype())


def _ints(values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


EXPORTERS: dict[type, Callable] = {
    q.QuantizeOp: _quantize, q.DequantizeOp: _dequantize, q.RequantizeOp: _layer, q.Conv2dOp: _accumulate,
    q.GemmOp: _accumulate, ep.Conv2dOp: _epitome_conv,
    **{cls: _plain(name) for cls, name in (
        (nn_elementwise.ReluOp, "Relu"), (nn_elementwise.SigmoidOp, "Sigmoid"), (nn_elementwise.TanhOp, "Tanh"),
        (nn_elementwise.NegOp, "Neg"), (nn_elementwise.SqrtOp, "Sqrt"), (nn_elementwise.ErfOp, "Erf"),
        (nn_elementwise.HardSwishOp, "HardSwish"), (nn_elementwise.AddOp, "Add"), (nn_elementwise.SubOp, "Sub"),
        (nn_elementwise.MulOp, "Mul"), (nn_elementwise.DivOp, "Div"), (nn_elementwise.PowOp, "Pow"),
        (nn_elementwise.SumOp, "Sum"), (nn_conv.MatMulOp, "MatMul"), (nn_conv.GlobalAveragePoolOp, "GlobalAveragePool"),
    )},
    nn_conv.Conv2dOp: _with("Conv", lambda op: {"strides": list(op.strides), "pads": list(op.pads),
                                                "dilations": list(op.dilations), "group": op.group}),
    nn_conv.GemmOp: _with("Gemm", lambda op: {"alpha": op.alpha, "beta": op.beta, "transA": int(op.trans_a),
                                              "transB": int(op.trans_b)}),
    nn_conv.MaxPoolOp: _with("MaxPool", _pool),
    nn_conv.AveragePoolOp: _with("AveragePool", lambda op: {**_pool(op), "count_include_pad": int(op.count_include_pad)}),
    nn_elementwise.LeakyReluOp: _with("LeakyRelu", lambda op: {"alpha": op.alpha}),
    nn_elementwise.HardSigmoidOp: _with("HardSigmoid", lambda op: {"alpha": op.alpha, "beta": op.beta}),
    nn_elementwise.SoftmaxOp: _with("Softmax", lambda op: {"axis": op.axis}),
    nn_tensor.ConcatOp: _with("Concat", lambda op: {"axis": op.axis}),
    nn_tensor.FlattenOp: _with("Flatten", lambda op: {"axis": op.axis}),
    nn_tensor.TransposeOp: _with("Transpose", lambda op: {"perm": list(op.perm)}),
    nn_tensor.ReshapeOp: _with_inputs("Reshape", lambda op: [_ints(op.output.type.shape)]),
    nn_tensor.SqueezeOp: _with_inputs("Squeeze", lambda op: [_ints(op.axes)]),
    nn_tensor.UnsqueezeOp: _with_inputs("Unsqueeze", lambda op: [_ints(op.axes)]),
    nn_elementwise.ClipOp: _with_inputs("Clip", lambda op: [_bound(op, op.min), _bound(op, op.max)]),
}

"""A hypothesis property of `--target mlg`: for random integer factors and inputs, every mode's program computes the
layer's accumulator x . W exactly where no ADC conversion saturates, and where some do, the simulator counts exactly
the saturations a direct computation from the program's cells and the inputs it drove finds.

The model is a conv whose weight ONNX computes as the dynamo exporter writes MLG generation (float factors, two
MatMuls and Reshapes); W = V @ (U @ W^b) of the integer codes, and x the quantized input the program reads.
"""

from __future__ import annotations

import numpy as np
import onnx
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from pimc.compiler import compile_model
from pimc.inputs import sample_input
from pimc.dialects import q
from pimc.targets import load_config
from pimc.targets.datapath import shifts
from pimc.targets.simulator import Simulator

MODES = ("materialize", "two-stage", "three-stage")
SIZE = 5


def odd_codes(rng, shape, bits):
    """Random DoReFa-symmetric codes (odd integers in [-n, n], n = 2^bits - 1), the first n and the second 1, so
    that the importer reads the factor at `bits` (no coarser grid holds both) and with these codes."""
    n = (1 << bits) - 1
    codes = 2 * rng.integers(0, n + 1, size=shape) - n
    codes.reshape(-1)[:2] = n, 1
    return codes


def mlg_conv(path, basis, coeff_in, coeff_out) -> None:
    """x (1 x Ci x 5 x 5) -> Conv 3x3 pad 1 whose weight is V @ (U @ W^b), the codes times powers of two."""
    (b_c, b_i), ci, co = basis.shape[:2], coeff_in.shape[1], coeff_out.shape[0]
    values = [(name, codes * 2.0 ** -shift) for name, codes, shift in
              (("basis", basis, 3), ("coeff_in", coeff_in, 5), ("coeff_out", coeff_out, 2))]
    inits = [numpy_helper.from_array(v.astype(np.float32), name) for name, v in values]
    inits += [numpy_helper.from_array(np.array(s, np.int64), name) for name, s in
              (("s_basis", [b_c, b_i, 9]), ("s_wc", [b_c, ci * 9]), ("s_w", [co, ci, 3, 3]))]
    nodes = [helper.make_node("Reshape", ["basis", "s_basis"], ["b3"]),
             helper.make_node("MatMul", ["coeff_in", "b3"], ["wc"]),
             helper.make_node("Reshape", ["wc", "s_wc"], ["wc2"]),
             helper.make_node("MatMul", ["coeff_out", "wc2"], ["w2"]),
             helper.make_node("Reshape", ["w2", "s_w"], ["w"]),
             helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "mlg_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, ci, SIZE, SIZE])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, co, SIZE, SIZE])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def direct_accumulator(x: np.ndarray, zero: int, weight: np.ndarray) -> np.ndarray:
    """sum over the 3x3 window of (x - zero) . W, padding reading the zero point: as numpy computes it."""
    padded = np.pad(x.astype(np.int64) - zero, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((1, weight.shape[0], SIZE, SIZE), dtype=np.int64)
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nchw,oc->nohw", padded[:, :, dy:dy + SIZE, dx:dx + SIZE], weight[:, :, dy, dx])
    return out


def direct_saturations(program, buffers: dict, adc_bits: int) -> int:
    """Conversions over the ADC's range: per MVM and input slice, the column sums of the driven bits over the
    crossbar's cell levels (as programmed), each above 2^adc-bits - 1."""
    crossbars = {x.id: x for x in program.crossbars}
    count = 0
    for i in program.instructions:
        if i.op != "mvm":
            continue
        (v0, v1), (c0, c1), widths = i.args["vectors"], i.args["src_cols"], i.args["input_slices"]
        x = buffers[i.args["src"]][v0:v1, c0:c1].astype(np.int64)
        levels = program.levels(crossbars[i.args["xbar"]]).astype(np.int64)
        for width, shift in zip(widths, shifts(tuple(widths))):
            sums = ((x >> shift) & ((1 << width) - 1)) @ levels
            count += int(np.count_nonzero(sums > (1 << adc_bits) - 1))
    return count


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 5), st.integers(2, 6), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 4), st.integers(1, 3), st.sampled_from([4, 5, 8]), st.integers(0, 2**16))
def test_every_mode_computes_x_times_w_or_counts_its_saturations(tmp_path_factory, ci, co, b_i, b_c, q_b, q_u, q_v,
                                                                  adc_bits, seed):
    rng = np.random.default_rng(seed)
    basis, coeff_in, coeff_out = odd_codes(rng, (b_c, b_i, 3, 3), q_b), odd_codes(rng, (b_c, ci, b_i), q_u), \
        odd_codes(rng, (co, b_c), q_v)
    weight = np.einsum("op,pci,pik->ock", coeff_out, coeff_in, basis.reshape(b_c, b_i, 9)).reshape(co, ci, 3, 3)
    path = str(tmp_path_factory.mktemp("mlg") / "conv.onnx")
    mlg_conv(path, basis, coeff_in, coeff_out)
    for mode in MODES:
        compiled = compile_model(path, load_config(f"mlg{{mode={mode} adc-bits={adc_bits}}}"), {}, samples=2)
        inputs = sample_input("", compiled.module.funcs()[0], seed=seed)
        simulator = Simulator(compiled.program)
        simulator.run(inputs)
        saturated = sum(stats.saturated for stats in simulator.stats.values())
        assert saturated == direct_saturations(compiled.program, simulator.buffers, adc_bits), mode
        if saturated:
            continue
        homes = {value.name_hint: name for value, name in compiled.buffers.items()}
        quantize = next(op for op in compiled.module.walk() if isinstance(op, q.QuantizeOp))
        final = [op for op in compiled.module.walk() if isinstance(op, q.RequantizeOp)][-1]
        x = simulator.buffers[homes[quantize.output.name_hint]].reshape(1, ci, SIZE, SIZE)
        acc = simulator.buffers[compiled.buffers[final.input]].reshape(1, co, SIZE, SIZE)
        np.testing.assert_array_equal(acc, direct_accumulator(x, quantize.zero_point, weight), err_msg=mode)

"""`pimc verify --target` without holding every tensor: a simulator run with an observer sees each buffer
once it is written, drops buffers no later step uses, and the integer reference is compared by fingerprints, or run
alongside the simulator and compared tensor by tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimc.compiler import compile_model, differing
from pimc.interp.interpreter import Interpreter
from pimc.targets import load_config
from pimc.targets.simulator import Simulator

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def compiled_digits(name: str, target: str):
    x = np.load(SAMPLES / "digits_test.npz")["x"][:4]
    compiled = compile_model(str(SAMPLES / f"{name}.onnx"), load_config(target), {"x": x.shape},
                             str(SAMPLES / "digits_calib.npz"))
    return compiled, {"x": x}


@pytest.mark.parametrize("name, target", [("digits_cnn", "isaac"), ("digits_cnn", "raella"), ("digits_cnn", "epim"),
                                          ("digits_mlp", "isaac{dac-bits=2 adc-bits=7}")])
def test_an_observed_run_sees_every_buffer_as_a_plain_run_ends_with_it_and_keeps_only_the_outputs(name, target):
    compiled, inputs = compiled_digits(name, target)
    plain = Simulator(compiled.program)
    expected = plain.run(inputs)
    seen: dict[str, np.ndarray] = {}
    observed = Simulator(compiled.program, observer=lambda buffer, array: seen.setdefault(buffer, array.copy()))
    outputs = observed.run(inputs)
    assert seen.keys() == plain.buffers.keys()
    for buffer, array in plain.buffers.items():
        np.testing.assert_array_equal(seen[buffer], array, err_msg=buffer)
    for got, want in zip(outputs, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert observed.buffers.keys() == {name for _, name in compiled.program.outputs}


def test_the_reference_fingerprints_name_exactly_the_buffers_a_fault_changed():
    compiled, inputs = compiled_digits("digits_cnn", "isaac")
    sim = Simulator(compiled.program)
    sim.run(inputs)
    assert not compiled.mismatches(sim.buffers, inputs)
    mvm_results = [i.args["dst"] for i in compiled.program.instructions if i.op == "mvm"]
    faulty = sorted({mvm_results[0], mvm_results[-1]} & set(compiled.buffers.values()))
    assert faulty
    for buffer in faulty:
        sim.buffers[buffer] = sim.buffers[buffer].copy()
        sim.buffers[buffer].flat[-1] += 1
    assert sorted(compiled.mismatches(sim.buffers, inputs)) == faulty


@pytest.mark.parametrize("target", ["isaac", "raella", "epim"])
def test_the_reference_alongside_names_exactly_the_buffers_a_fault_changed_holding_one_tensor_at_most(target):
    compiled, inputs = compiled_digits("digits_cnn", target)
    mvm_results = [i.args["dst"] for i in compiled.program.instructions if i.op == "mvm"]
    faulty = [name for name in compiled.buffers.values() if name in {mvm_results[0], mvm_results[-1]}]
    assert faulty
    for fault in ([], faulty):
        alongside = compiled.reference_alongside(inputs)
        held = []

        def look(buffer: str, array: np.ndarray) -> None:
            if buffer in fault:
                array = array.copy()
                array.flat[-1] += 1
            alongside(buffer, array)
            held.append(len(alongside.waiting))

        Simulator(compiled.program, observer=look).run(inputs)
        assert alongside.mismatched() == fault
        assert max(held) <= 1


def test_the_interpreter_one_value_at_a_time_gives_each_argument_and_result_in_order_then_the_results():
    compiled, inputs = compiled_digits("digits_cnn", "isaac")
    func = compiled.module.funcs()[0]
    steps = Interpreter(compiled.module, record=False).stepwise([inputs["x"]])
    stepped = []
    while True:
        try:
            stepped.append(next(steps))
        except StopIteration as done:
            results = done.value
            break
    assert [value for value, _ in stepped] == [*func.arguments, *(r for op in func.body.ops for r in op.results)]
    assert all(array.shape == value.type.shape for value, array in stepped)
    for got, want in zip(results, Interpreter(compiled.module).run([inputs["x"]]), strict=True):
        np.testing.assert_array_equal(got, want)


def test_differing_keeps_the_reference_order_and_skips_buffers_not_simulated():
    reference = [("b", b"1"), ("a", b"2"), ("c", b"3"), ("d", b"4")]
    assert differing(reference, {"a": b"x", "b": b"y", "c": b"3"}) == ["b", "a"]

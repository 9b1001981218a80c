"""The backend test cases the onnx package ships, as (model, inputs, expected outputs).

    for case in all_cases(): case.model, case.data_sets(), case.rtol, case.atol

Node cases come from onnx's case generators (`onnx.backend.test.case.node`,
the source of its `data/node` directory, which the wheel leaves out); model
cases from `onnx/backend/test/data/{simple,pytorch-converted,pytorch-operator}`;
the `light` models (real networks with ConstantOfShape weights) run on the
deterministic input onnx's own runner feeds them.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
MODEL_KINDS = ("simple", "pytorch-converted", "pytorch-operator")

DataSet = tuple[list[np.ndarray], list[np.ndarray]]


@dataclass
class Case:
    name: str
    kind: str
    model: onnx.ModelProto
    data_sets: Callable[[], list[DataSet]]
    rtol: float = 1e-3
    atol: float = 1e-7


def all_cases() -> Iterator[Case]:
    yield from node_cases()
    yield from model_cases()
    yield from light_cases()


def node_cases() -> Iterator[Case]:
    import warnings

    from onnx.backend.test.case import node

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = node.collect_testcases()
    for case in cases:
        sets = [([_array(i) for i in inputs], [_array(o) for o in outputs]) for inputs, outputs in case.data_sets]
        yield Case(case.name, "node", case.model, lambda sets=sets: sets, case.rtol, case.atol)


def model_cases() -> Iterator[Case]:
    for kind in MODEL_KINDS:
        for directory in sorted(glob.glob(os.path.join(DATA, kind, "test_*"))):
            model = onnx.load(os.path.join(directory, "model.onnx"))
            yield Case(os.path.basename(directory), kind, model, lambda d=directory, m=model: _read_sets(d, m))


def light_cases() -> Iterator[Case]:
    from onnx.backend.test.runner import Runner

    for path in sorted(glob.glob(os.path.join(DATA, "light", "light_*.onnx"))):
        model = onnx.load(path)
        constants = {i.name for i in model.graph.initializer}
        inputs = [Runner.generate_dummy_data(i) for i in model.graph.input if i.name not in constants]
        expected = [_read(path[: -len(".onnx")] + "_output_0.pb")]
        name = "test_" + os.path.basename(path)[len("light_") : -len(".onnx")]
        yield Case(name, "light", model, lambda i=inputs, e=expected: [(i, e)])


def _read_sets(directory: str, model: onnx.ModelProto) -> list[DataSet]:
    constants = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in constants]
    sets = []
    for folder in sorted(glob.glob(os.path.join(directory, "test_data_set_*"))):
        inputs = [_read_proto(p) for p in sorted(glob.glob(os.path.join(folder, "input_*.pb")), key=_index)]
        if all(name in names for name, _ in inputs) and len({n for n, _ in inputs}) == len(inputs):
            inputs.sort(key=lambda item: names.index(item[0]))
        outputs = [_read(p) for p in sorted(glob.glob(os.path.join(folder, "output_*.pb")), key=_index)]
        sets.append(([array for _, array in inputs], outputs))
    return sets


def _index(path: str) -> int:
    return int(path.rsplit("_", 1)[1].split(".")[0])


def _read_proto(path: str) -> tuple[str, np.ndarray]:
    tensor = onnx.TensorProto()
    with open(path, "rb") as file:
        tensor.ParseFromString(file.read())
    return tensor.name, numpy_helper.to_array(tensor)


def _read(path: str) -> np.ndarray:
    return _read_proto(path)[1]


def _array(value) -> np.ndarray:
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else value

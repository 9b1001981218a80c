"""FlexSpIM end to end, as a user runs it: NIR files written by snnTorch and Sinabs compile, verify and evaluate.

The references are independent of the simulator: each framework's own spike counts (tests/e2e/data/nir/reference.npz,
written by export_nir_models.py), onnxruntime's Conv/Gemm on every timestep's spike maps, pimc's interpreter of the
integer snn IR, a direct count of the SOPs the input events cause, and the HS-min footprints of domain.md §5.6.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest

from pimc.cli import main
from pimc.frontend.nir import SnnOptions, import_nir
from pimc.interp.interpreter import run_timesteps
from pimc.targets import load_config
from pimc.targets.flexspim.driver import compile_nir, float_outputs, verify_references
from pimc.targets.flexspim.reference import accumulation_mismatches
from pimc.targets.flexspim.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "e2e" / "data" / "nir"
REFERENCE = str(DATA / "reference.npz")
DIGITS = str(ROOT / "samples" / "spiking_digits.nir")
DIGITS_TEST = str(ROOT / "samples" / "spiking_digits_test.npz")
DIGITS_CALIB = str(ROOT / "samples" / "spiking_digits_calib.npz")
FRAMEWORKS = ["snntorch_scnn", "sinabs_scnn"]


def pimc(capsys, *argv: str) -> tuple[int, str, str]:
    """`pimc argv...` in this process: exit status, stdout, stderr."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return {name: data[name] for name in data.files}


@pytest.mark.parametrize("name", FRAMEWORKS + ["snntorch_lif"])
def test_imported_float_network_computes_what_the_framework_computed(name, reference):
    """pimc's float interpretation of the NIR file gives the exporting framework's own output spike counts, one
    sample at a time and all samples in one batch (as `pimc eval` runs it)."""
    model = str(DATA / f"{name}.nir")
    module = import_nir(model, SnnOptions())
    one_by_one = np.stack([run_timesteps(module, sample[:, None].astype(np.float32)) for sample in reference["x"]])
    np.testing.assert_array_equal(one_by_one.reshape(reference[name].shape), reference[name])
    np.testing.assert_array_equal(float_outputs(model, load_config("flexspim"), reference["x"]), reference[name])
    assert reference[name].sum() > 0


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_framework_export_verifies_bit_exact(name, capsys):
    """`pimc verify`: accumulation == onnxruntime for every layer and timestep, simulator == snn interpreter for
    every spike, and the spike agreement with the float NIR network reported per layer."""
    status, out, err = pimc(capsys, "verify", DATA / f"{name}.nir", "--target", "flexspim", "--inputs", REFERENCE,
                            "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["exact"]
    accumulation = result["accumulation_vs_onnxruntime"]
    assert accumulation and all(a == {"timesteps": 4 * 16, "mismatched": 0} for a in accumulation.values())
    interp = result["simulator_vs_interpreter"]
    assert interp["samples"] == 4 and interp["outputs_mismatched"] == 0
    assert set(interp["timesteps_mismatched"].values()) == {0}
    agreement = result["vs_float_nir"]["spike_agreement"]
    assert list(agreement) == list(interp["timesteps_mismatched"])  # every spiking layer
    assert all(0.9 <= a <= 1.0 for a in agreement.values())
    assert 0.0 <= result["vs_float_nir"]["output_count_agreement"] <= 1.0  # both networks end in a spiking layer


@pytest.mark.parametrize("spec", ["flexspim{overflow=wrap reset=zero compare=ge vmem-bits=8 weight-bits=4}",
                                  "flexspim{array-rows=4 macros=19 stationary=ws}"])
def test_options_and_multi_macro_layers_stay_exact(spec, capsys, tmp_path):
    """Narrow wrapping membranes, reset to zero, v >= theta; layers split over several macros: still exact."""
    status, out, err = pimc(capsys, "verify", DATA / "sinabs_scnn.nir", "--target", spec, "--inputs", REFERENCE)
    assert status == 0, err
    assert out.splitlines()[-1] == "ok"
    status, out, err = pimc(capsys, "compile", DATA / "sinabs_scnn.nir", "--target", spec, "--calib", REFERENCE,
                            "-o", tmp_path / "out")
    assert status == 0, err
    program = json.loads((tmp_path / "out" / "program.json").read_text())
    if "macros=19" in spec:
        assert max(len(set(layer["macros"])) for layer in program["layers"]) > 1
        assert len({i["macro"] for i in program["instructions"]}) > 1
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        used = {}
        for index, (layer, costs) in enumerate(zip(program["layers"], report["layers"])):
            channels = layer["weight_shape"][0]
            bounds = [c for lo_hi in layer["channels"] for c in lo_hi]
            assert bounds[0] == 0 and bounds[-1] == channels and bounds[1:-1:2] == bounds[2:-1:2]  # a partition
            for macro, (lo, hi) in zip(layer["macros"], layer["channels"]):
                used[macro] = used.get(macro, 0) + (hi - lo) * costs["cells"] // channels
                assert {"macro": macro, "op": "acc", "layer": index, "ch": [lo, hi]} in program["instructions"]
        assert max(used.values()) <= 4 * 256  # every macro's share fits its bit cells
    else:
        assert {i["mode"] for i in program["instructions"] if i["op"] == "reset"} == {"zero"}
        assert {i["compare"] for i in program["instructions"] if i["op"] == "fire"} == {"ge"}


def test_per_layer_bit_widths(capsys, tmp_path):
    """weight-bits and vmem-bits per layer reach the program, stay exact, and scale each layer's energy per SOP in
    the array by b_W x b_V."""
    spec = "flexspim{weight-bits=8,4,6 vmem-bits=16,12,10}"
    status, out, err = pimc(capsys, "verify", DATA / "sinabs_scnn.nir", "--target", spec, "--inputs", REFERENCE)
    assert status == 0 and out.splitlines()[-1] == "ok", err
    status, out, err = pimc(capsys, "compile", DATA / "sinabs_scnn.nir", "--target", spec, "--calib", REFERENCE,
                            "-o", tmp_path / "out", "--json")
    assert status == 0, err
    program = json.loads((tmp_path / "out" / "program.json").read_text())
    assert [(layer["weight_bits"], layer["vmem_bits"]) for layer in program["layers"]] == [(8, 16), (4, 12), (6, 10)]
    assert [i["bits"] for i in program["instructions"] if i["op"] == "clamp"] == [16, 12, 10]
    weights = np.load(tmp_path / "out" / "arrays.npz")
    largest = [int(np.abs(weights[f"weight_{i}"]).max()) for i in range(3)]
    assert 31 < largest[0] <= 127 and largest[1] <= 7 and 7 < largest[2] <= 31  # each layer's own range
    for layer, bits in zip(json.loads(out)["layers"], (8 * 16, 4 * 12, 6 * 10)):
        assert layer["energy_breakdown_pj"]["array"] / layer["sops"] == pytest.approx(50.4e-3 * bits)


def test_verify_catches_a_wrong_program(reference):
    """The references can fail: a threshold off by one in one fire instruction breaks simulator == interpreter,
    and one membrane update off by one breaks the accumulation check against onnxruntime."""
    compiled = compile_nir(str(DATA / "sinabs_scnn.nir"), load_config("flexspim"), REFERENCE, 4)
    x = reference["x"]
    fire = next(i for i in compiled.program.instructions if i.op == "fire")
    fire.args["threshold"] -= 1
    result = verify_references(compiled, x)
    assert sum(result["simulator_vs_interpreter"]["timesteps_mismatched"].values()) > 0
    assert not any(a["mismatched"] for a in result["accumulation_vs_onnxruntime"].values())
    sims = []
    for sample in x:
        sims.append(Simulator(compiled.program, record=True))
        sims[-1].run(sample)
    sims[2].trace[1]["delta"][5].reshape(-1)[3] += 1
    mismatches = accumulation_mismatches(compiled.program, x, sims)
    assert mismatches["n3"] == {"timesteps": 64, "mismatched": 1}
    assert mismatches["n0"]["mismatched"] == mismatches["n6"]["mismatched"] == 0


def test_report_per_layer_fields_and_sops(capsys, tmp_path, reference):
    """report.json: per-layer cost fields whose totals add up, 5.7-7.2 pJ per SOP in the array at 8b/16b, the
    weight-stationary-only mapping beside the hybrid one, and the first layer's SOPs counted from its events."""
    status, out, err = pimc(capsys, "compile", DATA / "sinabs_scnn.nir", "--target", "flexspim", "--calib",
                            REFERENCE, "-o", tmp_path / "out")
    assert status == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    layers = report["layers"]
    assert [layer["name"] for layer in layers] == ["n0", "n3", "n6"]
    for layer in layers:
        assert {"kind", "stationary", "macros", "events", "sops", "spikes", "row_ops", "streamed_bits", "energy_pj",
                "energy_breakdown_pj", "latency_ns", "operand_shape", "weight_footprint_bits",
                "vmem_footprint_bits"} <= set(layer)
        assert layer["energy_pj"] == pytest.approx(sum(layer["energy_breakdown_pj"].values()))
        assert layer["sops"] > 0 and layer["latency_ns"] > 0
    totals = report["totals"]
    assert totals["sops"] == pytest.approx(sum(layer["sops"] for layer in layers))
    assert 5.7 <= totals["array_pj_per_sop"] <= 7.2
    assert totals["pj_per_sop"] > totals["array_pj_per_sop"]  # standby and transfers come on top
    assert report["ws_only"]["energy_pj"] > 0 and report["hybrid_vs_ws"]["paper"] == {"energy_change": -0.45,
                                                                                      "latency_change": -0.52}
    assert [q["layer"] for q in report["quantization"]] == ["n0", "n3", "n6"]
    assert all(0.9 <= q["spike_agreement"] <= 1.0 for q in report["quantization"])
    # conv 4x1x3x3, pad 1, stride 1 on 8x8: each input event reaches one output per tap inside the map, per channel
    x = reference["x"].astype(np.int64)
    padded = np.pad(x, [(0, 0), (0, 0), (0, 0), (1, 1), (1, 1)])
    reach = sum(padded[..., i:i + 8, j:j + 8] for i in range(3) for j in range(3))  # taps seen by each output
    assert layers[0]["sops"] == pytest.approx(4 * reach.sum() / len(x))
    assert layers[0]["events"] == pytest.approx(x.sum() / len(x))
    assert "hybrid" in out and "(paper: -45%, -52%)" in out


def nmnist_scnn(path: Path) -> None:
    """The N-MNIST-style SCNN of domain.md §5.6, seeded: Conv 2->16 5x5 s2, Conv 16->16 3x3, SumPool 2,
    Conv 16->8 3x3, SumPool 2, Affine 128->256, Affine 256->10, IF after each (34x34 input, pad 1)."""
    rng = np.random.default_rng(0)
    nodes, edges, shape = {"input": nir.Input(np.array([2, 34, 34]))}, [], None

    def add(name, node):
        edges.append((list(nodes)[-1], name))
        nodes[name] = node

    def conv(name, cout, cin, k, stride, size):
        weight = (rng.standard_normal((cout, cin, k, k)) * 2 / np.sqrt(cin * k * k)).astype(np.float32)
        add(name, nir.Conv2d(input_shape=None, weight=weight, stride=stride, padding=1, dilation=1, groups=1,
                             bias=np.zeros(cout, np.float32)))
        add(name + "_if", nir.IF(r=np.ones((cout, size, size)), v_threshold=np.ones((cout, size, size))))

    conv("conv1", 16, 2, 5, 2, 16)
    conv("conv2", 16, 16, 3, 1, 16)
    add("pool1", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])))
    conv("conv3", 8, 16, 3, 1, 8)
    add("pool2", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])))
    add("flatten", nir.Flatten(input_type={"input": np.array([8, 4, 4])}, start_dim=0))
    for name, (out, features) in (("fc1", (256, 128)), ("fc2", (10, 256))):
        weight = (rng.standard_normal((out, features)) * 2 / np.sqrt(features)).astype(np.float32)
        add(name, nir.Affine(weight=weight, bias=np.zeros(out, np.float32)))
        add(name + "_if", nir.IF(r=np.ones(out), v_threshold=np.ones(out)))
    add("output", nir.Output(np.array([10])))
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    graph.infer_types()
    nir.write(str(path), graph)


def test_hs_min_reproduces_the_worked_example(capsys, tmp_path):
    """HS-min on domain.md §5.6's SCNN at 8b/16b: the footprints and choices it lists; each fits one macro;
    weight-stationary only or a per-layer override change exactly what they say."""
    model = tmp_path / "nmnist.nir"
    nmnist_scnn(model)
    events = tmp_path / "events.npz"
    np.savez(events, x=(np.random.default_rng(1).random((2, 4, 2, 34, 34)) < 0.1).astype(np.uint8))
    common = ["--calib", events, "--calib-samples", "2", "--json"]
    status, out, err = pimc(capsys, "compile", model, "--target", "flexspim{macros=1}", *common, "-o", tmp_path / "a")
    assert status == 0, err
    layers = json.loads(out)["layers"]
    assert [(layer["name"], layer["weight_footprint_bits"], layer["vmem_footprint_bits"], layer["stationary"])
            for layer in layers] == [("conv1", 6400, 65536, "ws"), ("conv2", 18432, 65536, "ws"),
                                     ("conv3", 9216, 8192, "os"), ("fc1", 262144, 4096, "os"),
                                     ("fc2", 20480, 160, "os")]
    assert {m for layer in layers for m in layer["macros"]} == {0}
    status, out, err = pimc(capsys, "compile", model, "--target", "flexspim{macros=1 layer-stationary=2,0,1,0,0}",
                            *common, "-o", tmp_path / "b")
    assert status == 0, err
    assert [layer["stationary"] for layer in json.loads(out)["layers"]] == ["os", "ws", "ws", "os", "os"]
    status, out, err = pimc(capsys, "compile", model, "--target", "flexspim{macros=1 stationary=ws}", *common,
                            "-o", tmp_path / "c")
    assert status == 1 and "does not fit" in err and "macros=" in err  # fc1's 262,144 weight bits need 3 macros
    assert not (tmp_path / "c").exists()


def test_two_compiles_are_byte_identical(capsys, tmp_path):
    for out in ("a", "b"):
        status, _, err = pimc(capsys, "compile", DATA / "snntorch_scnn.nir", "--target", "flexspim", "--calib",
                              REFERENCE, "-o", tmp_path / out)
        assert status == 0, err
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {"program.txt", "program.json", "arrays.npz", "report.json"} <= {str(f) for f in files}
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_program_size_grows_with_layers_not_events(capsys, tmp_path):
    """The same network on 64 or 4 timesteps of denser events, and on 1 or 2 macros per layer: the streams
    depend on layers and macros only."""
    long, short = tmp_path / "long.npz", tmp_path / "short.npz"
    rng = np.random.default_rng(3)
    np.savez(long, x=(rng.random((2, 64, 1, 8, 8)) < 0.1).astype(np.uint8))
    np.savez(short, x=(rng.random((2, 4, 1, 8, 8)) < 0.5).astype(np.uint8))
    ops = {}
    for label, spec, events in (("long", "flexspim", long), ("short", "flexspim", short),
                                ("split", "flexspim{array-rows=1 macros=8}", short)):
        status, _, err = pimc(capsys, "compile", DATA / "snntorch_scnn.nir", "--target", spec, "--calib", events,
                              "-o", tmp_path / label)
        assert status == 0, err
        program = json.loads((tmp_path / label / "program.json").read_text())
        ops[label] = [(i["macro"], i["op"], i["layer"]) for i in program["instructions"]]
    assert ops["long"] == ops["short"]
    assert len(ops["split"]) > len(ops["short"])  # more macros, more streams


def test_run_replays_the_compiled_program(capsys, tmp_path, reference):
    """`pimc run` on the compiled directory gives the framework's spike counts' shape and the verify'd outputs."""
    status, _, err = pimc(capsys, "compile", DATA / "snntorch_scnn.nir", "--target", "flexspim", "--calib",
                          REFERENCE, "-o", tmp_path / "out")
    assert status == 0, err
    status, _, err = pimc(capsys, "run", tmp_path / "out", "--input", REFERENCE, "-o", tmp_path / "y.npy")
    assert status == 0, err
    y = np.load(tmp_path / "y.npy")
    assert y.shape == reference["snntorch_scnn"].shape and y.dtype == np.int64
    compiled = compile_nir(str(DATA / "snntorch_scnn.nir"), load_config("flexspim"), REFERENCE, 16)
    result = verify_references(compiled, reference["x"])
    assert result["simulator_vs_interpreter"]["outputs_mismatched"] == 0


def test_spiking_digits_within_a_point_of_the_float_network(capsys):
    """The sample at 8b/16b, calibrated on training digits: on the 360 held-out digits, simulated top-1 within a
    point of the float NIR network's."""
    status, out, err = pimc(capsys, "eval", DIGITS, "--target", "flexspim", "--data", DIGITS_TEST, "--calib",
                            DIGITS_CALIB, "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["samples"] == 360 and result["calibration"] == DIGITS_CALIB
    assert result["float_top1"] > 0.9
    assert abs(result["simulated_top1"] - result["float_top1"]) <= 0.01 + 1e-9


def test_spiking_digits_report(capsys, tmp_path):
    """The sample's compile report at 8b/16b: energy per SOP in the array within the paper's 5.7-7.2 pJ, each
    layer's spike agreement, and the hybrid mapping beside weight-stationary only, with the paper's -45% / -52%."""
    status, out, err = pimc(capsys, "compile", DIGITS, "--target", "flexspim", "--calib", DIGITS_CALIB,
                            "-o", tmp_path / "out")
    assert status == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert 5.7 <= report["totals"]["array_pj_per_sop"] <= 7.2
    assert [(q["layer"], q["weight_bits"], q["vmem_bits"]) for q in report["quantization"]] == [
        ("n0", 8, 16), ("n3", 8, 16), ("n7", 8, 16)]
    assert all(0.9 <= q["spike_agreement"] <= 1.0 for q in report["quantization"])
    change = report["hybrid_vs_ws"]
    assert change["energy_change"] == pytest.approx(report["totals"]["energy_pj"] / report["ws_only"]["energy_pj"] - 1)
    assert change["latency_change"] == pytest.approx(
        report["totals"]["latency_ns"] / report["ws_only"]["latency_ns"] - 1)
    summary = f"hybrid {change['energy_change']:+.1%} energy, {change['latency_change']:+.1%} latency"
    assert summary + " (paper: -45%, -52%)" in out


def test_dvs_gesture_sized_scnn(capsys, tmp_path):
    """samples/zoo.py's DVS128-Gesture-sized SCNN (6 convs and 3 FCs on 2 x 128 x 128 events, seeded): events reach
    every layer, and on 3 macros, where weight-stationary only must reload the weights it cannot keep, the hybrid
    mapping costs less energy."""
    spec = importlib.util.spec_from_file_location("zoo", ROOT / "samples" / "zoo.py")
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)
    zoo.dvs_gesture_scnn(str(tmp_path / "dvs.nir"), events=str(tmp_path / "events.npz"))
    status, out, err = pimc(capsys, "compile", tmp_path / "dvs.nir", "--target", "flexspim{macros=3}", "--calib",
                            tmp_path / "events.npz", "-o", tmp_path / "out", "--json")
    assert status == 0, err
    report = json.loads(out)
    assert [layer["kind"] for layer in report["layers"]] == ["conv"] * 6 + ["fc"] * 3
    assert json.loads((tmp_path / "out" / "program.json").read_text())["input_shape"] == [2, 128, 128]
    assert all(layer["events"] > 0 for layer in report["layers"])
    assert report["totals"]["macros_used"] == 3 and report["ws_only"]["resident_layers"] < 9
    assert report["hybrid_vs_ws"]["energy_change"] < 0
    assert {layer["stationary"] for layer in report["layers"]} == {"ws", "os"}


def unsupported(path: Path, kind: str) -> None:
    """A chain Input - Linear - `kind` - Output written with nir."""
    weight = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    node = {"LI": lambda: nir.LI(tau=np.ones(8), r=np.ones(8), v_leak=np.zeros(8)),
            "Threshold": lambda: nir.Threshold(threshold=np.ones(8)),
            "Scale": lambda: nir.Scale(scale=np.ones(8)),
            "Delay": lambda: nir.Delay(delay=np.ones(8))}[kind]()
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([16])), "fc": nir.Linear(weight=weight), "odd": node,
                                "output": nir.Output(np.array([8]))},
                         edges=[("input", "fc"), ("fc", "odd"), ("odd", "output")])
    nir.write(str(path), graph)


@pytest.mark.parametrize("kind", ["LI", "Threshold", "Scale", "Delay"])
def test_unsupported_node_types_are_named(kind, capsys, tmp_path):
    model = tmp_path / f"{kind}.nir"
    unsupported(model, kind)
    status, out, err = pimc(capsys, "compile", model, "--target", "flexspim", "-o", tmp_path / "out")
    assert status == 1 and not out
    assert err.count("\n") == 1 and f"NIR node type '{kind}' is not supported" in err and 'node "odd"' in err
    assert not (tmp_path / "out").exists()


def test_a_partial_flatten_is_named(capsys, tmp_path):
    """NIR shapes have no batch dimension, so Flatten's start_dim=1 keeps a sample's channels apart."""
    model = tmp_path / "partial.nir"
    nir.write(str(model), nir.NIRGraph(
        nodes={"input": nir.Input(np.array([8, 4, 4])), "flat": nir.Flatten(input_type={"input": np.array([8, 4, 4])}),
               "output": nir.Output(np.array([8, 16]))},
        edges=[("input", "flat"), ("flat", "output")]))
    status, out, err = pimc(capsys, "compile", model, "--target", "flexspim", "-o", tmp_path / "out")
    assert status == 1 and not out and err.count("\n") == 1
    assert "Flatten over dims 1..-1 of [8, 4, 4] is not supported" in err and 'node "flat"' in err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """A compiled FlexSpIM program directory, and a copy whose arrays.npz is cut short."""
    root = tmp_path_factory.mktemp("program")
    assert main(["compile", str(DATA / "snntorch_scnn.nir"), "--target", "flexspim", "--calib", REFERENCE,
                 "-o", str(root / "good")]) == 0
    (root / "cut").mkdir()
    for name in ("program.json", "program.txt", "report.json"):
        (root / "cut" / name).write_bytes((root / "good" / name).read_bytes())
    (root / "cut" / "arrays.npz").write_bytes((root / "good" / "arrays.npz").read_bytes()[:100])
    return root


@pytest.mark.parametrize("argv, status, message", [
    (["eval", DIGITS, "--target", "flexspim", "--data", DIGITS_TEST, "--limit", "0"], 2, "--limit 0"),
    (["eval", DIGITS, "--target", "flexspim", "--data", DIGITS_CALIB, "--calib-samples", "64"], 2,
     "give 1 to 63, or a --calib file"),
    (["run", "{good}", "--input", ROOT / "samples" / "digits_test.npz"], 1,
     "x is 360x1x8x8, but the network takes N x T x 1x8x8 events"),
    (["run", "{good}", "--input", REFERENCE, "-o", "{root}/y.npz"], 1, "name an .npy file"),
    (["run", "{cut}", "--input", REFERENCE], 1, "not a readable FlexSpIM program"),
])
def test_command_errors(argv, status, message, program, capsys):
    argv = [str(a).format(good=program / "good", cut=program / "cut", root=program) for a in argv]
    got, out, err = pimc(capsys, *argv)
    assert got == status and not out
    assert err.count("\n") == 1 and message in err
    assert not (program / "y.npz").exists()


@pytest.mark.parametrize("model, message", [(DATA / "cubalif.nir", "NIR node type 'CubaLIF' is not supported"),
                                            (DATA / "reference.npz", "not a NIR file")])
def test_bad_nir_files_as_a_user_sees_them(model, message, tmp_path):
    """A real `pimc` process: one line on stderr, exit 1, no traceback, no output directory."""
    path = tmp_path / "model.nir"
    path.write_bytes(model.read_bytes())  # an .npz renamed .nir is not HDF5
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "pimc", "compile", str(path), "--target", "flexspim", "-o", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()

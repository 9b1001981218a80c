"""Train a small spiking CNN on the digits with snnTorch and export it to NIR.

Data: the 8x8 digits and the 360-digit held-out split of ``train_digits.py`` (its ``load_split``), rate
coded into T = 16 binary frames: pixel value p in [0, 1] spikes in each frame with probability p (numpy,
seeded; training draws fresh frames every epoch, the held-out frames are drawn once and shipped).

Network (snnTorch, one call per timestep; ``Leaky(beta=1)`` is an integrate-and-fire neuron, threshold 1,
reset by subtraction, atan surrogate gradient):

    Conv2d(1, 8, 3, pad 1) - IF - AvgPool2d(2) - Conv2d(8, 16, 3, pad 1) - IF - AvgPool2d(2) - Flatten - Linear(64, 10)

The convs have no bias (the network is purely event driven). The Linear layer is a readout: its outputs summed
over the T frames are the logits (cross-entropy).

Usage::

    python samples/train_spiking_digits.py --out samples/

writes ``spiking_digits.nir``, ``spiking_digits_test.npz`` (``x``: uint8 360 x 16 x 1 x 8 x 8 spike frames,
``y``: int64 labels) and ``spiking_digits_calib.npz`` (the first 64 training digits, coded the same way, for
quantization: ``pimc eval ... --calib``) and prints snnTorch's top-1 on the held-out frames. Seeded and
single-threaded with deterministic algorithms: rerunning gives the same files (same torch / snnTorch / numpy /
scikit-learn versions).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import nir
import nirtorch
import numpy as np
import snntorch
import snntorch.export_nir
import snntorch.utils
import torch
from snntorch import surrogate
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_digits import arguments, load_split, seed_everything  # noqa: E402

TIMESTEPS = 16
EPOCHS = 40


def encode(x: np.ndarray, rng: np.random.Generator, steps: int = TIMESTEPS) -> np.ndarray:
    """Rate coding: N x 1 x 8 x 8 in [0, 1] -> N x steps x 1 x 8 x 8 binary frames (uint8)."""
    return (rng.random((len(x), steps, *x.shape[1:])) < x[:, None]).astype(np.uint8)


def network() -> nn.Sequential:
    def fire() -> nn.Module:
        return snntorch.Leaky(beta=1.0, threshold=1.0, init_hidden=True, reset_mechanism="subtract",
                              spike_grad=surrogate.atan())

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), fire(), nn.AvgPool2d((2, 2)),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), fire(), nn.AvgPool2d((2, 2)),
        nn.Flatten(), nn.Linear(64, 10),
    )


def logits(net: nn.Sequential, frames: torch.Tensor) -> torch.Tensor:
    """The readout summed over time, for frames N x T x 1 x 8 x 8."""
    snntorch.utils.reset(net)
    return sum(net(frames[:, t]) for t in range(frames.shape[1]))


def train(net: nn.Sequential, x: np.ndarray, y: np.ndarray, seed: int, batch_size: int = 64) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
    labels = torch.from_numpy(y)
    for _ in range(EPOCHS):
        frames = torch.from_numpy(encode(x, rng)).float()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(logits(net, frames[idx]), labels[idx]).backward()
            opt.step()
        sched.step()
    return net.eval()


def export(net: nn.Sequential, path: Path) -> None:
    """snnTorch's NIR export (`export_to_nir`, without its final type inference), with two fixes for nir 1.0.4:
    snnTorch 1.0.0 passes `v_reset` to nir.LIF, which nir releases before 1.0.5 lack (it is dropped: 0 is NIR's
    default), and a Leaky with scalar parameters gives a shapeless LIF node, whose parameters are broadcast to the
    layer's shape here so that nir can infer the graph's types. Edges are sorted, so that the file's bytes do not
    depend on Python's hash seed."""
    shapes = {}

    def record(name: str):
        def hook(module, inputs, output) -> None:
            shapes[name] = tuple(output.shape[1:])
        return hook

    hooks = [m.register_forward_hook(record(name)) for name, m in net.named_children()]
    snntorch.utils.reset(net)
    net(torch.zeros(1, 1, 8, 8))
    for hook in hooks:
        hook.remove()
    if "v_reset" not in nir.LIF.__dataclass_fields__:
        lif = lambda v_reset=None, **params: nir.LIF(**params)  # noqa: E731
        snntorch.export_nir.nir = types.SimpleNamespace(**{**vars(nir), "LIF": lif})
    with np.errstate(divide="ignore"):  # beta = 1: tau = dt / (1 - beta) = inf
        graph = nirtorch.extract_nir_graph(net, snntorch.export_nir._extract_snntorch_module, torch.zeros(1, 1, 8, 8),
                                           model_name="snntorch", ignore_dims=[0])
    snntorch.export_nir.nir = nir
    for name, node in graph.nodes.items():
        if isinstance(node, nir.LIF):
            for key in ("tau", "r", "v_leak", "v_threshold"):
                setattr(node, key, np.broadcast_to(np.asarray(getattr(node, key)), shapes[name]).copy())
            node.__post_init__()
    graph.infer_types()
    graph.edges = sorted(graph.edges)  # nirtorch lists them in set order, which varies between runs
    nir.write(str(path), graph)


def write_calibration(x_train: np.ndarray, y_train: np.ndarray, seed: int, path: Path, count: int = 64) -> None:
    """The first `count` training digits as events (their own seeded draw): calibration data that is not test data."""
    np.savez_compressed(path, x=encode(x_train[:count], np.random.default_rng(seed + 2)), y=y_train[:count])


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv, __doc__)
    x_train, x_test, y_train, y_test = load_split(args.seed)
    seed_everything(args.seed)
    net = train(network(), x_train, y_train, args.seed)
    frames = encode(x_test, np.random.default_rng(args.seed + 1))
    np.savez_compressed(args.out / "spiking_digits_test.npz", x=frames, y=y_test)
    write_calibration(x_train, y_train, args.seed, args.out / "spiking_digits_calib.npz")
    with torch.no_grad():
        predicted = logits(net, torch.from_numpy(frames).float()).argmax(1).numpy()
    export(net, args.out / "spiking_digits.nir")
    print(f"snnTorch top-1 {np.mean(predicted == y_test):.2%} ({int(np.sum(predicted == y_test))}/{len(y_test)}) "
          f"on the held-out digits, T = {TIMESTEPS}, {frames.mean():.1%} of input pixels spike per frame "
          f"-> {args.out / 'spiking_digits.nir'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write small NIR files with two SNN frameworks, snnTorch and Sinabs, and what each framework computes on them.

    python tests/e2e/data/export_nir_models.py [--out tests/e2e/data/nir]

Writes, each network seeded and untrained (weights scaled up so that every layer spikes):
* snntorch_scnn.nir: Conv2d(1, 4, 3, pad 1) - Leaky(beta=1) - AvgPool2d(2) - Flatten - Linear(64, 10) - Leaky(beta=1),
  snnTorch's export (samples/train_spiking_digits.py `export`);
* sinabs_scnn.nir: Conv2d(1, 4, 3, pad 1) - IAF - SumPool2d(2) - Conv2d(4, 8, 3, stride 2, pad 1) - IAF - Flatten -
  Linear(32, 10) - IAF, `sinabs.to_nir`; the IAFs fire once per timestep at most (SingleSpike: v >= threshold);
* snntorch_lif.nir: the snnTorch network with Leaky(beta=0.9), which FlexSpIM cannot run (it has no leak);
* recurrent.nir and cubalif.nir: a feedback edge and a CubaLIF neuron, written with nir (pimc refuses both);
* reference.npz: x (4 x 16 x 1 x 8 x 8 seeded events) and each framework's output spike counts on them
  (snntorch_scnn, sinabs_scnn, snntorch_lif).
Needs the `train` extra (torch, snntorch, sinabs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nir
import numpy as np
import sinabs
import sinabs.activation
import sinabs.layers as sl
import snntorch
import snntorch.utils
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "samples"))
from train_spiking_digits import export as export_snntorch  # noqa: E402


def snntorch_net(beta: float) -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), snntorch.Leaky(beta=beta, init_hidden=True),
                        nn.AvgPool2d((2, 2)), nn.Flatten(), nn.Linear(64, 10),
                        snntorch.Leaky(beta=beta, init_hidden=True))
    with torch.no_grad():
        for layer in (net[0], net[4]):
            layer.weight *= 4.0
    return net.eval()


def snntorch_counts(net: nn.Sequential, x: np.ndarray) -> np.ndarray:
    snntorch.utils.reset(net)
    frames = torch.from_numpy(x).float()
    with torch.no_grad():
        return sum(net(frames[:, t]) for t in range(frames.shape[1])).numpy()


def sinabs_net(batch: int) -> nn.Sequential:
    torch.manual_seed(1)
    fire = lambda: sl.IAFSqueeze(batch_size=batch, spike_fn=sinabs.activation.SingleSpike)  # noqa: E731
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), fire(), sl.SumPool2d(2),
                        nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False), fire(), nn.Flatten(),
                        nn.Linear(32, 10, bias=False), fire())
    with torch.no_grad():
        for layer in (net[0], net[3], net[6]):
            layer.weight *= 4.0
    return net.eval()


def sinabs_counts(x: np.ndarray) -> np.ndarray:
    """Sinabs runs (batch x time) flattened in the batch dimension, batch-major."""
    net = sinabs_net(len(x))
    frames = torch.from_numpy(x).float().reshape(-1, *x.shape[2:])
    with torch.no_grad():
        return net(frames).reshape(len(x), x.shape[1], -1).sum(1).numpy()


def export_sinabs(path: Path) -> None:
    """sinabs.to_nir, then numpy arrays and nir's type inference, which nir.write needs (nir 1.0.4)."""
    graph = sinabs.to_nir(sinabs_net(1), torch.zeros(1, 1, 8, 8))
    for node in graph.nodes.values():
        for key, value in list(vars(node).items()):
            if isinstance(value, torch.Tensor):
                setattr(node, key, value.detach().numpy())
    graph.infer_types()
    graph.edges = sorted(graph.edges)
    nir.write(str(path), graph)


def export_by_hand(out: Path) -> None:
    """Graphs pimc must refuse, written with nir itself: a feedback edge (the flat form of snnTorch's RLeaky: LIF ->
    W_rec -> LIF) and a current-based neuron (CubaLIF, snnTorch's Synaptic)."""
    rng = np.random.default_rng(2)
    lif = nir.LIF(tau=np.full(8, 1e-3), r=np.full(8, 10.0), v_leak=np.zeros(8), v_threshold=np.ones(8))
    nir.write(str(out / "recurrent.nir"), nir.NIRGraph(nodes={
        "input": nir.Input(np.array([64])), "fc": nir.Linear(weight=rng.standard_normal((8, 64))), "lif": lif,
        "w_rec": nir.Linear(weight=rng.standard_normal((8, 8))), "output": nir.Output(np.array([8]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]))
    cuba = nir.CubaLIF(tau_syn=np.full(8, 1e-3), tau_mem=np.full(8, 1e-3), r=np.full(8, 10.0), v_leak=np.zeros(8),
                       v_threshold=np.ones(8))
    nir.write(str(out / "cubalif.nir"), nir.NIRGraph(nodes={
        "input": nir.Input(np.array([64])), "fc": nir.Linear(weight=rng.standard_normal((8, 64))), "syn": cuba,
        "output": nir.Output(np.array([8]))}, edges=[("input", "fc"), ("fc", "syn"), ("syn", "output")]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "nir")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    x = (np.random.default_rng(0).random((4, 16, 1, 8, 8)) < 0.3).astype(np.uint8)
    counts = {}
    for name, beta in (("snntorch_scnn", 1.0), ("snntorch_lif", 0.9)):
        net = snntorch_net(beta)
        export_snntorch(net, args.out / f"{name}.nir")
        counts[name] = snntorch_counts(net, x)
    export_sinabs(args.out / "sinabs_scnn.nir")
    counts["sinabs_scnn"] = sinabs_counts(x)
    export_by_hand(args.out)
    np.savez_compressed(args.out / "reference.npz", x=x, **counts)
    for name, c in counts.items():
        print(f"{name}: output spikes per sample {c.sum(1).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

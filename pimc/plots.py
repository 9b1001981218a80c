"""Figures for a sweep and for one compiled program, as SVG and PNG that are the same bytes every time.

    write_figure(figure, "out/accuracy_energy")     # out/accuracy_energy.svg and .png

Figures are drawn with matplotlib's Agg backend, with no dates or software versions written into
the files and a fixed SVG id salt, so rerunning a sweep or a report rewrites identical files.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from pimc.sweep import pareto  # noqa: E402

STYLE = {"svg.hashsalt": "pimc", "svg.fonttype": "path", "font.size": 9, "figure.dpi": 100}


def write_figure(figure, stem: str) -> list[str]:
    """Save `figure` as STEM.svg and STEM.png and close it; the two paths."""
    paths = [f"{stem}.svg", f"{stem}.png"]
    with plt.rc_context(STYLE):  # the SVG salt is read when saving
        figure.savefig(paths[0], metadata={"Date": None, "Creator": None})
        figure.savefig(paths[1], metadata={"Software": None})
    plt.close(figure)
    return paths


def accuracy_against(rows: list[dict], cost: str, label: str, merit: str = "top1"):
    """Top-1 against a cost, one series per target, with the Pareto front drawn through the points no other beats."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(5.5, 3.8))
        for target in sorted({r["target"] for r in rows}):
            mine = [r for r in rows if r["target"] == target and r.get(cost) is not None and r.get(merit) is not None]
            axes.scatter([r[cost] for r in mine], [100 * r[merit] for r in mine], label=target, s=22)
            for r in mine:
                axes.annotate(_short(r), (r[cost], 100 * r[merit]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        front = pareto(rows, cost, merit)
        axes.plot([r[cost] for r in front], [100 * r[merit] for r in front], color="black", lw=0.8, ls="--",
                  label="Pareto front")
        axes.set_xlabel(label)
        axes.set_ylabel("simulated top-1 (%)")
        axes.margins(x=0.15, y=0.08)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
        figure.tight_layout()
    return figure


def option_against(rows: list[dict], option: str, cost: str, label: str, series: str = "target"):
    """A varied option's values against a cost, one series per value of `series` (a target, say)."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(5.0, 3.4))
        for name in sorted({r[series] for r in rows}):
            mine = sorted((r for r in rows if r[series] == name and r.get(option) is not None
                           and r.get(cost) is not None), key=lambda r: r[option])
            axes.plot([r[option] for r in mine], [r[cost] for r in mine], marker="o", label=name)
        axes.set_xlabel(option)
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
        figure.tight_layout()
    return figure


def layer_energy(layers: list[dict]):
    """Energy per layer, stacked by component (pJ -> nJ)."""
    components = sorted({c for layer in layers for c in layer.get("energy_breakdown_pj", {})})
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(max(5.0, 0.28 * len(layers) + 2), 3.8))
        names = [layer["name"] for layer in layers]
        bottom = [0.0] * len(layers)
        for component in components:
            values = [layer.get("energy_breakdown_pj", {}).get(component, 0.0) / 1e3 for layer in layers]
            axes.bar(range(len(layers)), values, bottom=bottom, label=component)
            bottom = [b + v for b, v in zip(bottom, values)]
        _layer_axis(axes, names, "energy (nJ)")
        axes.legend(fontsize=6, ncol=2)
        figure.tight_layout()
    return figure


def layer_values(layers: list[dict], key: str, label: str):
    """One number per layer as bars (crossbars, ADC conversions per MAC)."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(max(5.0, 0.28 * len(layers) + 2), 3.4))
        axes.bar(range(len(layers)), [layer.get(key) or 0 for layer in layers], color="tab:blue")
        _layer_axis(axes, [layer["name"] for layer in layers], label)
        figure.tight_layout()
    return figure


def _layer_axis(axes, names: list[str], label: str) -> None:
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels(names, rotation=90, fontsize=6)
    axes.set_ylabel(label)
    axes.grid(axis="y", alpha=0.3)


def _short(row: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in row.get("options", {}).items() if k != "noise")  # not the noise spec again

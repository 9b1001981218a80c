"""`pimc report DIR`: figures and a self-contained report.html for a compiled program or a sweep.

    pimc report out/cnn      # DIR/report.json: energy per layer by component, crossbars and converts per MAC per layer
    pimc report sweep/       # DIR/sweep.json: the sweep's table and figures

The page embeds its tables and SVG figures and loads nothing from the network.
"""

from __future__ import annotations

import argparse
import html
import json
import os

from pimc.diagnostics import UsageError, UserError

HELP = "figures and report.html for a compiled program (pimc compile -o DIR) or a sweep (pimc sweep -o DIR)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="a directory pimc compile or pimc sweep wrote")


def run(args: argparse.Namespace) -> int:
    directory = args.directory
    if not os.path.isdir(directory):
        raise UsageError(f"{directory}: no such directory" if not os.path.exists(directory) else
                         f"{directory}: is a file; give the directory pimc compile or pimc sweep wrote")
    program, sweep = (os.path.join(directory, name) for name in ("report.json", "sweep.json"))
    if os.path.exists(program):
        figures, tables = program_report(directory, _read(program))
    elif os.path.exists(sweep):
        figures, tables = sweep_report(directory, _read(sweep))
    else:
        raise UserError(f"{directory}: holds neither report.json (pimc compile) nor sweep.json (pimc sweep)")
    page = os.path.join(directory, "report.html")
    _write_page(page, os.path.basename(os.path.abspath(directory)), tables, figures)
    print(f"pimc report: {page} with {len(figures)} figures")
    return 0


def _read(path: str):
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot read it as JSON ({error})") from None


def program_report(directory: str, report: dict) -> tuple[list[str], list[str]]:
    from pimc import plots

    layers = [{**layer, "converts_per_mac": layer["adc_converts"] / layer["macs"] if layer.get("macs") else 0.0}
              for layer in report.get("layers", [])]
    if not layers:
        raise UserError(f"{directory}/report.json: lists no layers")
    figures = [
        plots.write_figure(plots.layer_energy(layers), os.path.join(directory, "layer_energy"))[0],
        plots.write_figure(plots.layer_values(layers, "crossbars", "crossbars"), os.path.join(directory, "layer_crossbars"))[0],
        plots.write_figure(plots.layer_values(layers, "converts_per_mac", "ADC conversions per MAC"),
                           os.path.join(directory, "layer_converts_per_mac"))[0],
    ]
    totals = report.get("totals", {})
    summary = _table(["quantity", "value"], [[key, totals[key]] for key in sorted(totals) if not isinstance(totals[key], dict)])
    columns = ["name", "op", "crossbars", "macs", "adc_converts", "converts_per_mac", "energy_pj", "latency_ns"]
    per_layer = _table(columns, [[layer.get(c) for c in columns] for layer in layers])
    heading = f"{html.escape(str(report.get('model', '')))} on {html.escape(str(report.get('target', '')))}"
    return figures, [f"<h2>{heading}</h2>", summary, "<h2>Layers</h2>", per_layer]


def sweep_report(directory: str, rows: list[dict]) -> tuple[list[str], list[str]]:
    from pimc.commands.sweep import COLUMNS

    figures = sorted(os.path.join(directory, name) for name in os.listdir(directory) if name.endswith(".svg"))
    options = list(dict.fromkeys(key for row in rows for key in row.get("options", {})))
    columns = COLUMNS[1:3] + options + COLUMNS[3:]
    body = [[row.get("options", {}).get(c, row.get(c)) if c in options else row.get(c) for c in columns] for row in rows]
    return figures, [f"<h2>{len(rows)} points</h2>", _table(columns, body)]


def _table(columns: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    lines = ["<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>" for row in rows]
    return f"<table><tr>{head}</tr>\n" + "\n".join(lines) + "\n</table>"


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _write_page(path: str, title: str, tables: list[str], figures: list[str]) -> None:
    embedded = []
    for figure in figures:
        with open(figure) as file:
            svg = file.read()
        embedded.append(f"<figure>{svg[svg.index('<svg'):]}<figcaption>{html.escape(os.path.basename(figure))}"
                        "</figcaption></figure>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}figure{display:inline-block;margin:1em}")
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pimc report: {html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n<h1>pimc report: {html.escape(title)}</h1>\n"
            + "\n".join(tables) + "\n" + "\n".join(embedded) + "\n</body></html>\n")
    staging = f"{path}.tmp"
    with open(staging, "w") as file:
        file.write(page)
    os.replace(staging, path)

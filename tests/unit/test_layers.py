"""Layers without cycles: every import of pimc/, passes/ and targets/ (those inside functions too), read with ast,
goes to the importer's own layer or a lower one, and no modules import each other round a cycle. The layers and
their order are docs/architecture.md's table, read from there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"pimc": "pimc", "passes": "pimc.passes", "targets": "pimc.targets"}  # folder -> installed package


def layers(doc: Path = ROOT / "docs" / "architecture.md") -> list[tuple[str, list[str]]]:
    """(layer, module patterns) from the table of the doc's Layers section, lowest layer first."""
    section = doc.read_text().split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ") and "`" in line]
    return [(name.strip(), re.findall(r"`([\w.*]+)`", modules)) for name, modules in reversed(rows)]


def modules(root: Path = ROOT, packages: dict[str, str] = PACKAGES) -> dict[str, Path]:
    """Module name -> its file, for every .py file under the package folders."""
    found = {}
    for folder, package in packages.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def imports(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of `files` it imports, anywhere in its body."""
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
                base = ".".join(filter(None, [base, node.module]))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            else:
                continue
            graph[name] |= {found for target in targets if (found := _module(target, files)) not in (None, name)}
    return graph


def _module(name: str, files: dict[str, Path]) -> str | None:
    """The module `name` is, or is in (`pimc.ir.types.parse_type` -> `pimc.ir.types`); None outside `files`."""
    while name and name not in files:
        name = name.rpartition(".")[0]
    return name or None


def layer_of(module: str, order: list[tuple[str, list[str]]]) -> int | None:
    """The index of the layer whose most specific pattern names `module`: `pimc.ir` or `pimc.ir.*`."""
    matches = [(len(pattern), index) for index, (_, patterns) in enumerate(order) for pattern in patterns
               if module == pattern.removesuffix(".*") or (pattern.endswith(".*") and module.startswith(pattern[:-1]))]
    return max(matches)[1] if matches else None


def problems(graph: dict[str, set[str]], order: list[tuple[str, list[str]]]) -> list[str]:
    """Modules in no layer, imports of a higher layer, and import cycles, one line each."""
    found = [f"{module} is in no layer of docs/architecture.md" for module in graph if layer_of(module, order) is None]
    for module, imported in sorted(graph.items()):
        for other in sorted(imported):
            low, high = layer_of(module, order), layer_of(other, order)
            if low is not None and high is not None and high > low:
                found.append(f"{module} ({order[low][0]}) imports {other} ({order[high][0]}), a higher layer")
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_pimc_has_no_upward_imports_and_no_cycles():
    assert problems(imports(modules()), layers()) == []


def test_the_checker_finds_a_planted_cycle_and_a_planted_upward_import():
    order = [("low", ["m.low", "m.base.*"]), ("high", ["m.high"])]
    graph = {"m.low": {"m.base.a"}, "m.base.a": {"m.base.b"}, "m.base.b": {"m.base.a"}, "m.high": {"m.low"}}
    assert problems(graph, order) == ["import cycle: m.base.a -> m.base.b"]
    graph["m.low"].add("m.high")
    assert problems(graph, order) == [
        "m.low (low) imports m.high (high), a higher layer",
        "import cycle: m.base.a -> m.base.b",
        "import cycle: m.high -> m.low",
    ]
    assert problems({"m.other": set()}, order) == ["m.other is in no layer of docs/architecture.md"]


def test_imports_inside_functions_and_relative_imports_count(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "low.py").write_text("def f():\n    from pkg.sub import high\n    return high\n")
    (tmp_path / "pkg" / "sub" / "high.py").write_text("from ..low import f\nimport pkg.sub.util.thing\n")
    (tmp_path / "pkg" / "sub" / "util.py").write_text("from . import high\n")
    graph = imports(modules(tmp_path, {"pkg": "pkg"}))
    assert graph == {"pkg": set(), "pkg.low": {"pkg.sub.high"}, "pkg.sub": set(),
                     "pkg.sub.high": {"pkg.low", "pkg.sub.util"}, "pkg.sub.util": {"pkg.sub.high"}}
    assert cycles(graph) == [["pkg.low", "pkg.sub.high", "pkg.sub.util"]]

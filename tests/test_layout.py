"""The layout rules, checked on the source: one-way imports, one face over the C extension.

cases -> conformance core -> native; no import circles; no family imports another; the
core names no family.  Read from the files' own import statements (function-level ones too).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    out = {}
    for root in ("conformance", "cases"):
        for path in sorted((TOP / root).rglob("*.py")):
            parts = list(path.relative_to(TOP).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            base = base.replace("kconform_cases", "cases", 1)
            yield base
            yield from (f"{base}.{a.name}" for a in node.names)


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: {i for i in _imports(m, p) if i in mods and i != m} for m, p in mods.items()}


def _circles(g: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    assert _circles(_graph()) == []


def test_dependencies_run_one_way() -> None:
    g = _graph()
    core_to_cases = sorted((m, i) for m, deps in g.items() if m.startswith("conformance") for i in deps
                           if i.startswith("cases"))
    family_to_family = sorted((m, i) for m, deps in g.items() if m.startswith("cases.") for i in deps
                              if i.startswith("cases.") and i.split(".")[1] != m.split(".")[1])
    assert (core_to_cases, family_to_family) == ([], [])


def test_one_importer_of_the_c_extension() -> None:
    importers = sorted(str(p.relative_to(TOP)) for m, p in _modules().items()
                       if "conformance._native" in set(_imports(m, p)))
    assert importers == ["conformance/native/__init__.py"]

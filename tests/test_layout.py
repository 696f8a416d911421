"""The layout rules, checked on the source: one-way imports, one face over the C extension.

cases -> conformance core -> native; no import circles; no family imports another; the
core names no family; every module of the core sits in one of its layers (LAYERS, README's
"The core in layers") and imports nothing from a later one.  Read from the files' own import
statements (function-level ones too).
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent

# The core's sub-packages in dependency order: a module imports from its own layer and earlier ones only.
# The package's root holds nothing but the built modules (_native, _kc_*_h: the native layer's).
LAYERS = ("host", "native", "isolation", "suite", "report", "runner", "vm", "cli")


def _modules(top: Path = TOP) -> dict[str, Path]:
    out = {}
    for root in ("conformance", "cases"):
        for path in sorted((top / root).rglob("*.py")):
            parts = list(path.relative_to(top).with_suffix("").parts)
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


def _graph(top: Path = TOP) -> dict[str, set[str]]:
    mods = _modules(top)
    return {m: {i for i in _imports(m, p) if i in mods and i != m} for m, p in mods.items()}


def _layer(module: str) -> int | None:
    """Index in LAYERS of a core module (-1: the package itself, which imports nothing); None: in none."""
    parts = module.split(".")
    if parts == ["conformance"]:
        return -1
    if parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    if len(parts) == 2 and parts[1].startswith("_"):  # built by native_helpers/build.py
        return LAYERS.index("native")
    return None


def _upward(top: Path = TOP) -> list[str]:
    """Every import of a later layer by a core module: "importer -> imported"."""
    out = []
    for m, deps in sorted(_graph(top).items()):
        if not m.startswith("conformance"):
            continue
        here = _layer(m)
        for i in sorted(deps):
            there = _layer(i) if i.startswith("conformance") else None
            if here is not None and there is not None and there > here:
                out.append(f"{m} ({LAYERS[here] if here >= 0 else 'the package'}) -> {i} ({LAYERS[there]})")
    return out


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


def test_every_core_module_sits_in_a_layer() -> None:
    outside = sorted(m for m in _modules() if m.startswith("conformance") and _layer(m) is None)
    packages = sorted(p.name for p in (TOP / "conformance").iterdir() if (p / "__init__.py").exists())
    assert (outside, packages) == ([], sorted(LAYERS))


def test_no_module_imports_a_later_layer() -> None:
    assert _upward() == []


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """The check itself, on a copy of the core given three imports of later layers."""
    shutil.copytree(TOP / "conformance", tmp_path / "conformance", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "cases").mkdir()
    assert _upward(tmp_path) == []
    with (tmp_path / "conformance" / "host" / "records.py").open("a") as f:
        f.write("\n\ndef _late() -> None:\n    from conformance.cli import main  # noqa\n")
    with (tmp_path / "conformance" / "isolation" / "interrupt.py").open("a") as f:
        f.write("\nfrom conformance import report  # noqa\n")
    with (tmp_path / "conformance" / "suite" / "verdict.py").open("a") as f:
        f.write("\nimport conformance.vm.kernels  # noqa\n")
    assert _upward(tmp_path) == [
        "conformance.host.records (host) -> conformance.cli (cli)",
        "conformance.host.records (host) -> conformance.cli.main (cli)",
        "conformance.isolation.interrupt (isolation) -> conformance.report (report)",
        "conformance.suite.verdict (suite) -> conformance.vm.kernels (vm)",
    ]

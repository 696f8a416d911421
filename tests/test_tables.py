"""Integrity of every case table: unique ids, known behaviours, declared requirements."""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.host.kernel import KernelVersion
from conformance.native.uring import Via
from conformance.suite import registry
from conformance.suite.case import Case, check_table
from conformance.suite.probes import all_probes
from conformance.suite.requirements import Feature

BEHAVIOURS = tuple(registry.behaviours().values())
PROBES = all_probes()


def all_tables() -> dict[str, tuple[Case[Any], ...]]:
    tables = {}
    for mod in pkgutil.iter_modules([str(registry.cases_dir())]):
        if mod.ispkg:
            table = importlib.import_module(f"kconform_cases.{mod.name}.table")
            tables[mod.name] = tuple(table.CASES)
    return tables


TABLES = all_tables()


@pytest.mark.parametrize("family", sorted(TABLES))
def test_table_integrity(family: str) -> None:
    cases = TABLES[family]
    assert cases, family
    assert check_table(cases, registry.behaviours()) == []


def test_ids_unique_across_families() -> None:
    keys = [(c.behaviour, c.id) for cases in TABLES.values() for c in cases]
    assert len(keys) == len(set(keys))


def test_feature_requirements_name_real_probes() -> None:
    for cases in TABLES.values():
        for c in cases:
            for need in c.needs:
                if isinstance(need, Feature):
                    assert need.probe in PROBES, f"{c.id}: unknown probe {need.probe}"


def test_behaviours_well_formed() -> None:
    ids = [b.id for b in BEHAVIOURS]
    assert len(ids) == len(set(ids))
    for b in BEHAVIOURS:
        assert "." in b.id and b.statement and b.since
        assert not b.commit or len(b.commit) == 12, b.id
        assert not b.probe or b.probe in PROBES, b.id


def test_every_behaviour_has_a_case() -> None:
    used = {c.behaviour for cases in TABLES.values() for c in cases}
    families = {c.behaviour.split(".")[0] for cases in TABLES.values() for c in cases}
    missing = [b.id for b in BEHAVIOURS if b.family in families and b.id not in used]
    assert missing == []


def test_clone3_table_size() -> None:
    assert len(TABLES["clone3"]) >= 80


def test_every_family_folder_declares_a_family() -> None:
    folders = {m.name for m in pkgutil.iter_modules([str(registry.cases_dir())]) if m.ispkg}
    assert set(registry.families()) == folders


def test_probe_names_unique_across_families() -> None:
    names = [p.name for f in registry.families().values() for p in f.probes]
    assert len(names) == len(set(names))


def test_every_cached_row_runs_in_every_variant() -> None:
    table: Any = importlib.import_module(f"{registry.CASES_PACKAGE}.resolve_cached.table")
    cases = {c.id: c for c in table.CASES}
    assert len(cases) == 2 * len(table.ROWS)
    for row in table.ROWS:
        assert cases[row.id] == row
        twin = cases[f"{row.id}.io_uring"]
        assert twin.behaviour == "io_uring.openat2_cached" and twin.via is Via.INLINE and row.via is Via.SYSCALL
        # a row whose io_uring answer knowingly differs names it (uring=); openat2() must still give the row's
        own = twin.expect.row if row.uring is None else twin.expect.syscall
        assert (twin.scenario, twin.lock, own) == (row.scenario, row.lock, row.expect)
        assert row.uring is None or twin.expect.uring == row.uring
        assert (twin.old is None) == (row.old is None)
        if row.old is not None:
            assert twin.old.expect.row == row.old.expect and twin.old.commit == row.old.commit
        assert set(row.needs) <= set(twin.needs)


BROKEN_ROWS = (
    ('c3("broken", "basic", FORK_LIKE, Req(action_ar=42))', 'Unexpected keyword argument "action_ar"'),
    ('c3("broken", "basic", FORK_LIKE, Req(action_arg="42"))', 'incompatible type "str"'),
)


@pytest.mark.parametrize(("row", "error"), BROKEN_ROWS)
def test_a_broken_row_fails_the_type_check(tmp_path: Path, row: str, error: str) -> None:
    """The tables are typed end to end: a misspelled field or a wrong type in a row is a mypy error."""
    repo = Path(__file__).resolve().parent.parent
    shutil.copytree(registry.cases_dir(), tmp_path / "cases", ignore=shutil.ignore_patterns("__pycache__"))
    table = tmp_path / "cases" / "clone3" / "table.py"
    table.write_text(table.read_text() + f"\nBROKEN = {row}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.11", "--cache-dir", str(tmp_path / "cache"),
         "--follow-imports", "silent", "cases/clone3/table.py"],
        cwd=tmp_path, env={**os.environ, "MYPYPATH": str(repo)}, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert error in proc.stdout and "table.py" in proc.stdout, proc.stdout
    assert proc.stdout.count("error:") == 1, proc.stdout


def test_every_old_model_is_tied_to_its_expectation_and_behaviour() -> None:
    known = registry.behaviours()
    for cases in TABLES.values():
        for c in cases:
            if c.old is None:
                continue
            assert c.old.expect is not c.expect and c.old.expect != c.expect, c.id
            assert callable(getattr(c.old.expect, "mismatches", None)), c.id
            # the change the old model names is at or after the behaviour's own origin
            since = KernelVersion.parse(known[c.behaviour].since)
            assert KernelVersion.parse(c.old.changed_in) >= since, c.id


def test_tables_are_rows_only() -> None:
    """A table module declares rows: requirement classes, checks and case types live in the family's model
    (or in conformance.suite.requirements when not family-specific)."""
    classes = [f"{path.relative_to(registry.cases_dir())}: class {node.name}"
               for path in sorted(registry.cases_dir().glob("*/table*.py"))
               for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)]
    assert not classes, classes

"""Integrity of every case table: unique ids, known behaviours, declared requirements."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

import kconform_cases
from conformance import registry
from conformance.case import Case, LegacyCase, check_table
from conformance.probes import all_probes
from conformance.requirements import Feature

BEHAVIOURS = tuple(registry.behaviours().values())
PROBES = all_probes()


def all_tables() -> dict[str, tuple[Case[Any] | LegacyCase, ...]]:
    tables = {}
    for mod in pkgutil.iter_modules(kconform_cases.__path__):
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
    folders = {m.name for m in pkgutil.iter_modules(kconform_cases.__path__) if m.ispkg}
    assert set(registry.families()) == folders


def test_probe_names_unique_across_families() -> None:
    names = [p.name for f in registry.families().values() for p in f.probes]
    assert len(names) == len(set(names))

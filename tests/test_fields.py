"""Rows name observed values by typed getters, never by strings.

Each family's getters (user_workers ``F``, fchroot and io_uring restriction ``R``) read the field they are
named after; no check of any row holds a field named by a string; no model reads an observation by
``getattr`` nor picks an enum member by its name (``E.__members__[name]``).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from conformance.suite.case import AllOf
from conformance.suite.checks import Field, Results

from .test_tables import TABLES

CASES_DIR = Path(__file__).resolve().parent.parent / "cases"
GETTERS = (("user_workers.model", "F"), ("fchroot.model", "R"), ("io_uring.model", "R"))
FIELD_ATTRS = ("field", "name", "other", "results", "res", "status", "slot", "a", "b")


class _Reads:
    """Records the last attribute read (of the observation or of its raw result)."""

    def __init__(self, seen: list[str]) -> None:
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        self._seen.append(name)
        return _Reads(self._seen) if name == "r" else 0


@pytest.mark.parametrize(("module", "cls"), GETTERS)
def test_each_field_reads_the_attribute_it_is_named_after(module: str, cls: str) -> None:
    getters = vars(getattr(importlib.import_module(f"kconform_cases.{module}"), cls))
    fields = [v for k, v in getters.items() if not k.startswith("_")]
    assert len(fields) >= 8
    for f in fields:
        assert isinstance(f, Field | Results), f
        seen: list[str] = []
        f.get(_Reads(seen))
        assert seen and seen[-1] == f.name, (f.name, seen)


def _checks(expect: object) -> list[object]:
    return list(expect.checks) if isinstance(expect, AllOf) else []


@pytest.mark.parametrize("family", sorted(TABLES))
def test_no_check_names_a_field_by_a_string(family: str) -> None:
    bad = []
    for case in TABLES[family]:
        expects = [case.expect, *([case.old.expect] if case.old is not None else [])]
        for check in (c for e in expects for c in _checks(e)):
            if not dataclasses.is_dataclass(check):
                continue
            for name in FIELD_ATTRS:
                if isinstance(getattr(check, name, None), str):
                    bad.append(f"{case.id}: {type(check).__name__}.{name} = {getattr(check, name)!r}")
    assert not bad, bad


def test_no_model_reads_an_observation_or_a_member_by_name() -> None:
    pattern = re.compile(r"getattr\((obs|self|res|r|o)\b|__members__\[")
    hits = [f"{p.relative_to(CASES_DIR)}:{n}: {line.strip()}" for p in sorted(CASES_DIR.rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits


def test_pidfd_fields_read_the_slot_they_are_named_after() -> None:
    model = importlib.import_module("kconform_cases.pidfd.model")
    wire = importlib.import_module("kconform_cases.pidfd.wire")
    for slot, f in model.F.items():
        obs = wire.PidfdResult(harness_error=0, harness_errno=0, values={slot: 7}, text="")
        assert f.name == slot.name.lower() and f.get(obs) == 7, slot
        assert f.get(wire.PidfdResult(harness_error=0, harness_errno=0, values={}, text="")) is None, slot
    assert set(model.F) == set(wire.PidfdValue)

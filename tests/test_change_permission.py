"""Machine-wide changes that need permission (kernel.core_pattern): where the rows may run, how a run
allows them, and that every coredump-socket row declares the change and asks for the permission."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import conformance
from conformance.isolation import globalstate
from conformance.isolation.globalstate import Sysctl
from conformance.suite.requirements import MayChange


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(globalstate, "_ALLOWED", set())
    marker = tmp_path / "guest"
    monkeypatch.setattr(globalstate, "GUEST_MARKER", str(marker))
    return marker


def test_refused_by_default_naming_the_sysctl(fresh: Path) -> None:
    why = globalstate.change_refused("kernel.core_pattern")
    assert why is not None
    assert "kernel.core_pattern" in why and "--allow-change kernel.core_pattern" in why
    assert MayChange("kernel.core_pattern").unmet() == why


def test_allowed_by_name(fresh: Path) -> None:
    globalstate.allow_changes(["kernel.core_pattern"])
    assert globalstate.change_refused("kernel.core_pattern") is None


def test_unknown_name_refused(fresh: Path) -> None:
    with pytest.raises(ValueError, match=r"kernel\.nosuch"):
        globalstate.allow_changes(["kernel.nosuch"])
    assert globalstate.unknown_change(["kernel.core_pattern"]) is None


def test_guest_marker_needs_this_boot(fresh: Path) -> None:
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert not globalstate.in_vm_guest()
    fresh.write_text("00000000-0000-0000-0000-000000000000\n")
    assert not globalstate.in_vm_guest()  # a stale marker (another boot) does not count
    fresh.write_text(boot + "\n")
    assert globalstate.in_vm_guest()
    assert globalstate.change_refused("kernel.core_pattern") is None


def test_guest_init_writes_the_marker() -> None:
    init = (Path(conformance.__file__).parent / "vm" / "guest_init.sh").read_text()
    assert "boot_id > $R" + globalstate.GUEST_MARKER in init


def test_coredump_rows_declare_and_ask() -> None:
    table = importlib.import_module("kconform_cases.pidfd.table").CASES
    rows = [c for c in table if c.behaviour.startswith(("pidfd.coredump_socket", "pidfd.coredump_pattern",
                                                         "pidfd.coredump_request"))]
    assert len(rows) >= 19
    for case in rows:
        assert case.changes == (Sysctl("kernel.core_pattern"),), case.id
        assert MayChange("kernel.core_pattern") in case.needs, case.id

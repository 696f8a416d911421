"""KCIDB output, validated with kcidb-io's own schema (the newest version it knows).

Pinned to captured runs: the host run (tests/data/run-6.18*.json), the two real
VM runs (vm-debian-6.1/6.12.json), the synthetic record that carries every
verdict, a panicked guest (console-6.12-panic.log through the VM runner's error
path) and an interrupted run (a harness error case plus cases that never ran).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.main import main
from conformance.report import kcidb, writers
from conformance.report.kcidb import CaseKey
from conformance.suite.results import CaseRecord, RunRecord
from conformance.suite.verdict import Verdict
from conformance.vm import cli as vm_cli
from conformance.vm import runner
from conformance.vm.kernels import Kernel

kcidb_io = pytest.importorskip("kcidb_io", reason="kcidb-io is in the dev extra (pip install -e '.[dev]')")

DATA = Path(__file__).parent / "data"
LATEST: Any = kcidb_io.schema.LATEST
PATH_RE = re.compile(LATEST.path_re.pattern)


def load(name: str) -> RunRecord:
    return RunRecord.load(DATA / f"{name}.json")


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """kcidb-io's validation against exactly the newest schema (raises on any violation)."""
    LATEST.validate_exactly(doc)
    return doc


def paths_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["path"]: t for t in doc["tests"]}


def test_writer_targets_the_newest_schema_kcidb_io_knows() -> None:
    assert (LATEST.major, LATEST.minor) == (kcidb.SCHEMA_MAJOR, kcidb.SCHEMA_MINOR)


@pytest.mark.parametrize("name", ["run-6.18", "run-6.18-unprivileged", "run-6.18-unprivileged-all-families",
                                  "vm-debian-6.1", "vm-debian-6.12", "synthetic-6.1"])
def test_captured_runs_validate(name: str) -> None:
    run = load(name)
    doc = validate(kcidb.build(run))
    assert len(doc["tests"]) == len(run.cases)
    assert all(PATH_RE.fullmatch(t["path"]) for t in doc["tests"])
    assert len({t["id"] for t in doc["tests"]}) == len(doc["tests"])
    (build,) = doc["builds"]
    p = run.properties
    assert build["architecture"] == p["kernel.arch"] and build["misc"]["config_digest"] == p["kernel.config_digest"]
    assert doc["checkouts"][0]["misc"]["kernel_release"] == p["kernel.release"]
    assert all(t["build_id"] == build["id"] for t in doc["tests"])


def test_paths_are_stable_across_kernels_and_follow_the_id_scheme() -> None:
    old, new = (paths_of(kcidb.build(load(n))) for n in ("vm-debian-6.1", "vm-debian-6.12"))
    assert set(old) == set(new) and len(old) == 257
    assert "kconform.clone3.struct_size.size-56" in old
    assert "kconform.io_uring.openat2_cached.warm-file__io_uring" in old  # the dot inside the case id
    assert old["kconform.vhost.worker_model.default-model"]["misc"]["kconform_verdict"] == "old-model"
    assert new["kconform.vhost.worker_model.default-model"]["misc"]["kconform_verdict"] == "pass"
    # the test ids differ (one per execution), the build ids name the kernel
    assert not {t["id"] for t in old.values()} & {t["id"] for t in new.values()}


@pytest.mark.parametrize(("case_id", "component"), [
    ("size-56", "size-56"),
    ("warm-file.io_uring", "warm-file__io_uring"),
    ("a.b.c", "a__b__c"),
    ("odd__id", "odd_X5F_X5Fid"),  # not a plain id: escaped per character, never like a dot
    ("x.", "x_X2E"),
    ("Up", "_X55p"),
    ("", "_X00"),
])
def test_path_component_escaping(case_id: str, component: str) -> None:
    assert kcidb.component(case_id) == component
    assert PATH_RE.fullmatch(component)


def test_escaping_is_one_to_one_on_every_captured_id() -> None:
    ids = {c.name for n in ("vm-debian-6.12", "run-6.18-unprivileged-all-families") for c in load(n).cases}
    ids |= {"a.b", "a__b", "a_b", "a-b", "a._b", "a_.b"}
    assert len({kcidb.component(i) for i in ids}) == len(ids)


def test_status_mapping_does_not_lie() -> None:
    run = load("synthetic-6.1")
    doc = validate(kcidb.build(run))
    expected = {Verdict.PASS: "PASS", Verdict.FAIL: "FAIL", Verdict.ERROR: "ERROR", Verdict.SKIP: "SKIP",
                Verdict.OLD_MODEL: "PASS", Verdict.OVERRIDDEN: "FAIL"}
    seen = set()
    for rec, t in zip(run.cases, doc["tests"], strict=True):
        assert t["status"] == expected[rec.verdict], rec
        assert t["misc"]["kconform_verdict"] == rec.verdict.value
        seen.add(rec.verdict)
        if rec.verdict is Verdict.SKIP:
            assert t["misc"]["skip_reason"] == rec.message and rec.message in t["log_excerpt"]
    assert seen == set(Verdict), "the synthetic record should carry every verdict"
    # a known deviation is a KCIDB issue with an incident on its test
    overridden = [t for t in doc["tests"] if t["misc"]["kconform_verdict"] == "overridden"]
    assert overridden and len(doc["issues"]) == len(overridden) == len(doc["incidents"])
    assert {i["test_id"] for i in doc["incidents"]} == {t["id"] for t in overridden}


def _interrupted() -> tuple[RunRecord, tuple[CaseKey, ...]]:
    run = load("run-6.18")
    ran, rest = run.cases[:40], run.cases[40:]
    harness = CaseRecord("kconform.harness::interrupted", "kconform.harness", "interrupted", Verdict.ERROR,
                         "interrupted by SIGINT after 40 of 114 cases")
    return RunRecord(run.properties, [*ran, harness]), tuple(CaseKey(c.classname, c.name) for c in rest)


def test_interrupted_run_reports_miss_for_cases_that_never_ran() -> None:
    run, not_run = _interrupted()
    doc = validate(kcidb.build(run, not_run=not_run))
    by_path = paths_of(doc)
    assert by_path["kconform.harness.interrupted"]["status"] == "ERROR"
    miss = [t for t in doc["tests"] if t["status"] == "MISS"]
    assert len(miss) == len(not_run) == 74 and len(doc["tests"]) == 115
    assert all(t["misc"]["kconform_verdict"] == "not-run" for t in miss)
    assert {t["path"] for t in miss} == {kcidb.test_path(k.behaviour, k.case) for k in not_run}


def test_interrupted_run_through_the_json_record(tmp_path: Path) -> None:
    """The JSON record keeps the not-run cases, so a later conversion (the VM runner's) still says MISS."""
    run, not_run = _interrupted()
    writers.write_run("json", tmp_path / "run.json", writers.RunReport(run, not_run))
    writers.convert(tmp_path / "run.json", "kcidb", tmp_path / "kcidb.json", "lab_ci")
    doc = validate(json.loads((tmp_path / "kcidb.json").read_text()))
    assert sum(t["status"] == "MISS" for t in doc["tests"]) == 74
    assert {t["origin"] for t in doc["tests"]} == {"lab_ci"}


def test_panicked_guest(tmp_path: Path) -> None:
    k = Kernel("debian-6.12.117+deb12", Path("/nonexistent"), None, "6.12.117+deb12-amd64")
    res = runner.VmResult(k, tmp_path, runner.Outcome.PANIC,
                          detail=runner.excerpt((DATA / "console-6.12-panic.log").read_text()))
    runner._write_error_junit(res)
    vm_cli.write_kcidb(tmp_path, "kconform")
    doc = validate(json.loads((tmp_path / "kcidb.json").read_text()))
    (t,) = doc["tests"]
    assert t["path"] == "kconform.vm.boot-and-run" and t["status"] == "ERROR"
    assert "Kernel panic" in t["log_excerpt"] and t["environment"]["misc"]["vm.outcome"] == "panic"
    assert doc["builds"][0]["misc"]["release"] == "6.12.117+deb12-amd64"


def test_kconform_run_writes_kcidb(tmp_path: Path) -> None:
    """The real thing on this kernel: kconform run --kcidb (a subprocess: it runs pytest itself)."""
    out = tmp_path / "kcidb.json"
    proc = subprocess.run([sys.executable, "-m", "conformance.cli.main", "run", "-q", "--family", "clone3", "-k",
                           "size or exit", "--kcidb", str(out), "--kcidb-origin", "my_lab"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = validate(json.loads(out.read_text()))
    assert doc["checkouts"][0]["origin"] == "my_lab"
    assert "kconform.clone3.struct_size.size-56" in paths_of(doc)
    assert not list(tmp_path.glob(".*.tmp")), "the atomic write leaves no temporary file"


def test_bad_origin_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", "--kcidb", "/tmp/x.json", "--kcidb-origin", "My-Lab"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "origin" in err[0]


def test_plain_pytest_checks_the_origin_before_running(tmp_path: Path) -> None:
    cases = Path(__file__).resolve().parents[1] / "cases" / "clone3"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(cases), "-q", "-p", "no:cacheprovider", "-k", "size-56",
                           "--kc-kcidb", str(tmp_path / "k.json"), "--kc-kcidb-origin", "Bad Origin"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 4 and "KCIDB origin" in proc.stderr  # pytest's usage error, before any case
    assert not (tmp_path / "k.json").exists()

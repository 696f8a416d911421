"""Interrupted runs are results: real signals to a real ``kconform run``.

The reports must show ``kconform.harness/interrupted`` naming the signal, the
case that was running must not be a pass, the exit status is 128 + the signal,
and the machine (sysctls, cgroups, mounts, /dev/shm) is as it was.  A SIGKILL
leaves the provisional report, which is not green either.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.report.atomic import write_atomic
from conformance.runner import outputs
from tests.helpers import kc


def _default_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _start(tmp: Path, *extra: str) -> tuple[subprocess.Popen[bytes], dict[str, Path]]:
    paths = {"junit": tmp / "r.xml", "json": tmp / "r.json", "ktap": tmp / "r.ktap"}
    args = ["run", "-q", "--junit", str(paths["junit"]), "--json", str(paths["json"]), "--ktap", str(paths["ktap"]),
            *extra]
    # SIGHUP as a terminal would deliver it, even when these tests run under nohup (kconform keeps an
    # inherited "ignore SIGHUP", as nohup asks).
    proc = subprocess.Popen([*kc.KCONFORM, *args], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, preexec_fn=_default_sighup)
    return proc, paths


def _wait_running(paths: dict[str, Path], after_s: float) -> None:
    deadline = time.monotonic() + 60
    while not paths["json"].exists():  # the provisional report: the run has started
        assert time.monotonic() < deadline, "no provisional report within 60 s"
        time.sleep(0.02)
    time.sleep(after_s)


def _interrupted_case(record: dict[str, Any]) -> dict[str, str]:
    cases = [c for c in record["cases"] if c["name"] == outputs.INTERRUPTED and c["classname"] == outputs.HARNESS_CLASS]
    assert len(cases) == 1, record["cases"]
    case: dict[str, str] = cases[0]
    return case


@pytest.mark.parametrize(("sig", "workers", "after_s"), [
    (signal.SIGTERM, None, 1.0), (signal.SIGINT, None, 1.5), (signal.SIGHUP, None, 0.5),
    (signal.SIGTERM, "2", 2.5), (signal.SIGINT, "2", 2.0),
], ids=["term", "int", "hup", "term-n2", "int-n2"])
def test_signal_gives_interrupted_reports(tmp_path: Path, sig: signal.Signals, workers: str | None,
                                          after_s: float) -> None:
    before = kc.machine_state()
    proc, paths = _start(tmp_path, *(["-n", workers] if workers else []))
    _wait_running(paths, after_s)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err.decode(errors="replace")[-2000:]
    record = kc.load(paths["json"])
    case = _interrupted_case(record)
    assert case["verdict"] == "error" and sig.name in case["message"], case
    assert record["properties"]["run.complete"] == "no"
    running = [c for c in record["cases"] if "before its" in c["message"]]
    for c in running:  # the case that was running is never a pass
        assert c["verdict"] == "error", c
    junit = ET.parse(paths["junit"]).getroot()
    assert int(junit.get("errors", "0")) >= 1
    tc = [t for t in junit.iter("testcase") if t.get("name") == outputs.INTERRUPTED]
    assert tc and tc[0].find("error") is not None
    ktap = paths["ktap"].read_text()
    assert "not ok" in ktap and sig.name in ktap
    assert not list(tmp_path.glob(".r.*")), "a temporary report file was left"
    assert kc.settled_state(before) == before


def test_sigkill_leaves_the_provisional_report(tmp_path: Path) -> None:
    before = kc.machine_state()
    proc, paths = _start(tmp_path)
    _wait_running(paths, 0.5)
    proc.kill()
    proc.wait(timeout=30)
    for path in (paths["json"],):
        case = _interrupted_case(kc.load(path))
        assert case["verdict"] == "error" and "never wrote its final report" in case["message"]
    junit = ET.parse(paths["junit"]).getroot()
    assert junit.get("errors") == "1" and junit.get("tests") == "1"
    assert "not ok" in paths["ktap"].read_text()
    after = kc.machine_state()
    # a SIGKILL'd run cannot clean up behind itself: sysctls/cgroups are the journal's to repair
    assert after["mounts"] == before["mounts"]


def test_finished_run_replaces_the_provisional_report(tmp_path: Path) -> None:
    done = kc.run(["run", "-q", "--family", "clone3", "-k", "size", "--json", str(tmp_path / "r.json")], tmp_path)
    assert done.rc == 0, done.err
    record = kc.load(tmp_path / "r.json")
    assert all(c["classname"] != outputs.HARNESS_CLASS for c in record["cases"])
    assert "run.complete" not in record["properties"]


def test_atomic_write_keeps_old_content_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.xml"
    target.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.xml"]


def test_an_interruption_pytest_cannot_render_is_reported_anyway(monkeypatch: pytest.MonkeyPatch) -> None:
    """The terminal reporter's rendering fails (TypeError: a traceback entry without a line number): it is
    given the same exception with a traceback it can render, so the session's end reports it."""
    from conformance.isolation import interrupt
    from conformance.runner import plugin

    seen: list[pytest.ExceptionInfo[BaseException]] = []

    class Terminal:
        def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
            seen.append(excinfo)

    class Manager:
        def get_plugin(self, name: str) -> object:
            return Terminal() if name == "terminalreporter" else None

    class Config:
        pluginmanager = Manager()

    monkeypatch.setattr(plugin, "_CONFIG", Config())
    exc = interrupt.Interrupted(signal.SIGHUP)
    try:
        raise exc
    except interrupt.Interrupted:
        excinfo = pytest.ExceptionInfo.from_current()
    wrapper = plugin.pytest_keyboard_interrupt(excinfo)
    next(wrapper)
    with pytest.raises(StopIteration):
        wrapper.throw(TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'"))
    assert len(seen) == 1 and seen[0].value is exc
    rendered = seen[0].getrepr(funcargs=True)
    assert rendered.reprcrash is not None and "SIGHUP" in rendered.reprcrash.message

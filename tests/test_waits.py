"""Rows that wait on the clock, run in the background (conformance/suite/waits.py), end to end.

Scripted rows in a separate pytest process: a waiting row is judged as it would be in the foreground;
a waiting row that leaks is still an error naming the leak, and the cases running beside it are not
blamed for it; the same under xdist (-n 2); an interruption stops the background wait at once and the
report names it; a row whose requirement is not met never starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.host import procfs
from conformance.suite import waits

CASES = '''
import os, subprocess

import pytest
from kconform_cases.clone3.wire import Action, CloneRequest, clone_scenario
from conformance.suite.case import AllOf, Case, ClockWait
from conformance.host.records import record
from conformance.suite.requirements import Requirement

@record(frozen=True)
class Is:
    want: str

    def mismatch(self, obs: str) -> str | None:
        return None if obs == self.want else f"expected {self.want}"

@record(frozen=True)
class Never:
    def unmet(self) -> str | None:
        return "never met (self-test)"

    def __str__(self) -> str:
        return "never"

def hang(ms: int) -> None:
    """A scenario that waits ms in the process server (a child that never reports, then the bound)."""
    clone_scenario(CloneRequest(action=Action.HANG, timeout_ms=ms))

@record(frozen=True, kw_only=True)
class Scripted(Case[str]):
    action: str = "pass"
    ms: int = 0

    def observe(self) -> str:
        if self.ms:
            hang(self.ms)
        if self.action == "start-file":
            open(os.environ["KC_TEST_STARTED"], "a").write(self.id + "\\n")
        if self.action == "server":
            from conformance import native
            server = native.server_process()
            open(os.environ["KC_TEST_SERVERS"], "a").write(f"{self.id} {server[0] if server else 0}\\n")
        if self.action == "leak-child":
            subprocess.Popen(["sleep", "30"])
        if self.action == "leak-fd":
            os.open("/dev/null", os.O_RDONLY)
        return "failed with E2BIG" if self.action == "fail" else "ok"

    def describe(self, obs: str) -> str:
        return obs

OK = AllOf((Is("ok"),))
W = ClockWait(float(os.environ.get("KC_TEST_WAIT_S", "1")), "self-test")
MS = int(float(os.environ.get("KC_TEST_WAIT_S", "1")) * 1000)
CASES = [
    Scripted(id="fg-pass", behaviour="clone3.basic", expect=OK, ms=300),
    Scripted(id="fg-fail", behaviour="clone3.basic", action="fail", expect=OK, ms=300),
    Scripted(id="fg-pass-2", behaviour="clone3.basic", expect=OK, ms=300),
    Scripted(id="fg-pass-3", behaviour="clone3.basic", expect=OK, ms=300),
    Scripted(id="wait-pass", behaviour="clone3.basic", expect=OK, ms=MS, waits=W),
    Scripted(id="wait-fail", behaviour="clone3.basic", action="fail", expect=OK, ms=MS, waits=W),
    Scripted(id="wait-leak-child", behaviour="clone3.basic", action="leak-child", expect=OK, ms=MS, waits=W),
    Scripted(id="wait-unmet", behaviour="clone3.basic", action="start-file", expect=OK, ms=MS, waits=W,
             needs=(Never(),)),
]

@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scripted(case, kc):
    kc.check(case)
'''

LEAK_FD = '''
from test_scripted import CASES, Scripted, OK, W, MS
import pytest

ROWS = [Scripted(id="wait-leak-fd", behaviour="clone3.basic", action="leak-fd", expect=OK, ms=MS, waits=W),
        Scripted(id="fg-pass-4", behaviour="clone3.basic", expect=OK, ms=300)]

@pytest.mark.parametrize("case", ROWS, ids=[c.id for c in ROWS])
def test_alone(case, kc):
    kc.check(case)
'''


MANY = '''
from test_scripted import Scripted, OK, W, MS
import pytest

ROWS = [Scripted(id=f"wait-{i}", behaviour="clone3.basic", action="server", expect=OK, ms=MS, waits=W)
        for i in range(10)] + [Scripted(id=f"fg-{i}", behaviour="clone3.basic", expect=OK, ms=100) for i in range(10)]

@pytest.mark.parametrize("case", ROWS, ids=[c.id for c in ROWS])
def test_many(case, kc):
    kc.check(case)
'''


def _run(tmp: Path, *extra: str, wait_s: float = 1.0, files: tuple[str, ...] = ("test_scripted.py",)
         ) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]], float]:
    (tmp / "test_scripted.py").write_text(CASES)
    (tmp / "test_alone.py").write_text(LEAK_FD)
    (tmp / "test_many.py").write_text(MANY)
    out = tmp / "r.json"
    env = {**os.environ, "KC_TEST_WAIT_S": str(wait_s), "KC_TEST_STARTED": str(tmp / "started"),
           "KC_TEST_SERVERS": str(tmp / "servers")}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *(str(tmp / f) for f in files),
                           "--kc-json", str(out), *extra], cwd=tmp, capture_output=True, text=True, timeout=180,
                          env=env)
    took = time.monotonic() - t0
    assert out.exists(), proc.stdout + proc.stderr
    cases = {c["name"]: c for c in json.loads(out.read_text())["cases"]}
    return proc, cases, took


def _check(cases: dict[str, dict[str, Any]], tmp: Path) -> None:
    for name in ("fg-pass", "fg-pass-2", "fg-pass-3", "wait-pass"):
        assert cases[name]["verdict"] == "pass", cases[name]  # nothing of the waiting rows blamed on them
    assert cases["fg-fail"]["verdict"] == "fail", cases["fg-fail"]
    assert cases["wait-fail"]["verdict"] == "fail", cases["wait-fail"]["message"]
    assert "E2BIG" in cases["wait-fail"]["message"]
    leak = cases["wait-leak-child"]
    assert leak["verdict"] == "error" and "child process" in leak["message"] and "sleep" in leak["message"], leak
    assert cases["wait-unmet"]["verdict"] == "skip" and "never met" in cases["wait-unmet"]["message"]
    assert not (tmp / "started").exists(), "a row whose requirement is not met was started"


def test_waiting_rows_judged_and_guarded(tmp_path: Path) -> None:
    _, cases, _ = _run(tmp_path, wait_s=1.5)
    _check(cases, tmp_path)


def test_waiting_rows_under_xdist(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    _, cases, _ = _run(tmp_path, "-n", "2", wait_s=1.5)
    _check(cases, tmp_path)


def test_leaked_fd_of_a_waiting_row(tmp_path: Path) -> None:
    _, cases, _ = _run(tmp_path, wait_s=1.0, files=("test_alone.py",))
    leak = cases["wait-leak-fd"]
    assert leak["verdict"] == "error" and "open fd" in leak["message"] and "/dev/null" in leak["message"], leak
    assert cases["fg-pass-4"]["verdict"] == "pass", cases["fg-pass-4"]


def test_waits_overlap(tmp_path: Path) -> None:
    """Three 3 s waits and four short cases: about one wait, not three."""
    _, cases, took = _run(tmp_path, "-k", "wait-pass or wait-fail or fg-", wait_s=3.0)
    assert cases["wait-pass"]["verdict"] == "pass", cases["wait-pass"]
    assert cases["wait-fail"]["verdict"] == "fail", cases["wait-fail"]["message"]
    assert took < 3.0 * 2 + 3.0, f"took {took:.1f} s"  # serially: 6 s of waits, 1.2 s of cases, start-up


def test_rows_share_a_few_servers(tmp_path: Path) -> None:
    """More waiting rows than may run at once: each is judged, at most RUNNING_MAX of them run together
    (they overlap: well under the serial sum), and they share that many process servers, each kept from
    one row to the next (a spawn is ~0.2 s of a TCG guest's vCPU)."""
    _, cases, took = _run(tmp_path, wait_s=0.5, files=("test_many.py",))
    assert all(c["verdict"] == "pass" for c in cases.values()), cases
    assert len(cases) == 20
    lines = (tmp_path / "servers").read_text().split()
    servers = dict(zip(lines[::2], (int(p) for p in lines[1::2]), strict=True))
    assert len(servers) == 10 and all(servers.values()), servers
    assert len(set(servers.values())) <= waits.RUNNING_MAX, servers  # reused, not one per row
    assert took < 10 * 0.5 + 10 * 0.1, f"took {took:.1f} s"  # not serial: the waits overlapped


def _servers(parent: int) -> list[int]:
    return [p for p in procfs.pids() if (st := procfs.stat_of(p)) is not None and st.comm == "kconform-server"
            and st.ppid == parent]


def test_interrupt_stops_the_background_wait(tmp_path: Path) -> None:
    (tmp_path / "test_scripted.py").write_text(CASES)
    out = tmp_path / "r.json"
    env = {**os.environ, "KC_TEST_WAIT_S": "60", "KC_TEST_STARTED": str(tmp_path / "started")}
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                             str(tmp_path / "test_scripted.py"), "--kc-json", str(out), "-k", "wait-pass or fg-pass"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_servers(proc.pid)) < 2:  # the foreground's server and the waiting row's
        assert time.monotonic() < deadline and proc.poll() is None, "no background server within 60 s"
        time.sleep(0.05)
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    stopped_in = time.monotonic() - t0
    assert proc.returncode == 128 + signal.SIGTERM, err.decode(errors="replace")[-2000:]
    assert stopped_in < 10, f"the run took {stopped_in:.1f} s to stop"  # not the 60 s wait
    record = json.loads(out.read_text())
    interrupted = [c for c in record["cases"] if c["name"] == "interrupted"]
    assert interrupted and "wait-pass" in interrupted[0].get("details", ""), interrupted
    assert all(c["verdict"] != "pass" for c in record["cases"] if c["name"] == "wait-pass")
    assert not _servers(proc.pid)

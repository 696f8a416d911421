"""The process server (native_helpers/kc_serve.h): scenarios run in a small spawned process, not a fork of
the runner; the results, the leak accounting and the clean-up are those of a call made in the runner."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance import native
from conformance.isolation import snapshot
from conformance.suite.case import Case, judge_case

CLONE_WIRE: Any = importlib.import_module("kconform_cases.clone3.wire")


def _table(family: str) -> Sequence[Case[Any]]:
    cases: Sequence[Case[Any]] = importlib.import_module(f"kconform_cases.{family}.table").CASES
    return cases


CLONE3 = _table("clone3")
CACHED = _table("resolve_cached")


@pytest.fixture
def fresh() -> Iterator[None]:
    native.stop_server()
    broken = native._SERVER_BROKEN
    native._SERVER_BROKEN = None
    yield
    native.stop_server()
    native._SERVER_BROKEN = broken


def _verdicts(cases: Sequence[Case[Any]]) -> list[tuple[str, str]]:
    return [(c.id, judge_case(c).verdict.value) for c in cases]


def test_served_and_in_process_calls_judge_alike(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [*CLONE3[::6], *CACHED[::8]]
    served = _verdicts(rows)
    assert native.server_mode() == "server" and native.server_process() is not None
    native.stop_server()
    monkeypatch.setenv(native.IN_PROCESS_ENV, "1")
    assert _verdicts(rows) == served
    assert native.server_mode() == f"in-process ({native.IN_PROCESS_ENV}=1)" and native.server_process() is None


def test_the_servers_children_are_the_runners(fresh: None) -> None:
    judge_case(CLONE3[0])
    pid, sock = native.server_process() or (0, -1)
    children, _ = snapshot.children_and_threads()
    assert pid and pid not in children  # the server itself is the harness's, not a case's
    assert sock not in snapshot.open_fds() - snapshot._harness_fds()
    assert snapshot.server_fds()  # its fd table is watched


def test_a_dead_server_is_an_error_then_replaced(fresh: None) -> None:
    judge_case(CLONE3[0])
    pid, _ = native.server_process() or (0, -1)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(OSError, match="process server did not answer"):
        CLONE_WIRE.clone_scenario(CLONE_WIRE.CloneRequest())
    assert native.server_process() is None  # stopped and reaped
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    judge_case(CLONE3[0])
    again = native.server_process()
    assert again is not None and again[0] != pid


def test_without_the_executable_scenarios_run_in_process(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "SERVER_PATH", "/nonexistent/kconform-server")
    assert judge_case(CLONE3[0]).verdict.value in ("pass", "skip")
    assert native.server_process() is None
    assert native.server_mode().startswith("in-process (/nonexistent/kconform-server: ")


def test_the_server_dies_with_a_killed_runner() -> None:
    code = ("import sys, time; from conformance import native; from conformance.suite.case import judge_case; "
            "from kconform_cases.clone3.table import CASES; judge_case(CASES[0]); "
            "print(native.server_process()[0], flush=True); time.sleep(60)")
    runner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert runner.stdout is not None
        pid = int(runner.stdout.readline())
        os.kill(runner.pid, signal.SIGKILL)
    finally:
        runner.kill()
        runner.wait(10)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{pid}")


def test_a_runner_leaving_normally_stops_its_server() -> None:
    code = ("from conformance import native; from conformance.suite.case import judge_case; "
            "from kconform_cases.clone3.table import CASES; judge_case(CASES[0]); print(native.server_process()[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert not os.path.exists(f"/proc/{int(out.stdout)}")


def test_the_mode_is_known_before_any_scenario(fresh: None, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """An xdist controller runs no scenario: it still reports what its workers do."""
    assert native.server_mode() == "server"
    monkeypatch.setenv(native.IN_PROCESS_ENV, "1")
    assert native.server_mode() == f"in-process ({native.IN_PROCESS_ENV}=1)"
    monkeypatch.delenv(native.IN_PROCESS_ENV)
    plain = tmp_path / "kconform-server"
    plain.write_text("")
    monkeypatch.setattr(native, "SERVER_PATH", str(plain))
    assert native.server_mode() == f"in-process ({plain}: not executable)"
    assert native.server_process() is None

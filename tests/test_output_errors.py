"""Output errors end a run the way a signal does (a closed stdout pipe, /dev/full, a removed working
directory): the reports say the run is incomplete and why, the exit status is 141 for a closed pipe and 3
for any other output error, one line on stderr, no traceback.  An interrupted report says what the
teardowns restored, also when an xdist worker restored it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.runner import outputs
from tests.helpers import kc
from tests.test_globalstate import CASES


def _shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def _incomplete(record: dict[str, Any], needle: str) -> str:
    props = record["properties"]
    assert props.get("run.complete") == "no" and needle in props.get("run.status", ""), props
    cases = [c for c in record["cases"] if c["classname"] == outputs.HARNESS_CLASS]
    assert len(cases) == 1 and cases[0]["verdict"] == "error" and needle in cases[0]["message"], cases
    running = [c for c in record["cases"] if "before its" in c["message"]]
    assert all(c["verdict"] == "error" for c in running), running
    message: str = cases[0]["message"]
    return message


def _one_error_line(err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kconform: ") and needle in lines[0], err[-2000:]
    assert "Traceback" not in err


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "n2"])
def test_closed_stdout_pipe_is_an_incomplete_run(tmp_path: Path, workers: list[str]) -> None:
    run = shlex.join([*kc.KCONFORM, "run", "-v", *workers, "--json", "r.json", "--junit", "r.xml"])
    p = _shell(f"{run} 2>err | head -5 >/dev/null; echo ${{PIPESTATUS[0]}} >rc", tmp_path)
    assert p.returncode == 0, p.stderr
    err = (tmp_path / "err").read_text()
    assert (tmp_path / "rc").read_text().strip() == "141", err[-2000:]
    _one_error_line(err, "an output error on stdout (EPIPE")
    message = _incomplete(kc.load(tmp_path / "r.json"), "EPIPE")
    assert "not run of" in message
    junit = ET.parse(tmp_path / "r.xml").getroot()
    tc = [t for t in junit.iter("testcase") if t.get("name") == outputs.INTERRUPTED]
    assert tc and tc[0].find("error") is not None and int(junit.get("errors", "0")) >= 1


def test_dev_full_as_stdout_is_an_incomplete_run(tmp_path: Path) -> None:
    run = shlex.join([*kc.KCONFORM, "run", "-q", "--family", "clone3", "--json", "r.json"])
    p = _shell(f"{run} >/dev/full 2>err; echo $? >rc", tmp_path)
    assert p.returncode == 0, p.stderr
    err = (tmp_path / "err").read_text()
    assert (tmp_path / "rc").read_text().strip() == "3", err[-2000:]
    _one_error_line(err, "ENOSPC")
    _incomplete(kc.load(tmp_path / "r.json"), "an output error on stdout (ENOSPC")


def test_removed_working_directory_is_an_incomplete_run(tmp_path: Path) -> None:
    cwd, report = tmp_path / "cwd", tmp_path / "r.json"
    cwd.mkdir()
    proc = subprocess.Popen([*kc.KCONFORM, "run", "-q", "--json", str(report)], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while not report.exists():  # the provisional report: the run has started
        assert time.monotonic() < deadline and proc.poll() is None, "no provisional report"
        time.sleep(0.02)
    time.sleep(2)  # into the cases, usually
    cwd.rmdir()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err[-2000:]
    _one_error_line(err, "working directory")
    _incomplete(kc.load(report), "the removal of its working directory")


# --------------------------------------------------------------------------- what the teardowns restored


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "n2"])
def test_interrupted_report_says_what_the_teardown_restored(tmp_path: Path, workers: list[str]) -> None:
    (tmp_path / "test_scripted.py").write_text(CASES)
    value, mark, report = tmp_path / "value", tmp_path / "mark", tmp_path / "r.json"
    value.write_text("0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path / "test_scripted.py"),
         "-k", "value-and-hang", "--kc-json", str(report), *workers], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "KC_TEST_MARK": str(mark), "KC_TEST_VALUE": str(value)})
    deadline = time.monotonic() + 60
    while not mark.exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate(timeout=30)[0][-2000:]
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 143, out[-2000:]
    assert value.read_text() == "0"
    record = kc.load(report)
    restored = record["properties"].get("run.restored", "")
    assert "test.value was '2', restored to '0'" in restored, record["properties"]
    assert "the teardowns restored: " in _incomplete(record, "SIGTERM")


@pytest.mark.parametrize(("redirect", "stream"), [(">&- 2>err", "stdout"), (">out 2>&-", "stderr")],
                         ids=["stdout", "stderr"])
def test_closed_descriptor_is_an_incomplete_run(tmp_path: Path, redirect: str, stream: str) -> None:
    run = shlex.join([*kc.KCONFORM, "run", "-q", "--family", "clone3", "-k", "size", "--json", "r.json"])
    p = _shell(f"touch err; {run} {redirect}; echo $? >rc", tmp_path)
    assert p.returncode == 0, p.stderr
    err = (tmp_path / "err").read_text()
    assert (tmp_path / "rc").read_text().strip() == "3", err[-2000:]
    if stream == "stdout":
        _one_error_line(err, "stdout is closed")
    _incomplete(kc.load(tmp_path / "r.json"), f"an output error on {stream} (EBADF: {stream} is closed)")


def test_closed_stdout_pipe_under_plain_pytest(tmp_path: Path) -> None:
    """The plugin guards pytest's own terminal output too: ``pytest cases/ | head`` is cut short, not green."""
    cases = Path(__file__).resolve().parents[1] / "cases"
    run = shlex.join([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", str(cases), "--kc-json",
                      "r.json"])
    p = _shell(f"{run} 2>err | head -5 >/dev/null; echo ${{PIPESTATUS[0]}} >rc", tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "rc").read_text().strip() == "141", (tmp_path / "err").read_text()[-2000:]
    _incomplete(kc.load(tmp_path / "r.json"), "an output error on stdout (EPIPE")


# --------------------------------------------------------------------------- a slow, non-blocking stdout


def _pipe(size: int = 4096) -> tuple[int, int]:
    """A small pipe whose write end is non-blocking (as a CI runner may hand one over: O_NONBLOCK is the
    open file's, shared with whoever set it)."""
    import fcntl

    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, size)
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    return r, w


def _drain(fd: int, after_s: float) -> tuple[list[bytes], Any]:
    import threading

    chunks: list[bytes] = []

    def read() -> None:
        time.sleep(after_s)  # the pipe fills meanwhile: writes get EAGAIN
        while data := os.read(fd, 65536):
            chunks.append(data)
            time.sleep(0.001)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return chunks, t


def test_nonblocking_stdio_is_waited_on_and_written_fully(tmp_path: Path) -> None:
    """stdout and stderr on one non-blocking pipe that is full for seconds: the run waits for the reader,
    completes, and every line arrives (no output error, no EAGAIN)."""
    r, w = _pipe()
    chunks, reader = _drain(r, after_s=3)
    try:
        proc = subprocess.run([*kc.KCONFORM, "run", "-v", "--family", "clone3", "--json", "r.json"],
                              cwd=tmp_path, stdout=w, stderr=w, stdin=subprocess.DEVNULL, timeout=300)
    finally:
        os.close(w)
        reader.join(timeout=60)
        os.close(r)
    out = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, out[-3000:]
    assert "output error" not in out and "EAGAIN" not in out, out[-3000:]
    record = kc.load(tmp_path / "r.json")
    assert record["properties"].get("run.complete") != "no", record["properties"]
    assert len(out) > 3 * 4096 and " passed" in out.splitlines()[-1], out[-500:]  # the pipe was full for long
    assert out.count(" PASSED ") == sum(c["verdict"] == "pass" for c in record["cases"]) > 20


def test_nonblocking_stdio_without_a_reader_is_an_output_error_after_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.runner import stdio

    monkeypatch.setattr(stdio, "STALL_S", 0.3)
    r, w = _pipe()
    try:
        t0 = time.monotonic()
        with pytest.raises(BlockingIOError):
            stdio.write_all(w, b"x" * 100_000)
        assert 0.3 <= time.monotonic() - t0 < 10
        chunks, reader = _drain(r, after_s=0.1)
        stdio.write_all(w, b"y" * 100_000)  # a reader that makes room: written fully
        os.close(w)
        w = -1
        reader.join(timeout=30)
        assert b"".join(chunks).count(b"y") == 100_000
    finally:
        if w >= 0:
            os.close(w)
        os.close(r)

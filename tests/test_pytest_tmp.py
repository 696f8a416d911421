"""pytest's temporary directories are kconform's own: another user who plants ``$TMPDIR/pytest-of-<user>``
(a directory or a symlink) cannot abort a ``-n`` run, and a run leaves no ``pytest-N`` behind, also when
it is interrupted.  The same holds for plain ``pytest cases/`` in a checkout (the plugin arranges it)."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.host import paths
from tests.helpers import kc

NOBODY = 65534


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A sticky world-writable directory in the system's temporary directory (pytest's own tmp_path is
    private to us, so no other user could plant anything there)."""
    d = Path(tempfile.mkdtemp(prefix="kconform-selftest-"))
    d.chmod(0o1777)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _planted(tmpdir: Path, how: str) -> Path:
    """A world-writable TMPDIR where uid 65534 made pytest-of-<us> first."""
    target = tmpdir / f"pytest-of-{getpass.getuser()}"
    cmd = ["mkdir", str(target)] if how == "dir" else ["ln", "-s", "/", str(target)]
    subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd], check=True,
                   timeout=30)
    return tmpdir


def _ours_left() -> set[str]:
    return {p.name for p in paths.private_dir().glob(f"{paths.PYTEST_PREFIX}*")}


@pytest.mark.parametrize("how", ["dir", "symlink"])
@pytest.mark.parametrize("command", ["kconform", "pytest"])
def test_planted_pytest_of_user_does_not_abort_a_parallel_run(tmp_path: Path, shared_tmp: Path, how: str,
                                                                command: str) -> None:
    kc.need_root()
    kc.need_program("setpriv")
    tmpdir = _planted(shared_tmp, how)
    before = _ours_left()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    if command == "kconform":
        argv = [*kc.KCONFORM, "run", "-q", "-n", "2", "--family", "clone3", "-k", "size"]
    else:
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                str(Path(__file__).parents[1] / "cases" / "clone3"), "-k", "size"]
    p = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert "INTERNALERROR" not in p.stdout + p.stderr
    assert sorted(q.name for q in tmpdir.iterdir()) == [f"pytest-of-{getpass.getuser()}"]  # only the planted one
    assert _ours_left() <= before


def test_interrupted_parallel_run_removes_its_temporary_directories(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    report = tmp_path / "r.json"
    before = _ours_left()
    proc = subprocess.Popen([*kc.KCONFORM, "run", "-q", "-n", "2", "--json", str(report)], cwd=tmp_path,
                            env={**os.environ, "TMPDIR": str(tmpdir)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while not report.exists():
        assert time.monotonic() < deadline and proc.poll() is None, "no provisional report"
        time.sleep(0.02)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert not [q.name for q in tmpdir.iterdir() if q.name.startswith("pytest-of-")]
    assert _ours_left() <= before

"""Where QA really runs: other users' runs, small limits, a signal during a long kernel wait.

* A root run changes ``kernel.io_uring_disabled`` while a uid-65534 run executes io_uring cases:
  no case may fail; an overlapped case is an error naming the change (or the runs ordered
  themselves through the machine-wide lock).
* ``ulimit -u 8`` and ``ulimit -n 64``: skips or errors naming the limit, never a fail.
* SIGINT while ``idle-timeout.iowq`` waits out the kernel's 5 s idle timeout: exit within ~1.5 s.
* The machine-wide lock's files: a planted symlink, fifo or writable file is never used.
"""

from __future__ import annotations

import collections
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.host import procfs
from conformance.isolation import machine
from conformance.isolation.globalstate import IO_URING_DISABLED
from tests.helpers import kc

NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]


def _verdicts(record: dict[str, Any]) -> dict[str, int]:
    return dict(collections.Counter(c["verdict"] for c in record["cases"]))


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A directory uid 65534 can write, after checking that it can run this interpreter and checkout."""
    kc.need_root()
    kc.need_program("setpriv")
    probe = subprocess.run([*NOBODY, sys.executable, "-c", "import conformance.runner.plugin"], capture_output=True,
                           cwd="/", timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"uid 65534 cannot run this installation: {probe.stderr.decode()[-200:]}")
    d = Path(tempfile.mkdtemp(prefix="kconform-selftest-"))
    d.chmod(0o777)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _writable_disabled() -> None:
    if not os.access(IO_URING_DISABLED.path, os.W_OK):
        pytest.skip("needs a writable kernel.io_uring_disabled")


# --------------------------------------------------------------------------- another user's change


def _toggle(stop: threading.Event, count: list[int]) -> None:
    """A root run past its bounded wait: announces each change, takes no lock, restores at once."""
    path = Path(IO_URING_DISABLED.path)
    original = path.read_text().strip()
    while not stop.is_set():
        machine.announce_start("selftest/toggle", [(IO_URING_DISABLED.what, original)])
        try:
            path.write_text("2")
            time.sleep(0.3)  # changed most of the time: a run of a few short cases must overlap it
        finally:
            path.write_text(original)
            machine.announce_end([(IO_URING_DISABLED.what, original)])
        count[0] += 1
        time.sleep(0.05)


def test_overlapped_change_is_an_error_naming_it(nobody_dir: Path) -> None:
    _writable_disabled()
    before = Path(IO_URING_DISABLED.path).read_text().strip()
    if before != "0":
        pytest.skip(f"kernel.io_uring_disabled is {before} here")
    stop, count = threading.Event(), [0]
    toggler = threading.Thread(target=_toggle, args=(stop, count))
    toggler.start()
    runs: list[dict[str, int]] = []
    try:
        # Whether one of a few short cases meets a change start or end is a matter of timing (a run of 7
        # cases took 0.7 s and met none once): up to 5 runs, until one does.
        for attempt in range(5):
            out = nobody_dir / f"r{attempt}.json"
            done = kc.run(["run", "-q", "--family", "io_uring", "-k", "sqpoll or sigkill", "--json", str(out)],
                          nobody_dir, prefix=NOBODY)
            record = kc.load(out)
            verdicts = _verdicts(record)
            runs.append(verdicts)
            assert verdicts.get("fail", 0) == 0, (verdicts, done.out[-3000:])
            for c in record["cases"]:
                if c["verdict"] == "error":
                    assert "kernel.io_uring_disabled" in c["message"] \
                        and f"kconform pid {os.getpid()}" in c["message"] and "selftest/toggle" in c["message"] \
                        and "'0'" in c["message"], c
            if verdicts.get("error", 0) > 0:
                break
    finally:
        stop.set()
        toggler.join()
    assert Path(IO_URING_DISABLED.path).read_text().strip() == before
    assert count[0] > 0 and runs[-1].get("error", 0) > 0, f"no case overlapped {count[0]} changes: {runs}"


def test_runs_of_two_users_order_themselves(nobody_dir: Path) -> None:
    """A real root loop of the io_uring_disabled rows beside a uid-65534 run: no fail, no stray error."""
    _writable_disabled()
    stop = threading.Event()
    roots: list[kc.Done] = []
    root_dir = Path(tempfile.mkdtemp(prefix="kconform-selftest-root-"))

    def loop() -> None:
        while not stop.is_set():
            roots.append(kc.run(["run", "-q", "--family", "io_uring", "-k", "disabled"], root_dir))

    looper = threading.Thread(target=loop)
    looper.start()
    try:
        time.sleep(1.0)
        out = nobody_dir / "r.json"
        done = kc.run(["run", "-q", "--family", "io_uring", "-k", "sqpoll or sigkill", "--json", str(out)],
                      nobody_dir, prefix=NOBODY)
    finally:
        stop.set()
        looper.join()
        shutil.rmtree(root_dir, ignore_errors=True)
    record = kc.load(out)
    assert _verdicts(record).get("fail", 0) == 0, done.out[-3000:]
    stray = [r for r in kc.red(record) if "changed while it ran" not in r]
    assert stray == [], stray
    assert roots and all(r.rc == 0 for r in roots), [r.out[-1500:] for r in roots if r.rc]


# --------------------------------------------------------------------------- small limits


def _limited(resource: str, soft: int) -> list[str]:
    """uid 65534 under a soft limit, as ``ulimit -S`` leaves it: set by prlimit before the switch, so the
    interpreter is started by setpriv itself (a shell of uid 65534 in between may be refused an interpreter
    that lives below a directory only root can search)."""
    return [kc.need_program("prlimit"), f"--{resource}={soft}:", "--", *NOBODY]


def test_small_nproc_limit_is_named_never_a_fail(nobody_dir: Path) -> None:
    out = nobody_dir / "r.json"
    done = kc.run(["run", "-q", "--family", "pidfd", "-k", "scope", "--json", str(out)], nobody_dir,
                  prefix=_limited("nproc", 8))
    record = kc.load(out)
    assert _verdicts(record).get("fail", 0) == 0, done.out[-3000:]
    assert "RLIMIT_NPROC (ulimit -u) is 8" in record["properties"].get("run.limits", ""), record["properties"]
    for c in record["cases"]:
        if c["verdict"] == "error":
            assert "RLIMIT_NPROC (ulimit -u) is 8" in c["message"], c


def test_small_fd_limit_is_named_never_a_fail(nobody_dir: Path) -> None:
    out = nobody_dir / "r.json"
    done = kc.run(["run", "-q", "--family", "resolve_cached", "-k", "magic-link or warm-file", "--json", str(out)],
                  nobody_dir, prefix=_limited("nofile", 64))
    record = kc.load(out)
    verdicts = _verdicts(record)
    assert verdicts.get("fail", 0) == 0 and verdicts.get("error", 0) == 0, done.out[-3000:]
    assert verdicts.get("pass", 0) > 0, verdicts  # the process server answers under 64 fds
    fd100 = [c for c in record["cases"] if c["name"].startswith("proc-self-fd-magic-link")]
    assert fd100 and all(c["verdict"] == "skip" and "RLIMIT_NOFILE 64" in c["message"] for c in fd100), fd100


# --------------------------------------------------------------------------- a signal in a long wait


def test_sigint_during_idle_timeout_exits_within_a_second_and_a_half(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.Popen([*kc.KCONFORM, "run", "-q", "--family", "user_workers", "-k", "idle-timeout.iowq",
                             "--json", str(out)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while not any(procfs.children_of(s) for s in procfs.children_of(proc.pid)):  # the scenario runs
            assert proc.poll() is None and time.monotonic() < deadline, "the case never started"
            time.sleep(0.02)
        time.sleep(1.0)  # well inside the kernel's 5 s idle timeout
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    record = kc.load(out)
    assert rc == 130 and record["properties"]["run.complete"] == "no", record["properties"]
    assert took < 1.5, f"exit took {took:.2f} s after SIGINT"


# --------------------------------------------------------------------------- the lock files themselves


@pytest.fixture
def shared_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """machine.DIR in a directory like /run: owned by this uid, writable by nobody else."""
    parent = tmp_path / "run"
    parent.mkdir(mode=0o755)
    parent.chmod(0o755)
    monkeypatch.setattr(machine, "DIR", parent / "kconform-shared")
    monkeypatch.setattr(machine, "_FDS", {})  # nothing opened from the real directory
    monkeypatch.setattr(machine, "_DIR_HOLD", None)
    return machine.DIR


def test_lock_files_are_made_by_the_owner_of_their_parent(shared_dir: Path) -> None:
    fd = machine._open(machine.GATE)
    assert fd is not None
    os.close(fd)
    st = os.lstat(shared_dir / machine.GATE)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(shared_dir).st_mode) == 0o755


def test_planted_lock_files_are_never_used(shared_dir: Path, tmp_path: Path) -> None:
    shared_dir.mkdir(mode=0o755)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (shared_dir / machine.GATE).symlink_to(victim)
    os.mkfifo(shared_dir / machine.MAIN)  # opening it must not block
    (shared_dir / machine.CHANGES).write_text('{"seq": 7}')
    (shared_dir / machine.CHANGES).chmod(0o666)
    t0 = time.monotonic()
    assert machine._open(machine.GATE) is None and machine._open(machine.MAIN) is None
    assert machine.read_announcement() == {}
    assert time.monotonic() - t0 < 1.0 and victim.read_text() == "keep"
    hold = machine.Hold()
    hold.acquire(exclusive=True)  # no usable lock: nothing held, nothing waited for
    assert hold.held == [] and hold.missed == ""


def test_a_writable_parent_or_foreign_directory_is_not_trusted(shared_dir: Path) -> None:
    shared_dir.parent.chmod(0o1777)  # like /tmp: anyone could have made the directory
    assert machine._open(machine.GATE) is None
    shared_dir.parent.chmod(0o755)
    shared_dir.mkdir(mode=0o755)
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory away")
    os.chown(shared_dir, 65534, 65534)
    assert machine._open(machine.GATE) is None


def test_a_held_lock_is_waited_for_boundedly(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    fd = machine._open(machine.MAIN)
    assert fd is not None
    other = os.open(shared_dir / machine.MAIN, os.O_RDONLY)
    fcntl.flock(other, fcntl.LOCK_EX)  # as any user could, through a read-only open
    monkeypatch.setattr(machine, "WAIT_S", 0.3)
    monkeypatch.setattr(machine, "_short_waits", False)
    try:
        hold = machine.Hold()
        t0 = time.monotonic()
        hold.acquire(exclusive=False)
        assert 0.25 < time.monotonic() - t0 < 2.0 and hold.held == []
        assert "was not obtained in 0.3 s" in hold.missed and f"pid {os.getpid()}" in hold.missed, hold.missed
    finally:
        os.close(other)
        os.close(fd)


def test_rlimit_below_fd_100_is_a_skip_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.suite.requirements import FdNumber

    monkeypatch.setattr(resource, "getrlimit", lambda which: (64, 4096))
    assert FdNumber(100).unmet() == "needs fd 100, at or above the soft RLIMIT_NOFILE 64 (ulimit -n)"


# --------------------------------------------------------------------------- declarations


def test_every_io_uring_row_declares_what_it_reads() -> None:
    """A row that needs an io_uring (any io_uring probe) depends on io_uring_disabled: it says so, or it
    is a row that changes it (and so reads it too)."""
    from tests.test_tables import TABLES

    missing = []
    for family, cases in TABLES.items():
        for c in cases:
            uses = any(getattr(n, "probe", "").startswith("io_uring") for n in c.needs)
            declared = {r.what for r in (*c.reads, *c.changes)}
            if uses and IO_URING_DISABLED.what not in declared:
                missing.append(f"{family}/{c.id}")
    assert missing == []


def test_the_last_user_of_the_shared_directory_removes_it(shared_dir: Path) -> None:
    """Each process holds the directory shared while it uses it; the owner's last process removes it
    (here: this process's hold is released as at its exit, while another holds it, then alone)."""
    import fcntl

    fd = machine._open(machine.MAIN)
    assert fd is not None and shared_dir.is_dir()
    announced = machine._DIR_HOLD
    assert announced is not None and announced[1] in machine.harness_fds()
    other = os.open(shared_dir, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(other, fcntl.LOCK_SH)  # another run (any user) uses it
    machine._leave()
    assert (shared_dir / machine.MAIN).exists() and machine._DIR_HOLD is None
    os.close(other)
    os.close(fd)
    fd = machine._open(machine.GATE)  # used again: held again
    assert fd is not None and machine._DIR_HOLD is not None
    os.close(fd)
    machine._leave()
    assert not shared_dir.exists()
    fd = machine._open(machine.GATE)  # the next run makes it again
    assert fd is not None and shared_dir.is_dir()
    os.close(fd)
    machine._leave()

"""Global state: declared changes restored, killed runs repaired, other people's changes left alone.

The end-to-end tests run real pytest processes with scripted cases and kill
them with a real SIGKILL in the middle of a change; the next run must repair
the change and say so.  Those that write kernel.io_uring_disabled need root
with a writable /proc/sys, and put the value back whatever happens.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from conformance.host import kernel, procfs
from conformance.isolation import globallock, globalstate
from conformance.isolation.globalstate import Entry, Journal
from conformance.isolation.snapshot import SystemState

DISABLED = "/proc/sys/kernel/io_uring_disabled"
GROUP = "/proc/sys/kernel/io_uring_group"

CASES = '''
import os, time

from conformance.host.records import record
from pathlib import Path
from conformance.isolation import globalstate
from conformance.suite.case import AllOf, Case
from conformance.isolation.globallock import Lock
from conformance.isolation.globalstate import Sysctl
import pytest

MARK = Path(os.environ["KC_TEST_MARK"])
VALUE = Path(os.environ["KC_TEST_VALUE"])

@record(frozen=True)
class FileValue:  # a stand-in for a sysctl, for the mechanism alone
    what: str = "sysctl test.value"

    @property
    def path(self) -> str:
        return str(VALUE)

@record(frozen=True, kw_only=True)
class Scripted(Case[str]):
    action: str = "pass"

    def observe(self) -> str:
        if self.action == "disable-and-hang":
            Path("/proc/sys/kernel/io_uring_disabled").write_text("2")
            MARK.write_text("changed")
            time.sleep(30)
        if self.action == "value-and-hang":
            VALUE.write_text("2")
            MARK.write_text("changed")
            time.sleep(30)
        if self.action == "cgroup-and-hang":
            with globalstate.temp_cgroup() as (path, _):
                MARK.write_text(str(path))
                time.sleep(30)
        if self.action == "disable-and-leave":
            Path("/proc/sys/kernel/io_uring_disabled").write_text("2")
        if self.action == "outside-change":  # stands for an administrator's concurrent write
            Path("/proc/sys/kernel/io_uring_group").write_text(os.environ["KC_TEST_GROUP"])
        return "ok"

    def describe(self, obs: str) -> str:
        return obs

def row(action: str, **kw) -> Scripted:
    return Scripted(id=action, behaviour="clone3.basic", action=action, expect=AllOf(()), **kw)

DISABLE = (Sysctl("kernel.io_uring_disabled"),)
CASES = [row("disable-and-hang", changes=DISABLE),
         row("cgroup-and-hang"),
         row("value-and-hang", changes=(FileValue(),)),
         row("disable-and-leave", changes=DISABLE),
         # exclusive, but without declaring the change: to the guards the write is someone else's
         row("outside-change", lock=Lock.EXCLUSIVE),
         row("pass")]

@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scripted(case, kc):
    kc.check(case)
'''


def _read(path: str) -> str:
    """Under the global lock, shared: concurrent runs change these values only holding it exclusively."""
    with globallock.held(globallock.Lock.SHARED):
        return Path(path).read_text().strip()


def _sysctl_writable(path: str) -> bool:
    return os.geteuid() == 0 and os.access(path, os.W_OK) and kernel.facts().creds.privileged


@pytest.fixture
def scripted(tmp_path: Path) -> Path:
    (tmp_path / "test_scripted.py").write_text(CASES)
    return tmp_path


def _pytest(where: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", str(where / "test_scripted.py"),
         *args], cwd=where, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "KC_TEST_MARK": str(where / "mark"), "KC_TEST_VALUE": str(where / "value"),
             **(env or {})})


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.communicate(timeout=10)[0] if proc.poll() is not None else ""
            proc.kill()
            pytest.fail(f"the scripted run never reached its change:\n{out}")
        time.sleep(0.005)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def _next_run(where: Path, env: dict[str, str] | None = None) -> str:
    proc = _pytest(where, "-k", "pass and not disable", env=env)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    return out


@contextlib.contextmanager
def _kept(path: str) -> Iterator[str]:
    """The value of a sysctl, written back whatever the test does."""
    original = _read(path)
    try:
        yield original
    finally:
        with globallock.held(globallock.Lock.EXCLUSIVE):  # no other run's case sees the transition
            if Path(path).read_text().strip() != original:
                Path(path).write_text(original)


# --------------------------------------------------------------------------- the journal itself


def _dead_owner() -> tuple[int, int]:
    proc = subprocess.Popen(["true"])
    pid = proc.pid
    st = procfs.stat_of(pid)
    proc.wait()
    return pid, st.start_time if st is not None else 1


def test_replay_restores_a_dead_owners_value_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "value"
    target.write_text("2\n")
    jdir = tmp_path / "journal"
    jdir.mkdir(mode=0o700)
    pid, start = _dead_owner()
    (jdir / f"{pid}.{start}.1.json").write_text(json.dumps(
        {"kind": "value", "target": str(target), "what": "sysctl test.value", "saved": "0"}))
    lines = Journal(jdir).replay()
    assert lines == [f"repaired: sysctl test.value was '2', restored to '0' (left by kconform process {pid}, "
                     "which ended without restoring)"]
    assert target.read_text() == "0" and list(jdir.iterdir()) == []


def test_replay_leaves_a_live_owners_entry_alone(tmp_path: Path) -> None:
    target = tmp_path / "value"
    target.write_text("2")
    jdir = tmp_path / "journal"
    jdir.mkdir(mode=0o700)
    live = Journal(jdir)  # this very process: a concurrent run, as far as replay can tell
    entry = live.add(Entry("value", str(target), "sysctl test.value", "0"))
    assert Journal(jdir).replay() == []
    assert target.read_text() == "2" and entry is not None and entry.exists()


def test_replay_removes_a_dead_owners_directory(tmp_path: Path) -> None:
    left = tmp_path / "kconform-fixture"
    (left / "sub").mkdir(parents=True)
    jdir = tmp_path / "journal"
    jdir.mkdir(mode=0o700)
    pid, start = _dead_owner()
    (jdir / f"{pid}.{start}.1.json").write_text(json.dumps(
        {"kind": "dir", "target": str(left), "what": f"scratch {left}"}))
    assert Journal(jdir).replay() == [f"repaired: scratch {left} removed (left by kconform process {pid}, which "
                                      "ended without restoring)"]
    assert not left.exists()


def test_changing_restores_and_reports_a_left_value(tmp_path: Path) -> None:
    target = tmp_path / "value"
    target.write_text("0")

    class Fake:
        what = "sysctl test.value"
        path = str(target)

    with globalstate.changing([Fake()]) as leaks:
        target.write_text("2")
    assert leaks == ["sysctl test.value was '2', restored to '0'"] and target.read_text() == "0"


def test_system_state_counts_only_tagged_processes(tmp_path: Path) -> None:
    before = SystemState.take(tag="kc-test-tag")
    tagged = subprocess.Popen(["sleep", "30"], env={**os.environ, "KCONFORM_TAG": "kc-test-tag"})
    other = subprocess.Popen(["sleep", "30"])  # unrelated work on the machine
    try:
        # Popen returns once execve() has closed the CLOEXEC error pipe, which is before the new image's
        # environment is set up: until then /proc/<pid>/environ reads empty (seen under load in CI).
        deadline = time.monotonic() + 5
        while not Path(f"/proc/{tagged.pid}/environ").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.005)
        diff = [d for d in before.diff(SystemState.take(tag="kc-test-tag")) if d.startswith("process")]
    finally:
        for p in (tagged, other):
            p.kill()
            p.wait()
    assert diff == [f"process added: {tagged.pid} sleep"]


def test_system_state_sets_aside_what_an_untagged_run_made() -> None:
    """With a tag, a cgroup of a live untagged run (by the pid in its name), and any unattributable name
    while such a run lives, are set aside; this run's cgroups (a pid of none of them) still count."""
    base = SystemState({}, (), (), (), (), 0, "t", ())
    after = SystemState({}, ("a/kconform-4242-77", "a/kconform-17-5"), (), ("/tmp/kconform-0-run-ab12",), (), 0, "t",
                        (4242,))
    problems, aside = base.compare(after)
    assert problems == ["cgroup added: a/kconform-17-5"]
    assert aside == ["cgroup added: a/kconform-4242-77 (of process 4242, an untagged run)",
                     "file added: /tmp/kconform-0-run-ab12 (not attributable while untagged runs lived: pid 4242)"]
    alone = SystemState({}, after.cgroups, (), after.files, (), 0, "t", ())
    assert len(base.compare(alone)[0]) == 3 and base.diff(alone) == base.compare(alone)[0]


def test_runner_processes_by_command_line() -> None:
    from conformance.isolation.snapshot import is_runner

    def argv(line: str) -> list[bytes]:
        return [w.encode() for w in line.split()]

    for yes in ("/x/.venv/bin/kconform run -q", "pytest tests", "python3 -P -m conformance.cli.parts --parts 2",
                "/usr/bin/python3.11 -X dev -m pytest -n 2", "python3 /x/bin/kconform vm", "python -u /x/pytest"):
        assert is_runner(argv(yes)), yes
    for no in ("bash /builds/kconform/tests/check.sh", "sleep 30", "python3 -m http.server", "python3",
               "vim kconform.py", ""):
        assert not is_runner(argv(no)), no


# --------------------------------------------------------------------------- real runs, real SIGKILL


needs_disabled_sysctl = pytest.mark.skipif(not _sysctl_writable(DISABLED),
                                           reason="needs root with a writable kernel.io_uring_disabled")


def _other_kconform_runs() -> list[int]:
    """Processes outside this test's tree with kconform's C extension loaded: other runs on the machine."""
    mine = {os.getpid()}
    pid = os.getpid()
    while pid > 1 and (st := procfs.stat_of(pid)) is not None:  # ancestors
        pid = st.ppid
        mine.add(pid)
    out = []
    for p in procfs.pids():
        if p in mine:
            continue
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
            if any(a.endswith(b"kconform") and b in (b"vm", b"kernels", b"report") for a, b in pairwise(argv)):
                continue  # these do not touch the host's sysctls
            if argv[1:3] == [b"-m", b"conformance.isolation.guardian"] and argv[3:4] == [str(os.getpid()).encode()]:
                continue  # the guardian of this very process (a test that journaled a change in-process)
            if b"/conformance/_native" in Path(f"/proc/{p}/maps").read_bytes():
                out.append(p)
    return out


def _alone() -> None:
    """The real sysctl must not be touched by another run meanwhile (an older guard reverts what it sees
    change): with other runs on the machine these tests skip; the mechanism is proved on a file above."""
    others = _other_kconform_runs()
    if others:
        pytest.skip(f"other kconform runs on this machine (pids {', '.join(map(str, others[:5]))})")


def _guardian_of(pid: int, timeout: float = 20.0) -> int:
    want = [b"-m", b"conformance.isolation.guardian", str(pid).encode()]  # detached: not a child of the run
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # sh may not have exec-ed it yet
        for p in procfs.pids():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[1:4] == want:
                    return p
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"no guardian for process {pid}")


def _gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while procfs.stat_of(pid) is not None and procfs.stat_of(pid).state != "Z":  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"process {pid} still there"
        time.sleep(0.01)


def _kill_run(proc: subprocess.Popen[str], guardian_too: bool) -> None:
    """SIGKILL the run (and first its guardian, as when everything is killed at once); wait for the rest."""
    g = _guardian_of(proc.pid)
    if guardian_too:
        os.kill(g, signal.SIGKILL)
        _gone(g)
    _kill(proc)
    _gone(g)


BY = {False: "(by the guardian, when kconform process", True: "(left by kconform process"}


@pytest.mark.parametrize("guardian_too", [False, True], ids=["guardian-restores", "next-run-repairs"])
def test_sigkill_during_a_declared_change(scripted: Path, guardian_too: bool) -> None:
    value = scripted / "value"
    value.write_text("0")
    proc = _pytest(scripted, "-k", "value-and-hang")
    _wait_for(scripted / "mark", proc)
    _kill_run(proc, guardian_too)
    assert value.read_text() == ("2" if guardian_too else "0")
    out = _next_run(scripted)
    assert value.read_text() == "0"
    assert f"repaired: sysctl test.value was '2', restored to '0' {BY[guardian_too]}" in out


@needs_disabled_sysctl
@pytest.mark.parametrize("guardian_too", [False, True], ids=["guardian-restores", "next-run-repairs"])
def test_sigkill_during_io_uring_disabled_change(scripted: Path, guardian_too: bool) -> None:
    _alone()
    with _kept(DISABLED) as original:
        if original != "0":
            pytest.skip(f"kernel.io_uring_disabled is {original}, set outside this test")
        proc = _pytest(scripted, "-k", "disable-and-hang")
        _wait_for(scripted / "mark", proc)
        _kill_run(proc, guardian_too)
        assert _read(DISABLED) == ("2" if guardian_too else "0")
        out = _next_run(scripted)
        assert _read(DISABLED) == "0"
        assert f"repaired: sysctl kernel.io_uring_disabled was '2', restored to '0' {BY[guardian_too]}" in out


@pytest.mark.skipif(kernel.cgroup2_self() is None or not os.access(kernel.cgroup2_self() or "/", os.W_OK),
                    reason="needs a writable cgroup v2 directory")
@pytest.mark.parametrize("guardian_too", [False, True], ids=["guardian-restores", "next-run-repairs"])
def test_sigkill_inside_a_temp_cgroup(scripted: Path, guardian_too: bool) -> None:
    # A journal of its own: another kconform run of this user on the machine would repair the group first.
    private = scripted / "private"
    private.mkdir(mode=0o700)
    iso = {"KCONFORM_PRIVATE_DIR": str(private)}
    proc = _pytest(scripted, "-k", "cgroup-and-hang", env=iso)
    _wait_for(scripted / "mark", proc)
    time.sleep(0.05)
    group = Path((scripted / "mark").read_text())
    _kill_run(proc, guardian_too)
    assert group.is_dir() == guardian_too
    out = _next_run(scripted, env=iso)
    assert not group.exists()
    assert f"repaired: cgroup {group} removed {BY[guardian_too]}" in out


@needs_disabled_sysctl
def test_a_declared_change_left_behind_is_a_leak_and_restored(scripted: Path) -> None:
    _alone()
    with _kept(DISABLED) as original:
        if original != "0":
            pytest.skip(f"kernel.io_uring_disabled is {original}, set outside this test")
        proc = _pytest(scripted, "-k", "disable-and-leave")
        out = proc.communicate(timeout=120)[0]
        assert _read(DISABLED) == "0"
        assert "leaked: sysctl kernel.io_uring_disabled was '2', restored to '0'" in out


@pytest.mark.skipif(not _sysctl_writable(GROUP), reason="needs root with a writable kernel.io_uring_group")
def test_someone_elses_change_is_neither_reverted_nor_blamed(scripted: Path) -> None:
    _alone()
    with _kept(GROUP) as original:
        changed = str(int(original) + 7 if original.lstrip("-").isdigit() else 7)
        proc = _pytest(scripted, "-k", "outside-change", env={"KC_TEST_GROUP": changed})
        out = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, out  # no leak blamed on the case
        assert _read(GROUP) == changed  # and nothing reverted
        assert f"sysctl kernel.io_uring_group changed '{original}' -> '{changed}' during the run, not by this run" \
            in out


def test_run_metadata_says_io_uring_was_disabled_by_someone_else() -> None:
    state = globalstate.RunState(())
    state.before = {"kernel.io_uring_disabled": "2"}
    state.repaired, state.notes = [], []
    assert state.properties()["system.io_uring_disabled"] == "2 (set outside this run: io_uring cases skip)"
    assert state.lines() == ["kernel.io_uring_disabled is 2, set outside this run: io_uring cases skip"]


def test_the_io_uring_probe_names_a_disabled_sysctl_set_outside_the_run(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    from conformance import native
    from conformance.suite import probes

    probe = probes.all_probes()["io_uring"].run
    family = sys.modules[probe.__module__]  # the io_uring family's package, however it is installed
    wire = sys.modules[f"{probe.__module__}.wire"]
    fake = tmp_path / "io_uring_disabled"
    fake.write_text("2\n")
    monkeypatch.setattr(family, "DISABLED_PATH", str(fake))
    monkeypatch.setattr(family, "_setup_probe",
                        lambda *a, **k: wire.SetupProbe(native.HarnessStatus(native.HarnessError.NONE, 0, 0, 0),
                                                        -errno.EPERM, 0, -61))
    _state, said = probe()
    assert "io_uring disabled machine-wide, set outside this run" in said


def test_an_interrupted_case_s_hold_does_not_block_the_runs_own_clean_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """An interruption skips the case's teardown until the session ends: its shared hold is dropped first,
    so the run's exclusive repair does not wait 60 s on its own lock."""
    monkeypatch.setattr(globallock, "TIMEOUT_S", 0.5)
    case_hold = globallock.Holder()
    case_hold.acquire(globallock.Lock.SHARED)
    globallock.release_all()
    assert case_hold.mode is globallock.Lock.NONE
    with globallock.held(globallock.Lock.EXCLUSIVE):
        pass
    case_hold.release()  # the late teardown: harmless


def test_a_busy_lock_at_the_end_leaves_repairs_to_the_next_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def busy() -> list[str]:
        raise globallock.LockTimeout("global lock main not obtained in 0.5 s (held by pid 1)")

    state = globalstate.RunState(())
    monkeypatch.setattr(globalstate, "replay", busy)
    state.finish()
    assert state.notes == ["repairs left to the next run: global lock main not obtained in 0.5 s (held by pid 1)"]

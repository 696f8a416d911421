"""Containers, user namespaces, capability-less root and seccomp: no false kernel failures.

Each runs the whole suite for real in that setting and wants 0 fail and 0
error, metadata that says what the setting is, and skip reasons that name the
real cause (the namespace, the missing capability, the seccomp filter).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import kc, portable

PY = sys.executable


def _userns_works() -> bool:
    return subprocess.run(["unshare", "-Ur", "true"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def others() -> list[str]:
    """A kconform command line that a uid other than ours can execute."""
    kc.need_root()
    kc.need_program("unshare")
    if not _userns_works():
        pytest.skip("user namespaces are not available here (unshare -Ur true failed)")
    argv = portable.kconform_argv()
    if argv is None:
        pytest.skip("other uids cannot reach a Python interpreter or kconform's installation here "
                    "(a directory on the way is not searchable by others)")
    return argv


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory any uid may write its report into (pytest's tmp_path is private to us)."""
    path = Path(tempfile.mkdtemp(prefix="kconform-selftest-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _suite(tmp: Path, prefix: list[str], argv: list[str]) -> dict[str, Any]:
    out = tmp / "r.json"
    p = subprocess.run([*prefix, *argv, "run", "-q", "--json", str(out)], cwd=tmp, capture_output=True, text=True,
                       timeout=600, stdin=subprocess.DEVNULL)
    assert out.exists(), p.stderr[-3000:]
    record = kc.load(out)
    # red only where the plain host run is red too (a deviation of this kernel, not of the setting)
    extra = [r for r in kc.red(record) if r.split(":", 1)[0] not in _host_red()]
    assert extra == [], p.stdout[-3000:]
    assert p.returncode in (0, 1) and (p.returncode == 0 or kc.red(record)), p.stderr[-2000:]
    return record


@functools.cache
def _host_red() -> frozenset[str]:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "host.json"
        subprocess.run([*kc.KCONFORM, "run", "-q", "--json", str(out)], cwd=d, capture_output=True, timeout=600,
                       stdin=subprocess.DEVNULL)
        return frozenset(r.split(":", 1)[0] for r in kc.red(kc.load(out)))


def _skips(record: dict[str, Any]) -> list[str]:
    return [str(c["message"]) for c in record["cases"] if c["verdict"] == "skip"]


def test_unshare_root(shared: Path, others: list[str]) -> None:
    record = _suite(shared, ["unshare", "-Ur"], others)
    props = record["properties"]
    assert "root in a user namespace" in props["run.privilege"]
    assert props["run.privileged"] == "no"
    assert not any("(run as root)" in m for m in _skips(record))
    assert any("initial user namespace" in m or "pid namespace" in m for m in _skips(record))


def test_container_style_mapping(shared: Path, others: list[str]) -> None:
    record = _suite(shared, [PY, str(kc.HELPERS / "nsrun.py"), "--map", "0:100000:65536", "--"], others)
    assert "uid 0 is uid 100000 outside" in record["properties"]["run.privilege"]


def test_nobody_in_a_user_namespace(shared: Path, others: list[str]) -> None:
    _suite(shared, [PY, str(kc.HELPERS / "nsrun.py"), "--uid", "65534", "--"], others)


def test_unmapped_in_a_user_namespace(shared: Path, others: list[str]) -> None:
    _suite(shared, [PY, str(kc.HELPERS / "nsrun.py"), "--unmapped", "--"], others)


def test_root_without_capabilities(shared: Path, others: list[str]) -> None:
    kc.need_program("setpriv")
    record = _suite(shared, ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all", "--"],
                    others)
    assert record["properties"]["run.privilege"] == "capability-less root"
    assert not any("(run as root)" in m for m in _skips(record))


def test_seccomp_filter_is_named(shared: Path) -> None:
    record = _suite(shared, [PY, str(kc.HELPERS / "seccomp_run.py"), "--errno", "ENOSYS", "--"], kc.KCONFORM)
    assert record["properties"]["run.seccomp"] == "filter"
    clone3 = [m for m in _skips(record) if m.startswith("clone3()")]
    assert clone3 and all("seccomp filter" in m for m in clone3), clone3[:3]
    assert not any("clone3() not available" in m for m in _skips(record))


# --------------------------------------------------------------------------- containers: pid namespaces

PIDNS = ["unshare", "-p", "-f", "--mount-proc"]
NOT_PID1 = [*PIDNS, "sh", "-c", '"$@"; exit $?', "sh"]  # sh stays pid 1 (no exec of the last command)


def _pidns_works() -> bool:
    return subprocess.run([*PIDNS, "true"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def pidns() -> None:
    kc.need_root()
    kc.need_program("unshare")
    if not _pidns_works():
        pytest.skip("pid namespaces are not available here (unshare -p -f --mount-proc true failed)")


def _messages(record: dict[str, Any]) -> list[str]:
    return [str(c["message"]) for c in record["cases"]]


def _case(record: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in record["cases"] if c["name"] == name]
    assert len(found) == 1, name
    return found[0]


def test_pid_namespace_kconform_is_pid1(shared: Path, pidns: None) -> None:
    """The usual docker run: kconform is pid 1 (it stays init and runs itself as its child, so the
    guardian it detaches is never its child and no leak is reported)."""
    record = _suite(shared, PIDNS, kc.KCONFORM)
    assert record["properties"]["run.pidns"] != "initial"
    assert not any("teardown: leaked" in m for m in _messages(record))
    assert _case(record, "set-tid-size-2-one-level")["message"] == "failed with EEXIST"
    assert "initial pid namespace, not visible here" in _case(record, "task-list-names-workers")["message"]


def test_pid_namespace_kconform_not_pid1(shared: Path, pidns: None) -> None:
    record = _suite(shared, NOT_PID1, kc.KCONFORM)
    assert record["properties"]["run.pidns"] != "initial"
    assert _case(record, "set-tid-size-2-one-level")["verdict"] == "pass"
    for name in ("task-list-names-workers", "sqpoll-thread-listed", "thread-self-comm-is-worker",
                 "thread-self-status-is-worker"):
        assert _case(record, name)["verdict"] == "pass", name


def test_pid_namespace_with_the_hosts_proc(shared: Path, pidns: None) -> None:
    """unshare -p -f without --mount-proc: /proc/<pid> names the host's pids; kconform runs itself with a
    /proc of its own pid namespace (a private mount namespace) and says so, instead of 90 false verdicts."""
    record = _suite(shared, ["unshare", "-p", "-f", "sh", "-c", '"$@"; exit $?', "sh"], kc.KCONFORM)
    assert record["properties"]["run.proc"].startswith("own mount namespace with a /proc of this pid namespace")
    assert _case(record, "task-list-names-workers")["verdict"] == "pass"


def test_mapped_user_namespace_with_its_own_pid_namespace(shared: Path, others: list[str], pidns: None) -> None:
    """A container with a 0 -> 100000 mapping and its own pid namespace: every skip names its cause."""
    record = _suite(shared, [PY, str(kc.HELPERS / "nsrun.py"), "--map", "0:100000:65536", "--", *PIDNS], others)
    props = record["properties"]
    assert "uid 0 is uid 100000 outside" in props["run.privilege"] and props["run.pidns"] == "own"
    cgroup = [m for m in _skips(record) if "cgroup v2 directory" in m]
    assert cgroup and all("not mapped in this user namespace" in m for m in cgroup), cgroup[:3]
    assert "cannot be seen from inside" in _case(record, "set-tid-size-2-one-level")["message"]


def test_pid1_passes_sigterm_on(tmp_path: Path, pidns: None) -> None:
    """docker stop: SIGTERM to kconform as pid 1 reaches the runner, which stops as the interruption
    contract says (exit 143, a record that says the run is incomplete)."""
    out = tmp_path / "r.json"
    p = subprocess.Popen([*PIDNS, *kc.KCONFORM, "run", "-q", "--family", "user_workers", "--json", str(out)],
                         cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        init = None
        while init is None and time.monotonic() < deadline:
            kids = [int(x) for t in Path(f"/proc/{p.pid}/task").iterdir()
                    for x in (t / "children").read_text().split()] if p.poll() is None else []
            init = kids[0] if kids else None
            time.sleep(0.05)
        assert init is not None, "unshare's child (pid 1 inside) not found"
        while time.monotonic() < deadline and not out.exists():
            time.sleep(0.1)
        time.sleep(2)  # into the cases
        os.kill(init, signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 143, err[-2000:]
    record = kc.load(out)
    assert record["properties"]["run.complete"] == "no"
    assert any(c["name"] == "interrupted" for c in record["cases"])

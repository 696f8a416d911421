"""Self-tests of the io_uring / openat2 C helpers and their probes, on the real kernel.

No mocks: every test calls into conformance._native through conformance.native.uring (the open scenario) and
the families' wire modules (io_uring's scenarios and thread list, resolve_cached's openat2 and statfs).
Tests that need io_uring skip (naming the probe's reason) where it is missing.
"""

from __future__ import annotations

import errno
import importlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from conformance.host.uapi import AT_FDCWD, PF_KTHREAD, PROC_SUPER_MAGIC, RAMFS_MAGIC, RESOLVE_CACHED, TMPFS_MAGIC
from conformance.isolation import snapshot
from conformance.native import HarnessError, uring
from conformance.native.uring import OpenRequest, Setup, Via
from conformance.suite import probes
from conformance.suite.probes import State

# The families' wire modules, as the registry installs them (kconform_cases.<family>).
io_uring: Any = importlib.import_module("kconform_cases.io_uring.wire")
resolve_cached: Any = importlib.import_module("kconform_cases.resolve_cached.wire")
WorkerKind = io_uring.WorkerKind
URING_PROBES = ("openat2", "openat2.resolve_cached", "io_uring", "io_uring.native_workers", "io_uring.sqpoll",
                "io_uring.openat2", "io_uring.disabled_sysctl")


def _need(name: str) -> None:
    p = probes.all_probes()[name]()
    if not p.present:
        pytest.skip(p.reason())


def _no_leftovers(threads_before: set[str]) -> None:
    """No child of ours (or of the process server) is left and no iou-* thread appeared here."""
    assert snapshot.children_and_threads()[0] == frozenset()
    new = set(os.listdir("/proc/self/task")) - threads_before
    comms = [Path(f"/proc/self/task/{t}/comm").read_text().strip() for t in new
             if os.path.exists(f"/proc/self/task/{t}/comm")]
    assert not [c for c in comms if c.startswith("iou-")], comms


# --------------------------------------------------------------------------- openat2 and statfs


def test_openat2_struct_sizes() -> None:
    _need("openat2")
    fd = resolve_cached.openat2(AT_FDCWD, "/", os.O_PATH)
    assert fd >= 0
    os.close(fd)
    assert resolve_cached.openat2(AT_FDCWD, "/", os.O_PATH, size=16) == -errno.EINVAL  # below OPEN_HOW_SIZE_VER0
    fd = resolve_cached.openat2(AT_FDCWD, "/", os.O_PATH, size=32)  # zero tail: accepted
    assert fd >= 0
    os.close(fd)
    assert resolve_cached.openat2(AT_FDCWD, "/", os.O_PATH, size=1 << 20) == -errno.EMSGSIZE  # not for the kernel


def test_openat2_errno_passthrough(tmp_path: Path) -> None:
    _need("openat2")
    assert resolve_cached.openat2(AT_FDCWD, str(tmp_path / "absent")) == -errno.ENOENT
    assert resolve_cached.openat2(AT_FDCWD, str(tmp_path), os.O_PATH, resolve=0x1000) == -errno.EINVAL  # unknown bit


def test_fs_type() -> None:
    assert resolve_cached.fs_type("/proc") == PROC_SUPER_MAGIC
    assert resolve_cached.fs_type("/nonexistent/kconform") == -errno.ENOENT
    if os.path.isdir("/dev/shm") and os.stat("/dev/shm").st_dev != os.stat("/dev").st_dev:
        assert resolve_cached.fs_type("/dev/shm") in (TMPFS_MAGIC, RAMFS_MAGIC)


def test_list_threads_self() -> None:
    threads = io_uring.list_threads()
    me = [t for t in threads if t.tid == os.getpid()]
    assert me and me[0].tgid == os.getpid() and me[0].ppid == os.getppid()
    assert not me[0].flags & PF_KTHREAD
    assert me[0].kthread in (None, 0)  # the line exists since 6.4


def test_list_threads_missing_pid() -> None:
    with pytest.raises(OSError):
        io_uring.list_threads(0x7FFFFFF0)


# --------------------------------------------------------------------------- the open scenario


def test_syscall_open_reads_and_stats(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"hello kconform\n")
    r = uring.run_open(OpenRequest(path="f", dir=str(tmp_path), read_len=64, ref_path="f"))
    assert r.problem() is None
    assert r.measured.ok and r.measured.content == b"hello kconform\n"
    st = os.stat(f)
    assert (r.measured.dev, r.measured.ino) == (st.st_dev, st.st_ino) == (r.ref_dev, r.ref_ino)
    assert r.direct.res == uring.NOT_ATTEMPTED  # no comparison asked for
    assert r.ring_res == 1  # no ring needed


def test_warm_results_reported(tmp_path: Path) -> None:
    (tmp_path / "f").touch()
    r = uring.run_open(OpenRequest(path="f", dir=str(tmp_path), warm=("f", "absent")))
    assert r.warm_res[:2] == (0, -errno.ENOENT)


def test_bad_dir_is_a_harness_error(tmp_path: Path) -> None:
    r = uring.run_open(OpenRequest(path="x", dir=str(tmp_path / "absent")))
    assert r.harness_error is HarnessError.SETUP
    assert r.problem() is not None and "SETUP" in (r.problem() or "")


def test_too_long_path_refused() -> None:
    with pytest.raises(ValueError):
        uring.run_open(OpenRequest(path="x" * uring.PATH_MAX))


def test_cached_open_in_a_new_process() -> None:
    _need("openat2.resolve_cached")
    cold = uring.run_open(OpenRequest(path="/proc/self/status", resolve=RESOLVE_CACHED))
    warm = uring.run_open(OpenRequest(path="/proc/self/status", resolve=RESOLVE_CACHED, warm=("/proc/self/status",)))
    assert cold.measured.err == errno.EAGAIN
    assert warm.measured.ok or warm.measured.err == errno.EAGAIN  # EAGAIN before 5.15


def test_inline_ring_agrees_with_syscall(tmp_path: Path) -> None:
    _need("io_uring")
    _need("io_uring.openat2")
    (tmp_path / "f").write_text("x")
    before = set(os.listdir("/proc/self/task"))
    r = uring.run_open(OpenRequest(path="f", via=Via.INLINE, compare=True, dir=str(tmp_path), read_len=8))
    assert r.problem() is None
    assert r.measured.ok and r.direct.ok and r.measured.content == r.direct.content == b"x"
    assert (r.measured.dev, r.measured.ino) == (r.direct.dev, r.direct.ino)
    _no_leftovers(before)


def test_async_open_runs_in_a_worker_of_the_child() -> None:
    _need("io_uring")
    _need("io_uring.native_workers")
    before = set(os.listdir("/proc/self/task"))
    r = uring.run_open(OpenRequest(path="/proc/thread-self/comm", via=Via.ASYNC, compare=True, read_len=64,
                                   list_threads=True))
    assert r.problem() is None
    assert r.measured.text.strip() == f"iou-wrk-{r.child_pid}"
    assert r.direct.text.strip() != r.measured.text.strip()
    assert any(t.comm == f"iou-wrk-{r.child_pid}" and t.tgid == r.child_pid for t in r.tasks)
    assert r.features & io_uring.IORING_FEAT_NATIVE_WORKERS
    _no_leftovers(before)


def test_setup_failure_is_reported(tmp_path: Path) -> None:
    _need("io_uring")
    r = uring.run_open(OpenRequest(path="/", via=Via.INLINE, setup=Setup.CHROOT, setup_path=str(tmp_path / "no")))
    assert r.setup_res in (-errno.ENOENT, -errno.EPERM)
    assert r.problem() is not None


def test_ctty_setup_gives_a_pty() -> None:
    r = uring.run_open(OpenRequest(path="/dev/tty", flags=os.O_RDWR | os.O_NOCTTY, setup=Setup.CTTY))
    if r.setup_res in (-errno.ENOENT, -errno.EACCES, -errno.EPERM):
        pytest.skip(f"no pty here: {uring.said(r.setup_res)}")
    assert r.problem() is None
    assert stat.S_ISCHR(r.measured.mode) and r.measured.tty_dev_res == 0
    assert (os.major(r.measured.tty_dev), os.minor(r.measured.tty_dev)) == (os.major(r.pty_rdev),
                                                                              os.minor(r.pty_rdev))
    assert r.measured.tty_sid == r.sid == r.child_pid


# --------------------------------------------------------------------------- worker scenarios and probes


def test_sigkill_scenario_reaps_everything() -> None:
    _need("io_uring")
    _need("io_uring.native_workers")
    before = set(os.listdir("/proc/self/task"))
    r = io_uring.worker_scenario(WorkerKind.SIGKILL)
    assert r.problem() is None
    assert r.wait_status & 0x7F == 9 and r.reap_ms >= 0
    assert r.task_dir_after == -errno.ENOENT
    assert any(t.comm.startswith("iou-wrk-") for t in r.tasks)
    _no_leftovers(before)


def test_signal_scenario_control_runs() -> None:
    _need("io_uring")
    _need("io_uring.native_workers")
    r = io_uring.worker_scenario(WorkerKind.SIGNAL, settle_ms=20)
    assert r.problem() is None
    assert r.target_tid and r.target_tid != r.child_pid
    assert r.self_handler_tid == r.child_pid


def test_setup_probe_rejects_unknown_flags() -> None:
    _need("io_uring")
    p = io_uring.setup_probe(1 << 31)
    assert p.harness_error is HarnessError.NONE and p.setup_res == -errno.EINVAL


@pytest.mark.parametrize("name", URING_PROBES)
def test_probes_say_what_the_kernel_did(name: str) -> None:
    state, observed = probes.all_probes()[name].run()
    assert state in State and observed


def test_resolve_cached_probe_matches_a_direct_call() -> None:
    _need("openat2")
    fd = resolve_cached.openat2(AT_FDCWD, "/", os.O_PATH, resolve=RESOLVE_CACHED)
    if fd >= 0:
        os.close(fd)
    state, _ = probes.all_probes()["openat2.resolve_cached"].run()
    assert (state is State.PRESENT) == (fd >= 0 or fd == -errno.EAGAIN)


def test_native_workers_probe_matches_features() -> None:
    _need("io_uring")
    p = io_uring.setup_probe()
    state, observed = probes.all_probes()["io_uring.native_workers"].run()
    assert (state is State.PRESENT) == bool(p.features & io_uring.IORING_FEAT_NATIVE_WORKERS)
    assert f"{p.features:#x}" in observed

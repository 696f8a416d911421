"""Feature probes: call the interface and classify the answer.

A probe never looks at the version number.  Each one is declared once with the
feature it detects, the release that introduced it and the upstream commit, so
that a skip reason always names what is missing and where it came from.
Results are cached per process (probes are cheap, but they are asked often).
"""

from __future__ import annotations

import enum
import errno
import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from conformance import native
from conformance.native import Action, CloneRequest, Ptr, Stack
from conformance.uapi import (
    CLONE_CLEAR_SIGHAND,
    CLONE_INTO_CGROUP,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_PIDFD,
    CLONE_SIGHAND,
    CLONE_THREAD,
    CLONE_VM,
)

SIGCHLD = 17


class State(enum.StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"  # the answer fits no model: reported, never a silent skip


@dataclass(frozen=True)
class Presence:
    feature: str
    state: State
    observed: str
    since: str = ""
    commit: str = ""

    @property
    def present(self) -> bool:
        return self.state is State.PRESENT

    def reason(self) -> str:
        """Skip reason naming the feature, its origin and what the kernel said."""
        origin = f" (added in {self.since}, commit {self.commit})" if self.commit else ""
        if self.state is State.UNKNOWN:
            return f"{self.feature}: probe inconclusive{origin}: {self.observed}"
        return f"{self.feature} not available{origin}: {self.observed}"


@dataclass(frozen=True)
class Probe:
    name: str
    feature: str
    since: str
    commit: str
    run: Callable[[], tuple[State, str]]

    def __call__(self) -> Presence:
        try:
            state, observed = self.run()
        except OSError as e:
            state, observed = State.UNKNOWN, f"probe failed: {e}"
        return Presence(self.feature, state, observed, self.since, self.commit)


def classify_errno(err: int, present: tuple[int, ...], absent: tuple[int, ...]) -> State:
    """Map a probe's errno (0 = success) to a state."""
    if err in present:
        return State.PRESENT
    if err in absent:
        return State.ABSENT
    return State.UNKNOWN


def _said(ret: int) -> str:
    return "succeeded" if ret >= 0 else native.errno_name(-ret)


def _clone_probe(req: CloneRequest, present: tuple[int, ...], absent: tuple[int, ...]) -> tuple[State, str]:
    res = native.clone_scenario(req)
    if res.harness_error is not native.HarnessError.NONE:
        return State.UNKNOWN, res.describe()
    err = 0 if res.ret >= 0 else res.err
    return classify_errno(err, present, absent), f"clone3 {res.describe()}"


def _probe_clone3() -> tuple[State, str]:
    ret = native.clone3_nochild(0)
    return classify_errno(-ret, (errno.EINVAL,), (errno.ENOSYS,)), f"clone3(size=0) gave {_said(ret)}"


def _probe_set_tid() -> tuple[State, str]:
    # set_tid = [-1]: EINVAL from the tid check where set_tid exists; a kernel
    # whose struct ends at 64 bytes sees a non-zero tail: E2BIG.
    req = CloneRequest(size=80, set_tid=(-1,), set_tid_ptr=Ptr.VALID, set_tid_size=1, action=Action.EXIT)
    return _clone_probe(req, (errno.EINVAL,), (errno.E2BIG,))


def _probe_into_cgroup() -> tuple[State, str]:
    # A descriptor number that is never open: EBADF where the flag is known;
    # EINVAL (unknown flag) or E2BIG (non-zero tail) where it is not.
    req = CloneRequest(flags=CLONE_INTO_CGROUP, cgroup=1_000_000, action=Action.EXIT)
    return _clone_probe(req, (errno.EBADF,), (errno.EINVAL, errno.E2BIG))


def _probe_clear_sighand() -> tuple[State, str]:
    req = CloneRequest(flags=CLONE_CLEAR_SIGHAND, action=Action.EXIT)
    return _clone_probe(req, (0,), (errno.EINVAL,))


def _probe_newtime_clone3() -> tuple[State, str]:
    if not os.path.exists("/proc/self/ns/time"):
        return State.ABSENT, "no /proc/self/ns/time (CONFIG_TIME_NS off)"
    # Unprivileged the flag gets as far as copy_namespaces (EPERM) where it
    # is accepted; where clone3 rejects it, EINVAL comes first.
    req = CloneRequest(flags=CLONE_NEWTIME, action=Action.EXIT)
    return _clone_probe(req, (0, errno.EPERM), (errno.EINVAL,))


def _probe_pidfd_thread() -> tuple[State, str]:
    req = CloneRequest(
        flags=CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_PIDFD,
        exit_signal=0,
        pidfd=Ptr.VALID,
        stack=Stack.MAPPED,
        stack_size=256 * 1024,
        action=Action.EXIT,
    )
    return _clone_probe(req, (0,), (errno.EINVAL,))


def _probe_pidfd_open() -> tuple[State, str]:
    fd = native.pidfd_open(os.getpid(), 0)
    if fd >= 0:
        os.close(fd)
        return State.PRESENT, "pidfd_open(self) succeeded"
    return classify_errno(-fd, (), (errno.ENOSYS,)), f"pidfd_open gave {native.errno_name(-fd)}"


def _probe_user_namespaces() -> tuple[State, str]:
    req = CloneRequest(flags=CLONE_NEWUSER, action=Action.EXIT)
    return _clone_probe(req, (0,), (errno.EPERM, errno.EINVAL, errno.ENOSPC, errno.EUSERS, errno.EACCES))


def _vhost(name: str) -> tuple[State, str]:
    from conformance import vhost

    if name not in ("probe_device", "probe_vsock_device", "probe_scsi_device"):
        state, why = vhost.probe_device()
        if state is not State.PRESENT:
            return state, why
    result: tuple[State, str] = getattr(vhost, name)()
    return result


def _lazy(module: str, func: str) -> Callable[[], tuple[State, str]]:
    """A probe that lives in a family module (which imports this one), imported on first use."""

    def run() -> tuple[State, str]:
        result: tuple[State, str] = getattr(importlib.import_module(f"conformance.{module}"), func)()
        return result

    return run


PROBES: dict[str, Probe] = {
    p.name: p
    for p in (
        Probe("clone3", "clone3()", "5.3", "7f192e3cd316", _probe_clone3),
        Probe("clone3.set_tid", "clone3 set_tid", "5.5", "49cb2fc42ce4", _probe_set_tid),
        Probe("clone3.into_cgroup", "CLONE_INTO_CGROUP", "5.7", "ef2c41cf38a7", _probe_into_cgroup),
        Probe("clone3.clear_sighand", "CLONE_CLEAR_SIGHAND", "5.5", "b612e5df4587", _probe_clear_sighand),
        Probe("clone3.newtime", "CLONE_NEWTIME in clone3", "6.3", "a402f1e35313", _probe_newtime_clone3),
        Probe("clone3.pidfd_thread", "CLONE_PIDFD|CLONE_THREAD", "6.9", "83b290c9e3b5", _probe_pidfd_thread),
        Probe("pidfd_open", "pidfd_open()", "5.3", "32fcb426ec00", _probe_pidfd_open),
        Probe("userns", "user namespaces for this user", "3.8", "", _probe_user_namespaces),
        Probe("vhost.device", "vhost-net device", "2.6.33", "", lambda: _vhost("probe_device")),
        Probe("vhost.vsock_device", "vhost-vsock device", "4.8", "", lambda: _vhost("probe_vsock_device")),
        Probe("vhost.task_mode", "vhost workers as threads of the owner", "6.4", "f9010dbdce91",
              lambda: _vhost("probe_task_mode")),
        Probe("vhost.fork_owner_control", "VHOST_SET_FORK_FROM_OWNER", "6.17", "7d9896e9f6d0",
              lambda: _vhost("probe_fork_owner_control")),
        Probe("vhost.scsi_device", "vhost-scsi device", "3.6", "", lambda: _vhost("probe_scsi_device")),
        Probe("vhost.new_worker", "VHOST_NEW_WORKER (vhost-scsi)", "6.5", "1cdaafa1b8b4",
              lambda: _vhost("probe_new_worker")),
        Probe("openat2", "openat2()", "5.6", "fddb5d430ad9", _lazy("resolve_cached", "probe_openat2")),
        Probe("openat2.resolve_cached", "RESOLVE_CACHED", "5.12", "99668f618062",
              _lazy("resolve_cached", "probe_resolve_cached")),
        Probe("io_uring", "io_uring", "5.1", "", _lazy("iouring_workers", "probe_io_uring")),
        Probe("io_uring.openat2", "IORING_OP_OPENAT2", "5.6", "", _lazy("iouring_workers", "probe_uring_openat2")),
        Probe("io_uring.native_workers", "IORING_FEAT_NATIVE_WORKERS", "5.12", "3bfe6106693b",
              _lazy("iouring_workers", "probe_native_workers")),
        Probe("io_uring.sqpoll", "IORING_SETUP_SQPOLL for this user (unprivileged since 5.11)", "5.11", "",
              _lazy("iouring_workers", "probe_sqpoll")),
        Probe("io_uring.disabled_sysctl", "kernel.io_uring_disabled sysctl", "6.6", "76d3ccecfa18",
              _lazy("iouring_workers", "probe_disabled_sysctl")),
        # ---- (other families: add probes above this line) ----
    )
}


def register(probe: Probe) -> None:
    """Families add their probes at import time."""
    PROBES[probe.name] = probe


@functools.cache
def probe(name: str) -> Presence:
    return PROBES[name]()

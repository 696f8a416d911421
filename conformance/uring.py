"""Typed Python face of the io_uring / openat2 helpers (native_helpers/kc_uring.h).

Dataclasses in, dataclasses out: nothing else touches cffi for io_uring.
Every ring lives in a C child created for one scenario, so io-wq workers and
SQPOLL threads never appear in the Python process.
"""

from __future__ import annotations

import enum
import errno as _errno
from dataclasses import dataclass, field
from typing import Any

from conformance._native import ffi, lib
from conformance.native import describe_status, errno_name
from conformance.procfs import Task
from conformance.uapi import PF_IO_WORKER as PF_IO_WORKER
from conformance.uapi import PF_KTHREAD as PF_KTHREAD
from conformance.uapi import PF_USER_WORKER as PF_USER_WORKER

PATH_MAX = int(lib.KC_U_PATH)
WARM_MAX = int(lib.KC_U_WARM)
DATA_MAX = int(lib.KC_U_DATA)
THREADS_MAX = int(lib.KC_U_THREADS)

IORING_SETUP_SQPOLL = int(lib.KC_IORING_SETUP_SQPOLL)
IORING_FEAT_NATIVE_WORKERS = int(lib.KC_IORING_FEAT_NATIVE_WORKERS)

# include/uapi/linux/openat2.h
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = int(lib.KC_RESOLVE_CACHED)
OPEN_HOW_SIZE_VER0 = 24


AT_FDCWD = -100


class Via(enum.IntEnum):
    """How the measured open is issued."""

    SYSCALL = lib.KC_VIA_SYSCALL
    INLINE = lib.KC_VIA_INLINE
    ASYNC = lib.KC_VIA_ASYNC
    SQPOLL = lib.KC_VIA_SQPOLL

    @property
    def label(self) -> str:
        return {
            Via.SYSCALL: "openat2()",
            Via.INLINE: "io_uring (inline)",
            Via.ASYNC: "io_uring (IOSQE_ASYNC worker)",
            Via.SQPOLL: "io_uring (SQPOLL)",
        }[self]


class Op(enum.IntEnum):
    OPENAT2 = lib.KC_OP_OPENAT2
    OPENAT = lib.KC_OP_OPENAT


class Setup(enum.IntFlag):
    NONE = 0
    RING_FIRST = lib.KC_US_RING_FIRST
    FD100 = lib.KC_US_FD100
    SETSID = lib.KC_US_SETSID
    CTTY = lib.KC_US_CTTY
    NEWNET = lib.KC_US_NEWNET
    CHROOT = lib.KC_US_CHROOT
    FSID = lib.KC_US_FSID
    DROP_CACHES = lib.KC_US_DROP_CACHES


FD100 = 100  # the descriptor number Setup.FD100 uses


class HarnessError(enum.IntEnum):
    NONE = lib.KC_UH_NONE
    TIMEOUT = lib.KC_UH_TIMEOUT
    NO_REPORT = lib.KC_UH_NO_REPORT
    SETUP = lib.KC_UH_SETUP
    UNSUPPORTED = lib.KC_UH_UNSUPPORTED


NOT_ATTEMPTED = -_errno.ENODATA


def said(ret: int) -> str:
    """A result as the kernel gave it: a descriptor or an errno name."""
    if ret == NOT_ATTEMPTED:
        return "not attempted"
    return "an fd" if ret >= 0 else errno_name(-ret)


# --------------------------------------------------------------------------- open scenario


@dataclass(frozen=True)
class OpenRequest:
    """One open, issued in a fresh child after the setup and warm-up."""

    path: str
    via: Via = Via.SYSCALL
    op: Op = Op.OPENAT2
    flags: int = 0
    mode: int = 0
    resolve: int = 0
    setup: Setup = Setup.NONE
    compare: bool = False  # also do the same open as a syscall, after the measured one
    dir: str = ""  # the dfd (opened O_PATH before the setup); "" = AT_FDCWD
    path_direct: str = ""  # path of the compared syscall open ("" = path)
    ref_path: str = ""  # stat()ed normally after the opens
    setup_path: str = ""  # chroot directory or the FD100 file
    warm: tuple[str, ...] = ()  # normal lookups (fstatat) before the open
    fsuid: int = 65534
    fsgid: int = 65534
    read_len: int = 0
    list_threads: bool = False
    timeout_ms: int = 10000


@dataclass(frozen=True)
class OpenOne:
    res: int  # fd or -errno
    read_res: int
    fstat_res: int
    mode: int
    uid: int
    gid: int
    dev: int
    ino: int
    rdev: int
    tty_dev_res: int
    tty_dev: int
    tty_sid: int
    data: bytes

    @property
    def ok(self) -> bool:
        return self.res >= 0

    @property
    def err(self) -> int:
        return -self.res if self.res < 0 else 0

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")

    def describe(self) -> str:
        if self.res < 0:
            return said(self.res)
        return f"an fd to {self.dev:#x}:{self.ino}"

    def status_field(self, key: str) -> str | None:
        """A "Key:" line of a /proc status file that was read."""
        for line in self.text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name == key:
                return value.strip()
        return None


@dataclass(frozen=True)
class OpenResult:
    harness_error: HarnessError
    harness_errno: int
    child_pid: int
    wait_status: int
    setup_res: int
    ring_res: int
    features: int
    sid: int
    pty_rdev: int
    netns_ino: int
    warm_res: tuple[int, ...]
    ref_res: int
    ref_dev: int
    ref_ino: int
    measured: OpenOne
    direct: OpenOne
    nthreads: int
    threads: tuple[Task, ...] = field(default=())

    def problem(self) -> str | None:
        """What kept the scenario from running, or None."""
        if self.harness_error is not HarnessError.NONE:
            extra = f" ({errno_name(self.harness_errno)})" if self.harness_errno else ""
            return f"harness error {self.harness_error.name}{extra}, child {describe_status(self.wait_status)}"
        if self.setup_res < 0:
            return f"setup failed with {errno_name(-self.setup_res)}"
        if self.ring_res < 0:
            return f"io_uring_setup failed with {errno_name(-self.ring_res)}"
        return None


def _bytes(arr: Any, n: int) -> bytes:
    return bytes(ffi.buffer(arr, n)) if n > 0 else b""


def _one(o: Any) -> OpenOne:
    return OpenOne(
        res=int(o.res),
        read_res=int(o.read_res),
        fstat_res=int(o.fstat_res),
        mode=int(o.st_mode),
        uid=int(o.st_uid),
        gid=int(o.st_gid),
        dev=int(o.st_dev),
        ino=int(o.st_ino),
        rdev=int(o.st_rdev),
        tty_dev_res=int(o.tty_dev_res),
        tty_dev=int(o.tty_dev),
        tty_sid=int(o.tty_sid),
        data=_bytes(o.data, min(int(o.read_res), DATA_MAX)),
    )


def _thread(t: Any) -> Task:
    return Task(
        tid=int(t.tid),
        comm=ffi.string(t.comm).decode(errors="replace"),
        tgid=int(t.status_tgid),
        ppid=int(t.status_ppid),
        kthread=int(t.kthread) if t.kthread >= 0 else None,
        flags=int(t.stat_flags),
        sig_pending=int(t.sig_pending),
        sig_blocked=int(t.sig_blocked),
    )


def _path(field_: Any, value: str, what: str) -> None:
    raw = value.encode()
    if len(raw) >= PATH_MAX:
        raise ValueError(f"{what} longer than {PATH_MAX - 1} bytes: {value!r}")
    ffi.memmove(field_, raw + b"\0", len(raw) + 1)


def run_open(req: OpenRequest) -> OpenResult:
    """Run one open scenario in a fresh child (kc_uring_open_scenario)."""
    if len(req.warm) > WARM_MAX:
        raise ValueError(f"at most {WARM_MAX} warm-up lookups")
    c = ffi.new("struct kc_open_req *")
    c.via = int(req.via)
    c.op = int(req.op)
    c.setup = int(req.setup)
    c.compare = int(req.compare)
    c.flags = req.flags
    c.mode = req.mode
    c.resolve = req.resolve
    c.fsuid = req.fsuid
    c.fsgid = req.fsgid
    c.read_len = min(req.read_len, DATA_MAX - 1)
    c.list_threads = int(req.list_threads)
    c.nwarm = len(req.warm)
    c.timeout_ms = req.timeout_ms
    _path(c.dir, req.dir, "dir")
    _path(c.path, req.path, "path")
    _path(c.path_direct, req.path_direct, "path_direct")
    _path(c.ref_path, req.ref_path, "ref_path")
    _path(c.setup_path, req.setup_path, "setup_path")
    for i, w in enumerate(req.warm):
        _path(c.warm[i], w, "warm path")
    r = ffi.new("struct kc_open_res *")
    rc = int(lib.kc_uring_open_scenario(c, r))
    if rc < 0:
        raise OSError(-rc, f"cannot start the open scenario: {errno_name(-rc)}")
    n = int(r.nthreads)
    return OpenResult(
        harness_error=HarnessError(int(r.harness_error)),
        harness_errno=int(r.harness_errno),
        child_pid=int(r.child_pid),
        wait_status=int(r.wait_status),
        setup_res=int(r.setup_res),
        ring_res=int(r.ring_res),
        features=int(r.features),
        sid=int(r.sid),
        pty_rdev=int(r.pty_rdev),
        netns_ino=int(r.netns_ino),
        warm_res=tuple(int(r.warm_res[i]) for i in range(len(req.warm))),
        ref_res=int(r.ref_res),
        ref_dev=int(r.ref_dev),
        ref_ino=int(r.ref_ino),
        measured=_one(r.measured),
        direct=_one(r.direct),
        nthreads=n,
        threads=tuple(_thread(r.threads[i]) for i in range(max(0, min(n, THREADS_MAX)))),
    )


# --------------------------------------------------------------------------- worker scenarios


class WorkerKind(enum.IntEnum):
    SIGNAL = lib.KC_W_SIGNAL  # SIGUSR1 to a worker / SQ thread, then to the submitter
    SIGKILL = lib.KC_W_SIGKILL  # a process with workers is SIGKILLed


@dataclass(frozen=True)
class WorkerResult:
    harness_error: HarnessError
    harness_errno: int
    child_pid: int
    wait_status: int
    ring_res: int
    target_tid: int
    signal_res: int
    hits_after_target: int
    handler_tid: int
    hits_after_self: int
    self_handler_tid: int
    reap_ms: int
    task_dir_after: int
    nthreads: int
    target_pending: int
    target_blocked: int
    threads: tuple[Task, ...]

    def problem(self) -> str | None:
        if self.harness_error is not HarnessError.NONE:
            extra = f" ({errno_name(self.harness_errno)})" if self.harness_errno else ""
            return f"harness error {self.harness_error.name}{extra}"
        if self.ring_res < 0:
            return f"io_uring_setup failed with {errno_name(-self.ring_res)}"
        return None


def worker_scenario(kind: WorkerKind, via: Via = Via.ASYNC, settle_ms: int = 100) -> WorkerResult:
    c = ffi.new("struct kc_worker_req *")
    c.kind = int(kind)
    c.via = int(via)
    c.settle_ms = settle_ms
    c.timeout_ms = 10000
    r = ffi.new("struct kc_worker_res *")
    rc = int(lib.kc_uring_worker_scenario(c, r))
    if rc < 0:
        raise OSError(-rc, f"cannot start the worker scenario: {errno_name(-rc)}")
    n = int(r.nthreads)
    return WorkerResult(
        harness_error=HarnessError(int(r.harness_error)),
        harness_errno=int(r.harness_errno),
        child_pid=int(r.child_pid),
        wait_status=int(r.wait_status),
        ring_res=int(r.ring_res),
        target_tid=int(r.target_tid),
        signal_res=int(r.signal_res),
        hits_after_target=int(r.hits_after_target),
        handler_tid=int(r.handler_tid),
        hits_after_self=int(r.hits_after_self),
        self_handler_tid=int(r.self_handler_tid),
        reap_ms=int(r.reap_ms),
        task_dir_after=int(r.task_dir_after),
        nthreads=n,
        target_pending=int(r.target_pending),
        target_blocked=int(r.target_blocked),
        threads=tuple(_thread(r.threads[i]) for i in range(max(0, min(n, THREADS_MAX)))),
    )


# --------------------------------------------------------------------------- probes and sysctl


@dataclass(frozen=True)
class SetupProbe:
    harness_error: HarnessError
    setup_res: int  # 0 or -errno
    features: int
    openat2_res: int  # CQE of an inline IORING_OP_OPENAT2 of "/", or NOT_ATTEMPTED


def setup_probe(flags: int = 0, want_openat2: bool = False) -> SetupProbe:
    """io_uring_setup (and optionally one IORING_OP_OPENAT2) in a fresh child."""
    out = ffi.new("struct kc_setup_probe *")
    rc = int(lib.kc_uring_setup_probe(flags, int(want_openat2), out))
    if rc < 0:
        raise OSError(-rc, f"cannot start the setup probe: {errno_name(-rc)}")
    return SetupProbe(HarnessError(int(out.harness_error)), int(out.setup_res), int(out.features),
                      int(out.openat2_res))


@dataclass(frozen=True)
class DisabledResult:
    original: int
    write_res: int
    harness_error: HarnessError
    setup_res: int
    restore_res: int
    after: int


def disabled_try(value: int, drop_privileges: bool) -> DisabledResult:
    """Write kernel.io_uring_disabled, try io_uring_setup in a child, restore: all in one C call."""
    out = ffi.new("struct kc_disabled_res *")
    rc = int(lib.kc_uring_disabled_try(value, int(drop_privileges), out))
    if rc < 0:
        raise OSError(-rc, f"cannot read kernel.io_uring_disabled: {errno_name(-rc)}")
    return DisabledResult(int(out.original), int(out.write_res), HarnessError(int(out.harness_error)),
                          int(out.setup_res), int(out.restore_res), int(out.after))


def openat2(dfd: int, path: str, flags: int = 0, mode: int = 0, resolve: int = 0,
            size: int = OPEN_HOW_SIZE_VER0) -> int:
    """Raw openat2 in this process: fd or -errno (the caller closes the fd)."""
    return int(lib.kc_openat2(dfd, path.encode(), flags, mode, resolve, size))


def fs_type(path: str) -> int:
    """statfs(path).f_type, or -errno."""
    return int(lib.kc_fs_type(path.encode()))


def list_threads(pid: int = 0) -> tuple[Task, ...]:
    buf = ffi.new("struct kc_thread_info[]", THREADS_MAX * 4)
    n = int(lib.kc_list_threads(pid, buf, THREADS_MAX * 4))
    if n < 0:
        raise OSError(-n, f"cannot list threads of {pid or 'self'}: {errno_name(-n)}")
    return tuple(_thread(buf[i]) for i in range(min(n, THREADS_MAX * 4)))

"""Typed face of the io_uring / openat2 helpers (native_helpers/kc_uring.h), shared by the families
that open files through io_uring.

One dataclass per C struct (same field names), marshalled by conformance.native.
Every ring lives in a C child created for one scenario, so io-wq workers and
SQPOLL threads never appear in the Python process.
"""

from __future__ import annotations

import enum
import errno as _errno
from typing import Annotated

from conformance import native, procfs
from conformance._kc_uring_h import Op as Op
from conformance._kc_uring_h import Setup as Setup
from conformance._kc_uring_h import WorkerKind as WorkerKind
from conformance.native import CountedBy, const, describe_status, errno_name
from conformance.native import HarnessError as HarnessError  # one set for every family
from conformance.procfs import Task
from conformance.records import record
from conformance.uapi import PF_IO_WORKER as PF_IO_WORKER
from conformance.uapi import PF_KTHREAD as PF_KTHREAD
from conformance.uapi import PF_USER_WORKER as PF_USER_WORKER

native.wire("kc_thread_info")(Task)  # /proc's record of a task is also what the helpers report

PATH_MAX = const("KC_U_PATH")
WARM_MAX = const("KC_U_WARM")
DATA_MAX = const("KC_U_DATA")
THREADS_MAX = const("KC_U_THREADS")

IORING_SETUP_SQPOLL = const("KC_IORING_SETUP_SQPOLL")
IORING_FEAT_NATIVE_WORKERS = const("KC_IORING_FEAT_NATIVE_WORKERS")

# include/uapi/linux/openat2.h
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = const("KC_RESOLVE_CACHED")
OPEN_HOW_SIZE_VER0 = 24


AT_FDCWD = -100


class Via(enum.IntEnum):
    """How the measured open is issued."""

    SYSCALL = const("KC_VIA_SYSCALL")
    INLINE = const("KC_VIA_INLINE")
    ASYNC = const("KC_VIA_ASYNC")
    SQPOLL = const("KC_VIA_SQPOLL")

    @property
    def label(self) -> str:
        return {
            Via.SYSCALL: "openat2()",
            Via.INLINE: "io_uring (inline)",
            Via.ASYNC: "io_uring (IOSQE_ASYNC worker)",
            Via.SQPOLL: "io_uring (SQPOLL)",
        }[self]


FD100 = 100  # the descriptor number Setup.FD100 uses


NOT_ATTEMPTED = -_errno.ENODATA


def said(ret: int) -> str:
    """A result as the kernel gave it: a descriptor or an errno name."""
    if ret == NOT_ATTEMPTED:
        return "not attempted"
    return "an fd" if ret >= 0 else errno_name(-ret)


# --------------------------------------------------------------------------- open scenario


@native.wire("kc_open_req")
@record(frozen=True)
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

    @property
    def nwarm(self) -> int:
        return len(self.warm)


@native.wire("kc_open_one")
@record(frozen=True)
class OpenOne:
    """struct kc_open_one: one open and what was learnt from the fd."""

    res: int  # fd or -errno
    read_res: int
    fstat_res: int
    st_mode: int
    st_uid: int
    st_gid: int
    st_dev: int
    st_ino: int
    st_rdev: int
    tty_dev_res: int
    tty_dev: int
    tty_sid: int
    fl_flags: int  # fcntl(F_GETFL) of the fd, or -errno
    data: bytes  # the whole buffer; content is what was read

    @property
    def ok(self) -> bool:
        return self.res >= 0

    @property
    def err(self) -> int:
        return -self.res if self.res < 0 else 0

    @property
    def content(self) -> bytes:
        return self.data[: max(0, self.read_res)]

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    @property
    def mode(self) -> int:
        return self.st_mode

    @property
    def uid(self) -> int:
        return self.st_uid

    @property
    def gid(self) -> int:
        return self.st_gid

    @property
    def dev(self) -> int:
        return self.st_dev

    @property
    def ino(self) -> int:
        return self.st_ino

    def describe(self) -> str:
        if self.res < 0:
            return said(self.res)
        return f"an fd to {self.dev:#x}:{self.ino}"

    def status_field(self, key: str) -> str | None:
        """A "Key:" line of a /proc status file that was read."""
        return procfs.parse_status(self.text).get(key)


@native.wire("kc_open_res", internal=("pad0",))
@record(frozen=True)
class OpenResult(native.Harnessed):
    harness: native.HarnessStatus  # pid: the submitter (the harness process itself)
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
    nthreads: int  # threads found (may exceed the slots) or -errno
    threads: Annotated[tuple[Task, ...], CountedBy("nthreads")]
    proc_pid: int  # the submitter's pid in the pid namespace /proc belongs to (first NSpid entry)
    proc_levels: int  # NSpid entries: 1 when /proc is of the submitter's own pid namespace; or -errno

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.threads

    @property
    def child_pid(self) -> int:
        return self.harness.pid

    @property
    def wait_status(self) -> int:
        return self.harness.status

    def problem(self) -> str | None:
        """What kept the scenario from running, or None."""
        if not self.harness.ok:
            return f"{self.harness.describe()}, child {describe_status(self.wait_status)}"
        if self.setup_res < 0:
            return f"setup failed with {errno_name(-self.setup_res)}"
        if self.ring_res < 0:
            return f"io_uring_setup failed with {errno_name(-self.ring_res)}"
        return None


def run_open(req: OpenRequest) -> OpenResult:
    """Run one open scenario in a fresh child (kc_uring_open_scenario)."""
    if req.read_len >= DATA_MAX:
        raise ValueError(f"read_len at most {DATA_MAX - 1}")
    return native.run_harness("kc_uring_open_scenario", OpenResult, req, what="open scenario")


# --------------------------------------------------------------------------- worker scenarios


@native.wire("kc_worker_res")
@record(frozen=True)
class WorkerResult(native.Harnessed):
    harness: native.HarnessStatus  # pid: the submitter (the harness process itself)
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
    threads: Annotated[tuple[Task, ...], CountedBy("nthreads")]

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.threads

    @property
    def child_pid(self) -> int:
        return self.harness.pid

    @property
    def wait_status(self) -> int:
        return self.harness.status

    def problem(self) -> str | None:
        if not self.harness.ok:
            return self.harness.describe()
        if self.ring_res < 0:
            return f"io_uring_setup failed with {errno_name(-self.ring_res)}"
        return None


@native.wire("kc_worker_req")
@record(frozen=True)
class WorkerRequest:
    kind: WorkerKind
    via: Via = Via.ASYNC
    # A thread-directed signal is never moved to another thread, and one the kernel wrongly delivered
    # process-wide would run the handler on the submitter's return from tgkill: 10 ms is ample.
    settle_ms: int = 10
    timeout_ms: int = 10000


def worker_scenario(kind: WorkerKind, via: Via = Via.ASYNC, settle_ms: int = 10) -> WorkerResult:
    return native.run_harness("kc_uring_worker_scenario", WorkerResult, WorkerRequest(kind, via, settle_ms),
                              what="worker scenario")


# --------------------------------------------------------------------------- probes and sysctl


@native.wire("kc_setup_probe")
@record(frozen=True)
class SetupProbe(native.Harnessed):
    harness: native.HarnessStatus
    setup_res: int  # 0 or -errno
    features: int
    openat2_res: int  # CQE of an inline IORING_OP_OPENAT2 of "/", or NOT_ATTEMPTED


def setup_probe(flags: int = 0, want_openat2: bool = False) -> SetupProbe:
    """io_uring_setup (and optionally one IORING_OP_OPENAT2) in a fresh child."""
    return native.run_harness("kc_uring_setup_probe", SetupProbe, flags, want_openat2, what="setup probe")


@native.wire("kc_disabled_res")
@record(frozen=True)
class DisabledResult(native.Harnessed):
    harness: native.HarnessStatus  # of the setup child
    original: int
    write_res: int
    setup_res: int
    restore_res: int
    after: int


def disabled_try(value: int, drop_privileges: bool) -> DisabledResult:
    """Write kernel.io_uring_disabled, try io_uring_setup in a child, restore: all in one C call."""
    rc, res = native.call_out("kc_uring_disabled_try", DisabledResult, value, drop_privileges)
    if rc < 0:
        raise OSError(-rc, f"cannot read kernel.io_uring_disabled: {errno_name(-rc)}")
    return res


def openat2(dfd: int, path: str, flags: int = 0, mode: int = 0, resolve: int = 0,
            size: int = OPEN_HOW_SIZE_VER0) -> int:
    """Raw openat2 in this process: fd or -errno (the caller closes the fd)."""
    return native.call("kc_openat2", dfd, path, flags, mode, resolve, size)


def fs_type(path: str) -> int:
    """statfs(path).f_type, or -errno."""
    return native.call("kc_fs_type", path)


def list_threads(pid: int = 0) -> tuple[Task, ...]:
    """The threads of a process (0: this one) as the C helpers see them."""
    n, tasks = native.call_array("kc_list_threads", Task, THREADS_MAX * 4, pid)
    if n < 0:
        raise OSError(-n, f"cannot list threads of {pid or 'self'}: {errno_name(-n)}")
    return tasks[:n]

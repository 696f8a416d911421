"""The clone3 family's wire records: the Python twins of kc_clone.h's structs and the scenario entry.

``CloneRequest`` goes into ``struct kc_clone_req``; ``CloneResult`` (with its ``ChildReport``) comes back
from ``struct kc_clone_res``.  The enums of the request's fields mirror the header's ``#define``s and are
generated from it (``conformance._kc_clone_h``, written by native_helpers/build.py); the marshalling and the
harness contract are the core's (``conformance.native``).
"""

from __future__ import annotations

import enum
import signal

from conformance._kc_clone_h import Action as Action
from conformance._kc_clone_h import ArgsAt as ArgsAt
from conformance._kc_clone_h import Ptr as Ptr
from conformance._kc_clone_h import Setup as Setup
from conformance._kc_clone_h import Stack as Stack
from conformance._kc_clone_h import Syscall as Syscall
from conformance.host.records import record
from conformance.native import Harnessed, HarnessStatus, call, describe_status, errno_name, fd_open, run_harness, wire


class Ns(enum.IntEnum):
    """The namespaces of ``ns_ino`` and ``parent_ns_ino``, by index (kc_clone.c's kc_ns_names, KC_NS_COUNT)."""

    PID = 0
    PID_FOR_CHILDREN = 1
    TIME = 2
    USER = 3
    MNT = 4
    NET = 5
    CGROUP = 6
    IPC = 7

    @property
    def label(self) -> str:
        """The name under /proc/<pid>/ns/."""
        return self.name.lower()


class Disposition(enum.IntEnum):
    DEFAULT = 0
    IGNORE = 1
    HANDLER = 2
    UNKNOWN = 255


class Ref(enum.Enum):
    """Run-time references in a CloneRequest, resolved when the case runs."""

    FREE_PID = enum.auto()  # a pid nobody uses
    PID_MAX = enum.auto()  # kernel.pid_max (one above the largest pid)
    PAGE_SIZE = enum.auto()
    PAGE_SIZE_PLUS_8 = enum.auto()
    CGROUP_DIR_FD = enum.auto()  # a fresh cgroup v2 directory, opened O_DIRECTORY
    CGROUP_PATH_FD = enum.auto()  # the same, opened O_PATH
    CGROUP_PROCS_FD = enum.auto()  # its cgroup.procs file
    CGROUP1_DIR_FD = enum.auto()  # a cgroup v1 directory
    REGULAR_FILE_FD = enum.auto()
    CLOSED_FD = enum.auto()  # a descriptor number that is not open


@wire("kc_clone_req", internal=("pad0", "pad1", "tls"))
@record(frozen=True)
class CloneRequest:
    """struct kc_clone_req: one call of clone3() (or legacy clone()) and what its child does.

    ``size``, ``set_tid`` entries and ``cgroup`` may hold a ``Ref``: a value only
    known when the case runs.  The case resolves every Ref first; an unresolved
    one cannot be passed to C (TypeError)."""

    flags: int = 0
    exit_signal: int = int(signal.SIGCHLD)
    size: int | Ref = 88
    syscall: Syscall = Syscall.CLONE3
    args_at: ArgsAt = ArgsAt.NORMAL
    tail_nonzero: bool = False
    pidfd: Ptr = Ptr.NONE
    parent_tid: Ptr = Ptr.NONE
    child_tid: Ptr = Ptr.NONE
    stack: Stack = Stack.NONE
    stack_size: int = 0
    set_tid: tuple[int | Ref, ...] = ()
    set_tid_ptr: Ptr = Ptr.NONE
    set_tid_size: int = 0
    cgroup: int | Ref = 0
    setup: Setup = Setup.NONE
    action: Action = Action.REPORT
    action_arg: int = 0
    timeout_ms: int = 5000


@wire("kc_child_report", internal=("pad0", "pad1"))
@record(frozen=True)
class ChildReport:
    """struct kc_child_report: what the child saw (valid == False: it sent nothing)."""

    valid: bool
    pid: int
    ppid: int
    tid: int
    uid: int
    ns_ino: tuple[int, ...]  # by Ns
    disp: tuple[int, ...]  # index = signal number
    stack_probe: int
    cgroup: str

    @property
    def ns(self) -> dict[Ns, int]:
        return dict(zip(Ns, self.ns_ino, strict=True))

    @property
    def disposition(self) -> tuple[Disposition, ...]:
        return tuple(Disposition(d) if d in (0, 1, 2) else Disposition.UNKNOWN for d in self.disp)


@wire("kc_clone_res", internal=("pad0",))
@record(frozen=True)
class CloneResult(Harnessed):
    """struct kc_clone_res."""

    harness: HarnessStatus
    ret: int
    err: int
    created: bool
    pidfd: int
    pidfd_is_pidfd: bool
    pidfd_flags: int
    pidfd_poll_early: int
    pidfd_poll_exit: int
    parent_tid: int
    child_exited: bool
    wait_plain: int
    wait_clone: int
    wait_all: int
    status: int
    signal_received: int
    pending_lo: int  # bits 1..64
    parent_ns_ino: tuple[int, ...]
    parent_pid: int
    shared_word: int
    stack_lo: int
    stack_hi: int
    report: ChildReport

    @property
    def child(self) -> ChildReport | None:
        return self.report if self.report.valid else None

    @property
    def pending(self) -> frozenset[int]:
        return frozenset(s for s in range(1, 65) if self.pending_lo >> (s - 1) & 1)

    @property
    def parent_ns(self) -> dict[Ns, int]:
        return dict(zip(Ns, self.parent_ns_ino, strict=True))

    @property
    def stack_range(self) -> tuple[int, int]:
        return self.stack_lo, self.stack_hi

    @property
    def errno_name(self) -> str:
        return errno_name(self.err)

    def describe(self) -> str:
        """One line saying what the kernel did."""
        if not self.harness.ok:
            return self.harness.describe()
        if self.ret < 0:
            return f"failed with {self.errno_name}"
        return f"succeeded (child {self.ret}, {describe_status(self.status)})"


def clone_scenario(req: CloneRequest) -> CloneResult:
    """Run one clone scenario in a fresh harness process (see kc_clone.h)."""
    cg = req.cgroup
    return run_harness("kc_clone_scenario", CloneResult, req, what="clone",
                       fds=(cg,) if isinstance(cg, int) and fd_open(cg) else ())


def clone3_nochild(size: int, args_at: ArgsAt = ArgsAt.NORMAL) -> int:
    """clone3 with arguments that can never create a child: ret or -errno."""
    return call("kc_sys_clone3_nochild", size, args_at)


def page_size() -> int:
    return call("kc_page_size")


def clone3_flag_probe(flags: int) -> int:
    """kc_pfd_clone3_probe(): -errno; EINVAL means an unknown clone3 flag."""
    return call("kc_pfd_clone3_probe", flags & 0xFFFFFFFFFFFFFFFF)

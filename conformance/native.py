"""Typed Python face of the compiled helpers (conformance._native).

Dataclasses in, dataclasses out: nothing outside this module touches cffi.
"""

from __future__ import annotations

import enum
import errno as _errno
from dataclasses import dataclass, field
from typing import Any

from conformance._native import ffi, lib

NS_NAMES = ("pid", "pid_for_children", "time", "user", "mnt", "net", "cgroup", "ipc")


def errno_name(err: int) -> str:
    return _errno.errorcode.get(err, f"errno {err}")


class Syscall(enum.IntEnum):
    CLONE3 = lib.KC_SYS_CLONE3
    CLONE = lib.KC_SYS_CLONE


class ArgsAt(enum.IntEnum):
    """Where the clone_args buffer lives."""

    NORMAL = lib.KC_ARGS_NORMAL
    NULL = lib.KC_ARGS_NULL
    BAD_POINTER = lib.KC_ARGS_BADPTR
    TAIL_UNMAPPED = lib.KC_ARGS_TAIL_UNMAPPED


class Ptr(enum.IntEnum):
    NONE = lib.KC_PTR_NONE
    VALID = lib.KC_PTR_VALID
    BAD = lib.KC_PTR_BAD
    SAME_AS_PARENT_TID = lib.KC_PTR_SAME_AS_PARENT_TID


class Stack(enum.IntEnum):
    NONE = lib.KC_STACK_NONE
    MAPPED = lib.KC_STACK_MAPPED
    NO_SIZE = lib.KC_STACK_NO_SIZE
    NO_ADDR = lib.KC_STACK_NO_ADDR
    KERNEL_ADDR = lib.KC_STACK_KERNEL


class Action(enum.IntEnum):
    EXIT = lib.KC_ACT_EXIT
    REPORT = lib.KC_ACT_REPORT
    REPORT_WAIT = lib.KC_ACT_REPORT_WAIT
    HANG = lib.KC_ACT_HANG


class Setup(enum.IntFlag):
    NONE = 0
    HANDLE_USR1 = lib.KC_SETUP_HANDLE_USR1
    IGNORE_USR2 = lib.KC_SETUP_IGNORE_USR2
    HANDLE_RTMIN1 = lib.KC_SETUP_HANDLE_RTMIN1
    DROP_PRIVILEGES = lib.KC_SETUP_SETUID_NOBODY
    UNSHARE_PIDNS = lib.KC_SETUP_UNSHARE_PIDNS


class HarnessError(enum.IntEnum):
    NONE = lib.KC_HERR_NONE
    TIMEOUT = lib.KC_HERR_TIMEOUT
    SETUP = lib.KC_HERR_SETUP
    NO_REPORT = lib.KC_HERR_NO_REPORT
    PROTOCOL = lib.KC_HERR_PROTOCOL
    UNSUPPORTED = lib.KC_HERR_UNSUPPORTED


class Disposition(enum.IntEnum):
    DEFAULT = 0
    IGNORE = 1
    HANDLER = 2
    UNKNOWN = 255


@dataclass(frozen=True)
class CloneRequest:
    """One call of clone3() (or legacy clone()) and what its child does."""

    flags: int = 0
    exit_signal: int = 17  # SIGCHLD
    size: int = 88
    syscall: Syscall = Syscall.CLONE3
    args_at: ArgsAt = ArgsAt.NORMAL
    tail_nonzero: bool = False
    pidfd: Ptr = Ptr.NONE
    parent_tid: Ptr = Ptr.NONE
    child_tid: Ptr = Ptr.NONE
    stack: Stack = Stack.NONE
    stack_size: int = 0
    set_tid: tuple[int, ...] = ()
    set_tid_ptr: Ptr = Ptr.NONE
    set_tid_size: int = 0
    cgroup: int = 0
    setup: Setup = Setup.NONE
    action: Action = Action.REPORT
    action_arg: int = 0
    timeout_ms: int = 5000


@dataclass(frozen=True)
class ChildReport:
    pid: int
    ppid: int
    tid: int
    uid: int
    ns: dict[str, int]
    disposition: tuple[Disposition, ...]  # index = signal number
    stack_probe: int
    cgroup: str


@dataclass(frozen=True)
class CloneResult:
    ret: int
    err: int
    created: bool
    harness_error: HarnessError
    harness_errno: int
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
    pending: frozenset[int]
    parent_ns: dict[str, int]
    parent_pid: int
    shared_word: int
    stack_range: tuple[int, int]
    child: ChildReport | None = field(default=None)

    @property
    def errno_name(self) -> str:
        return errno_name(self.err)

    def describe(self) -> str:
        """One line saying what the kernel did."""
        if self.harness_error is not HarnessError.NONE:
            extra = f" ({errno_name(self.harness_errno)})" if self.harness_errno else ""
            return f"harness error {self.harness_error.name}{extra}"
        if self.ret < 0:
            return f"failed with {self.errno_name}"
        return f"succeeded (child {self.ret}, {describe_status(self.status)})"


def describe_status(status: int) -> str:
    if status & 0x7F == 0:
        return f"exited {(status >> 8) & 0xFF}"
    if (status & 0xFF) == 0x7F:
        return f"stopped by signal {(status >> 8) & 0xFF}"
    return f"killed by signal {status & 0x7F}"


def _child(rep: Any) -> ChildReport | None:
    if not rep.valid:
        return None
    return ChildReport(
        pid=rep.pid,
        ppid=rep.ppid,
        tid=rep.tid,
        uid=rep.uid,
        ns=dict(zip(NS_NAMES, list(rep.ns_ino), strict=True)),
        disposition=tuple(Disposition(d) if d in (0, 1, 2) else Disposition.UNKNOWN for d in rep.disp),
        stack_probe=int(rep.stack_probe),
        cgroup=ffi.string(rep.cgroup).decode(errors="replace"),
    )


def clone_scenario(req: CloneRequest) -> CloneResult:
    """Run one clone scenario in a fresh harness process (see kc_clone.h)."""
    c = ffi.new("struct kc_clone_req *")
    c.syscall_kind = int(req.syscall)
    c.args_mode = int(req.args_at)
    c.size = req.size
    c.tail_nonzero = int(req.tail_nonzero)
    c.flags = req.flags & 0xFFFFFFFFFFFFFFFF
    c.exit_signal = req.exit_signal & 0xFFFFFFFFFFFFFFFF
    c.pidfd_mode = int(req.pidfd)
    c.parent_tid_mode = int(req.parent_tid)
    c.child_tid_mode = int(req.child_tid)
    c.stack_mode = int(req.stack)
    c.stack_size = req.stack_size
    c.set_tid_mode = int(req.set_tid_ptr)
    c.set_tid_size = req.set_tid_size
    for i, tid in enumerate(req.set_tid[: lib.KC_SET_TID_MAX]):
        c.set_tid[i] = tid
    c.cgroup = req.cgroup & 0xFFFFFFFFFFFFFFFF
    c.setup = int(req.setup)
    c.action = int(req.action)
    c.action_arg = req.action_arg
    c.timeout_ms = req.timeout_ms
    r = ffi.new("struct kc_clone_res *")
    rc = lib.kc_clone_scenario(c, r)
    if rc < 0:
        raise OSError(-rc, f"cannot start the clone harness: {errno_name(-rc)}")
    return CloneResult(
        ret=int(r.ret),
        err=int(r.err),
        created=bool(r.created),
        harness_error=HarnessError(r.harness_error),
        harness_errno=int(r.harness_errno),
        pidfd=int(r.pidfd),
        pidfd_is_pidfd=bool(r.pidfd_is_pidfd),
        pidfd_flags=int(r.pidfd_flags),
        pidfd_poll_early=int(r.pidfd_poll_early),
        pidfd_poll_exit=int(r.pidfd_poll_exit),
        parent_tid=int(r.parent_tid),
        child_exited=bool(r.child_exited),
        wait_plain=int(r.wait_plain_ret),
        wait_clone=int(r.wait_clone_ret),
        wait_all=int(r.wait_all_ret),
        status=int(r.status),
        signal_received=int(r.signal_received),
        pending=frozenset(s for s in range(1, 65) if r.pending_lo >> (s - 1) & 1),
        parent_ns=dict(zip(NS_NAMES, list(r.parent_ns_ino), strict=True)),
        parent_pid=int(r.parent_pid),
        shared_word=int(r.shared_word),
        stack_range=(int(r.stack_lo), int(r.stack_hi)),
        child=_child(r.child),
    )


def clone3_nochild(size: int, args_at: ArgsAt = ArgsAt.NORMAL) -> int:
    """clone3 with arguments that can never create a child: ret or -errno."""
    return int(lib.kc_sys_clone3_nochild(size, int(args_at)))


def pidfd_open(pid: int, flags: int = 0) -> int:
    """pidfd_open(2): fd or -errno."""
    return int(lib.kc_pidfd_open(pid, flags))


def page_size() -> int:
    return int(lib.kc_page_size())


def umount_detach(path: str) -> int:
    """umount2(path, MNT_DETACH): 0 or -errno."""
    return int(lib.kc_umount_detach(path.encode()))

"""clone3() conformance cases, one row each.

Errno order and versions: kernel-history.md section 1 (copy_clone_args_from_user,
clone3_args_valid, kernel_clone, copy_process, alloc_pid).  Ids are stable:
dashboards key on ``<behaviour>/<id>``; never rename a published id.
"""

from __future__ import annotations

import errno
import signal
from typing import Any

from conformance.clone3 import (
    STACK,
    THREAD_FLAGS,
    ChildPid,
    CloneCase,
    DispositionIs,
    Exited,
    Expect,
    InCgroup,
    IsThread,
    Namespace,
    ParentIsCaller,
    ParentTidIsChild,
    PidfdPolls,
    RanOnStack,
    Ref,
    ReturnedPid,
    SharesMemory,
    SignalReceived,
    WaitSees,
    fails,
    succeeds,
)
from conformance.native import Action, ArgsAt, CloneRequest, Disposition, Ptr, Setup, Stack, Syscall
from conformance.requirements import PRIVILEGED, Cgroup1Hierarchy, Cgroup2Writable, Feature, Requirement
from conformance.uapi import (
    CLONE_CLEAR_SIGHAND,
    CLONE_DETACHED,
    CLONE_FILES,
    CLONE_FS,
    CLONE_INTO_CGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    CLONE_PARENT,
    CLONE_PARENT_SETTID,
    CLONE_PIDFD,
    CLONE_SIGHAND,
    CLONE_SYSVSEM,
    CLONE_THREAD,
    CLONE_VFORK,
    CLONE_VM,
)
from conformance.verdict import OldModel

SIGCHLD = int(signal.SIGCHLD)
SIGUSR1 = int(signal.SIGUSR1)
SIGUSR2 = int(signal.SIGUSR2)
SIGRT1 = int(signal.SIGRTMIN) + 1
SIGRTMAX = int(signal.SIGRTMAX)

EINVAL, E2BIG, EFAULT, EPERM, EBADF, EEXIST = (
    errno.EINVAL, errno.E2BIG, errno.EFAULT, errno.EPERM, errno.EBADF, errno.EEXIST,
)

CLONE3 = Feature("clone3")
SET_TID = Feature("clone3.set_tid")
INTO_CGROUP = Feature("clone3.into_cgroup")
CLEAR_SIGHAND = Feature("clone3.clear_sighand")
NEWTIME = Feature("clone3.newtime")
PIDFD_THREAD = Feature("clone3.pidfd_thread")
USERNS = Feature("userns")
ROOT: tuple[Requirement, ...] = (CLONE3, PRIVILEGED)
UNPRIV = Setup.DROP_PRIVILEGES  # the harness drops to 65534 when run as root

# A plain fork-like child: exits 0, reaped, SIGCHLD delivered.
FORK_LIKE = succeeds(Exited(0), ParentIsCaller(), SignalReceived(SIGCHLD), WaitSees(plain=True, wclone=False))


def c3(id: str, behaviour: str, expect: Expect, *, needs: tuple[Requirement, ...] = (CLONE3,),
       old: OldModel | None = None, old_expect: Expect | None = None, doc: str = "", **req: Any) -> CloneCase:
    return CloneCase(id, f"clone3.{behaviour}", request=CloneRequest(**req), expect=expect, needs=needs,
                     old=old, old_expect=old_expect, doc=doc)


def thread(**req: Any) -> dict[str, Any]:
    """Arguments for a thread child: its own stack, no exit signal."""
    base: dict[str, Any] = {"stack": Stack.MAPPED, "stack_size": STACK, "exit_signal": 0}
    base.update(req)
    return base


CASES: tuple[CloneCase, ...] = (
    # ---- basic ----------------------------------------------------------------------------------
    c3("fork-like", "basic", FORK_LIKE),
    c3("exit-code", "basic", succeeds(Exited(42)), action_arg=42),
    c3("parent-settid", "basic", succeeds(ParentTidIsChild(), Exited(0)), flags=CLONE_PARENT_SETTID,
       parent_tid=Ptr.VALID),
    c3("vm-shared-memory", "basic", succeeds(SharesMemory(True), RanOnStack(), Exited(0)), flags=CLONE_VM,
       stack=Stack.MAPPED, stack_size=STACK),
    c3("no-vm-private-memory", "basic", succeeds(SharesMemory(False), Exited(0))),
    c3("vfork", "basic", succeeds(SharesMemory(True), Exited(0)), flags=CLONE_VFORK | CLONE_VM,
       stack=Stack.MAPPED, stack_size=STACK),
    c3("files-shared", "basic", succeeds(Exited(0)), flags=CLONE_FILES),
    # ---- struct size ABI ------------------------------------------------------------------------
    c3("size-0", "struct_size", fails(EINVAL), size=0),
    c3("size-56", "struct_size", fails(EINVAL), size=56),
    c3("size-63", "struct_size", fails(EINVAL), size=63),
    c3("size-64-ver0", "struct_size", FORK_LIKE, size=64),
    c3("size-80-ver1", "struct_size", FORK_LIKE, size=80),
    c3("size-88-ver2", "struct_size", FORK_LIKE, size=88),
    c3("size-96-zero-tail", "struct_size", FORK_LIKE, size=96),
    c3("size-page-zero-tail", "struct_size", FORK_LIKE, size=Ref.PAGE_SIZE),
    c3("size-96-nonzero-tail", "struct_size", fails(E2BIG), size=96, tail_nonzero=True),
    c3("size-104-nonzero-tail", "struct_size", fails(E2BIG), size=104, tail_nonzero=True),
    c3("size-page-plus-8", "struct_size", fails(E2BIG), size=Ref.PAGE_SIZE_PLUS_8),
    c3("size-96-tail-unmapped", "struct_size", fails(EFAULT), size=96, args_at=ArgsAt.TAIL_UNMAPPED),
    c3("size-89-tail-unmapped", "struct_size", fails(EFAULT), size=89, args_at=ArgsAt.TAIL_UNMAPPED),
    c3("size-88-at-page-end", "struct_size", FORK_LIKE, size=88, args_at=ArgsAt.TAIL_UNMAPPED),
    c3("args-null", "struct_size", fails(EFAULT), args_at=ArgsAt.NULL),
    c3("args-bad-pointer", "struct_size", fails(EFAULT), args_at=ArgsAt.BAD_POINTER),
    c3("size-56-newpid-unprivileged", "struct_size", fails(EINVAL), size=56, flags=CLONE_NEWPID, setup=UNPRIV,
       doc="the size check comes before the privilege check"),
    c3("size-page-plus-8-newpid-unprivileged", "struct_size", fails(E2BIG), size=Ref.PAGE_SIZE_PLUS_8,
       flags=CLONE_NEWPID, setup=UNPRIV),
    # ---- unknown flags / CSIGNAL bits -----------------------------------------------------------
    c3("flag-bit-38", "flags_unknown", fails(EINVAL), flags=1 << 38),
    c3("flag-bit-40", "flags_unknown", fails(EINVAL), flags=1 << 40),
    c3("flag-bit-63", "flags_unknown", fails(EINVAL), flags=1 << 63),
    c3("csignal-sigchld-in-flags", "flags_csignal", fails(EINVAL), flags=SIGCHLD),
    c3("csignal-0x01-in-flags", "flags_csignal", fails(EINVAL), flags=0x01),
    c3("csignal-0x7f-in-flags", "flags_csignal", fails(EINVAL), flags=0x7F),
    # ---- CLONE_DETACHED -------------------------------------------------------------------------
    c3("clone3-detached", "detached", fails(EINVAL), flags=CLONE_DETACHED),
    c3("clone3-detached-pidfd", "detached", fails(EINVAL), flags=CLONE_DETACHED | CLONE_PIDFD, pidfd=Ptr.VALID),
    c3("legacy-detached-ignored", "detached", FORK_LIKE, needs=(), syscall=Syscall.CLONE, flags=CLONE_DETACHED,
       doc="legacy clone() has no flag validation: the bit is ignored, the child is a fork child"),
    c3("legacy-detached-pidfd", "detached", fails(EINVAL), needs=(), syscall=Syscall.CLONE,
       flags=CLONE_DETACHED | CLONE_PIDFD, pidfd=Ptr.VALID),
    c3("legacy-pidfd", "detached", succeeds(PidfdPolls(), Exited(0)), needs=(Feature("pidfd_open"),),
       syscall=Syscall.CLONE, flags=CLONE_PIDFD, pidfd=Ptr.VALID, action=Action.REPORT_WAIT),
    c3("legacy-pidfd-parent-settid", "detached", fails(EINVAL), needs=(), syscall=Syscall.CLONE,
       flags=CLONE_PIDFD | CLONE_PARENT_SETTID, pidfd=Ptr.VALID),
    # ---- flag combinations ----------------------------------------------------------------------
    c3("sighand-clear-sighand", "flag_combinations", fails(EINVAL),
       flags=CLONE_SIGHAND | CLONE_VM | CLONE_CLEAR_SIGHAND, stack=Stack.MAPPED, stack_size=STACK,
       doc="with CLONE_VM so that only the SIGHAND/CLEAR_SIGHAND rule can fire"),
    c3("thread-without-sighand", "flag_combinations", fails(EINVAL), **thread(flags=CLONE_THREAD | CLONE_VM)),
    c3("sighand-without-vm", "flag_combinations", fails(EINVAL), flags=CLONE_SIGHAND),
    c3("newns-fs", "flag_combinations", fails(EINVAL), flags=CLONE_NEWNS | CLONE_FS),
    c3("newuser-fs", "flag_combinations", fails(EINVAL), flags=CLONE_NEWUSER | CLONE_FS),
    c3("thread-newpid", "flag_combinations", fails(EINVAL), **thread(flags=THREAD_FLAGS | CLONE_NEWPID)),
    c3("thread-newuser", "flag_combinations", fails(EINVAL), **thread(flags=THREAD_FLAGS | CLONE_NEWUSER)),
    c3("thread-after-unshare-newpid", "flag_combinations", fails(EINVAL), needs=ROOT,
       **thread(flags=THREAD_FLAGS, setup=Setup.UNSHARE_PIDNS),
       doc="pid_ns_for_children differs from the active pid namespace"),
    c3("newipc-sysvsem", "flag_combinations", fails(EINVAL), needs=ROOT, flags=CLONE_NEWIPC | CLONE_SYSVSEM),
    c3("newipc-sysvsem-unprivileged", "flag_combinations", fails(EPERM), flags=CLONE_NEWIPC | CLONE_SYSVSEM,
       setup=UNPRIV, doc="the capability check in copy_namespaces comes first"),
    # ---- threads and PARENT ---------------------------------------------------------------------
    c3("thread", "threads", succeeds(IsThread()), **thread(flags=THREAD_FLAGS)),
    c3("thread-exit-signal", "threads", fails(EINVAL), **thread(flags=THREAD_FLAGS, exit_signal=SIGCHLD)),
    c3("parent-exit-signal", "threads", fails(EINVAL), flags=CLONE_PARENT, exit_signal=SIGCHLD),
    c3("thread-pidfd-bad-pointer-order", "threads", fails(EINVAL),
       **thread(flags=THREAD_FLAGS | CLONE_PIDFD, exit_signal=SIGUSR1, pidfd=Ptr.VALID),
       doc="exit_signal with THREAD is rejected before any pidfd handling"),
    # ---- exit_signal validation -----------------------------------------------------------------
    c3("exit-signal-65", "exit_signal_validation", fails(EINVAL), exit_signal=65),
    c3("exit-signal-0xf0", "exit_signal_validation", fails(EINVAL), exit_signal=0xF0),
    c3("exit-signal-0x100", "exit_signal_validation", fails(EINVAL), exit_signal=0x100),
    c3("exit-signal-upper-32-bits", "exit_signal_validation", fails(EINVAL), exit_signal=0xBADC0DED00000000),
    c3("exit-signal-bit-31", "exit_signal_validation", fails(EINVAL), exit_signal=0x80000000),
    c3("exit-signal-minus-1", "exit_signal_validation", fails(EINVAL), exit_signal=-1),
    c3("exit-signal-64-valid", "exit_signal_validation",
       succeeds(SignalReceived(SIGRTMAX), WaitSees(plain=False, wclone=True)), exit_signal=SIGRTMAX),
    # ---- exit_signal delivery and wait visibility -----------------------------------------------
    c3("deliver-sigchld", "exit_signal_delivery",
       succeeds(SignalReceived(SIGCHLD), WaitSees(plain=True, wclone=False), Exited(0)), exit_signal=SIGCHLD),
    c3("deliver-sigusr1", "exit_signal_delivery",
       succeeds(SignalReceived(SIGUSR1), WaitSees(plain=False, wclone=True), Exited(0)), exit_signal=SIGUSR1),
    c3("deliver-sigrtmin-plus-1", "exit_signal_delivery",
       succeeds(SignalReceived(SIGRT1), WaitSees(plain=False, wclone=True), Exited(0)), exit_signal=SIGRT1),
    c3("deliver-none", "exit_signal_delivery",
       succeeds(SignalReceived(0), WaitSees(plain=False, wclone=True), Exited(0)), exit_signal=0),
    c3("deliver-sigusr1-exit-code", "exit_signal_delivery",
       succeeds(SignalReceived(SIGUSR1), Exited(9)), exit_signal=SIGUSR1, action_arg=9),
    # ---- stack ----------------------------------------------------------------------------------
    c3("stack-null-with-size", "stack", fails(EINVAL), stack=Stack.NO_ADDR, stack_size=4096),
    c3("stack-without-size", "stack", fails(EINVAL), stack=Stack.NO_SIZE, stack_size=STACK),
    c3("stack-kernel-address", "stack", fails(EINVAL), stack=Stack.KERNEL_ADDR, stack_size=STACK),
    c3("stack-used-by-child", "stack", succeeds(RanOnStack(), Exited(0)), stack=Stack.MAPPED, stack_size=STACK),
    # ---- set_tid --------------------------------------------------------------------------------
    c3("set-tid-size-33", "set_tid", fails(EINVAL), needs=(SET_TID,), set_tid=(0,) * 33, set_tid_ptr=Ptr.VALID,
       set_tid_size=33),
    c3("set-tid-size-64", "set_tid", fails(EINVAL), needs=(SET_TID,), set_tid=(-1,) * 64,
       set_tid_ptr=Ptr.VALID, set_tid_size=64),
    c3("set-tid-null-size-1", "set_tid", fails(EINVAL), needs=(SET_TID,), set_tid_ptr=Ptr.NONE, set_tid_size=1),
    c3("set-tid-array-size-0", "set_tid", fails(EINVAL), needs=(SET_TID,), set_tid=(1,), set_tid_ptr=Ptr.VALID,
       set_tid_size=0),
    c3("set-tid-bad-pointer", "set_tid", fails(EFAULT), needs=(SET_TID,), set_tid_ptr=Ptr.BAD, set_tid_size=1),
    c3("set-tid-0", "set_tid", fails(EINVAL), needs=(SET_TID,), set_tid=(0,), set_tid_ptr=Ptr.VALID,
       set_tid_size=1),
    c3("set-tid-minus-1", "set_tid", fails(EINVAL), needs=(SET_TID,), set_tid=(-1,), set_tid_ptr=Ptr.VALID,
       set_tid_size=1),
    c3("set-tid-pid-max", "set_tid", fails(EINVAL), needs=(SET_TID,), set_tid=(Ref.PID_MAX,),
       set_tid_ptr=Ptr.VALID, set_tid_size=1),
    c3("set-tid-size-2-one-level", "set_tid", fails(EINVAL), needs=(SET_TID,), set_tid=(Ref.FREE_PID, 1),
       set_tid_ptr=Ptr.VALID, set_tid_size=2, doc="more entries than nested pid namespaces"),
    c3("set-tid-unprivileged", "set_tid", fails(EPERM), needs=(SET_TID,), set_tid=(Ref.FREE_PID,),
       set_tid_ptr=Ptr.VALID, set_tid_size=1, setup=UNPRIV),
    c3("set-tid-1-unprivileged", "set_tid", fails(EPERM), needs=(SET_TID,), set_tid=(1,), set_tid_ptr=Ptr.VALID,
       set_tid_size=1, setup=UNPRIV, doc="the capability check comes before the in-use check"),
    c3("set-tid-in-use", "set_tid", fails(EEXIST), needs=(SET_TID, PRIVILEGED), set_tid=(1,),
       set_tid_ptr=Ptr.VALID, set_tid_size=1),
    c3("set-tid-free-pid", "set_tid", succeeds(ReturnedPid(Ref.FREE_PID), ChildPid(Ref.FREE_PID), Exited(0)),
       needs=(SET_TID, PRIVILEGED), set_tid=(Ref.FREE_PID,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
    c3("set-tid-newpid-1", "set_tid", succeeds(ChildPid(1), Exited(0)), needs=(SET_TID, PRIVILEGED),
       flags=CLONE_NEWPID, set_tid=(1,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
    c3("set-tid-newpid-nested", "set_tid",
       succeeds(ReturnedPid(Ref.FREE_PID), ChildPid(1), Exited(0)), needs=(SET_TID, PRIVILEGED),
       flags=CLONE_NEWPID, set_tid=(1, Ref.FREE_PID), set_tid_ptr=Ptr.VALID, set_tid_size=2,
       doc="innermost first: pid 1 in the new namespace, the free pid outside"),
    c3("set-tid-newpid-not-1", "set_tid", fails(EINVAL), needs=(SET_TID, PRIVILEGED), flags=CLONE_NEWPID,
       set_tid=(Ref.FREE_PID,), set_tid_ptr=Ptr.VALID, set_tid_size=1,
       doc="a new namespace has no reaper yet: only pid 1 may be asked for"),
    c3("set-tid-newpid-minus-1", "set_tid", fails(EINVAL), needs=(SET_TID, PRIVILEGED), flags=CLONE_NEWPID,
       set_tid=(-1,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
    c3("set-tid-newpid-pid-max", "set_tid", fails(EINVAL), needs=(SET_TID, PRIVILEGED), flags=CLONE_NEWPID,
       set_tid=(Ref.PID_MAX,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
    c3("set-tid-newpid-too-deep", "set_tid", fails(EINVAL), needs=(SET_TID, PRIVILEGED), flags=CLONE_NEWPID,
       set_tid=(1, 42, Ref.FREE_PID), set_tid_ptr=Ptr.VALID, set_tid_size=3),
    c3("set-tid-no-reaper", "set_tid", fails(EINVAL), needs=(SET_TID, PRIVILEGED), setup=Setup.UNSHARE_PIDNS,
       set_tid=(Ref.FREE_PID,), set_tid_ptr=Ptr.VALID, set_tid_size=1,
       doc="after unshare(CLONE_NEWPID) the first child must be pid 1"),
    c3("set-tid-after-unshare-1", "set_tid", succeeds(ChildPid(1), Exited(0)), needs=(SET_TID, PRIVILEGED),
       setup=Setup.UNSHARE_PIDNS, set_tid=(1,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
    # ---- CLONE_INTO_CGROUP ----------------------------------------------------------------------
    c3("into-cgroup-size-80", "into_cgroup", fails(EINVAL), needs=(INTO_CGROUP,), flags=CLONE_INTO_CGROUP,
       size=80),
    c3("into-cgroup-above-int-max", "into_cgroup", fails(EINVAL), needs=(INTO_CGROUP,), flags=CLONE_INTO_CGROUP,
       cgroup=0x80000000),
    c3("into-cgroup-closed-fd", "into_cgroup", fails(EBADF), needs=(INTO_CGROUP,), flags=CLONE_INTO_CGROUP,
       cgroup=Ref.CLOSED_FD),
    c3("into-cgroup-regular-file", "into_cgroup", fails(EBADF), needs=(INTO_CGROUP,), flags=CLONE_INTO_CGROUP,
       cgroup=Ref.REGULAR_FILE_FD),
    c3("into-cgroup-procs-file", "into_cgroup", fails(EBADF), needs=(INTO_CGROUP, PRIVILEGED, Cgroup2Writable()),
       flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP_PROCS_FD),
    c3("into-cgroup-v1-dir", "into_cgroup", fails(EBADF), needs=(INTO_CGROUP, Cgroup1Hierarchy()),
       flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP1_DIR_FD),
    c3("into-cgroup-lands", "into_cgroup", succeeds(InCgroup(), Exited(0)),
       needs=(INTO_CGROUP, PRIVILEGED, Cgroup2Writable()), flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP_DIR_FD),
    c3("into-cgroup-o-path", "into_cgroup", succeeds(InCgroup(), Exited(0)),
       needs=(INTO_CGROUP, PRIVILEGED, Cgroup2Writable()), flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP_PATH_FD),
    c3("into-cgroup-unprivileged", "into_cgroup", fails(errno.EACCES),
       needs=(INTO_CGROUP, PRIVILEGED, Cgroup2Writable()), flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP_DIR_FD,
       setup=UNPRIV, doc="a root-owned group is not writable by uid 65534"),
    # ---- CLONE_CLEAR_SIGHAND --------------------------------------------------------------------
    c3("clear-sighand-resets-handler", "clear_sighand", succeeds(DispositionIs(SIGUSR1, Disposition.DEFAULT)),
       needs=(CLEAR_SIGHAND,), flags=CLONE_CLEAR_SIGHAND, setup=Setup.HANDLE_USR1),
    c3("clear-sighand-resets-rt-handler", "clear_sighand", succeeds(DispositionIs(SIGRT1, Disposition.DEFAULT)),
       needs=(CLEAR_SIGHAND,), flags=CLONE_CLEAR_SIGHAND, setup=Setup.HANDLE_RTMIN1),
    c3("clear-sighand-keeps-ignore", "clear_sighand", succeeds(DispositionIs(SIGUSR2, Disposition.IGNORE)),
       needs=(CLEAR_SIGHAND,), flags=CLONE_CLEAR_SIGHAND, setup=Setup.IGNORE_USR2),
    c3("no-clear-sighand-inherits", "clear_sighand",
       succeeds(DispositionIs(SIGUSR1, Disposition.HANDLER), DispositionIs(SIGUSR2, Disposition.IGNORE)),
       setup=Setup.HANDLE_USR1 | Setup.IGNORE_USR2, doc="control: without the flag handlers are inherited"),
    # ---- CLONE_NEWTIME and other namespaces -----------------------------------------------------
    c3("newtime-accepted", "newtime", succeeds(Namespace("time", new=True), Exited(0)), needs=ROOT,
       flags=CLONE_NEWTIME, old=OldModel("6.3", "a402f1e35313", "clone3 rejected CLONE_NEWTIME with EINVAL"),
       old_expect=fails(EINVAL)),
    c3("newtime-unprivileged", "newtime", fails(EPERM), needs=(NEWTIME,), flags=CLONE_NEWTIME, setup=UNPRIV),
    c3("newpid", "namespaces", succeeds(ChildPid(1), Namespace("pid", new=True), Exited(0)), needs=ROOT,
       flags=CLONE_NEWPID),
    c3("newpid-unprivileged", "namespaces", fails(EPERM), flags=CLONE_NEWPID, setup=UNPRIV),
    c3("newnet-unprivileged", "namespaces", fails(EPERM), flags=CLONE_NEWNET, setup=UNPRIV),
    c3("newuts-ipc-net", "namespaces",
       succeeds(Namespace("net", new=True), Namespace("ipc", new=True), Exited(0)), needs=ROOT,
       flags=CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET),
    c3("newuser", "namespaces", succeeds(Namespace("user", new=True), Exited(0)), needs=(CLONE3, USERNS),
       flags=CLONE_NEWUSER),
    c3("newuser-newpid", "namespaces", succeeds(ChildPid(1), Namespace("user", new=True), Exited(0)),
       needs=(CLONE3, USERNS), flags=CLONE_NEWUSER | CLONE_NEWPID),
    # ---- CLONE_PIDFD ----------------------------------------------------------------------------
    c3("pidfd-polls-on-exit", "pidfd", succeeds(PidfdPolls(), Exited(0)), flags=CLONE_PIDFD, pidfd=Ptr.VALID,
       action=Action.REPORT_WAIT),
    c3("pidfd-equals-parent-tid", "pidfd", fails(EINVAL), flags=CLONE_PIDFD | CLONE_PARENT_SETTID,
       pidfd=Ptr.SAME_AS_PARENT_TID),
    c3("pidfd-distinct-parent-tid", "pidfd", succeeds(ParentTidIsChild(), PidfdPolls(), Exited(0)),
       flags=CLONE_PIDFD | CLONE_PARENT_SETTID, pidfd=Ptr.VALID, parent_tid=Ptr.VALID, action=Action.REPORT_WAIT),
    c3("pidfd-bad-pointer", "pidfd", fails(EFAULT), flags=CLONE_PIDFD, pidfd=Ptr.BAD),
    c3("pidfd-thread", "pidfd_thread", succeeds(IsThread(), PidfdPolls(thread=True)),
       **thread(flags=THREAD_FLAGS | CLONE_PIDFD, pidfd=Ptr.VALID, action=Action.REPORT_WAIT),
       old=OldModel("6.9", "83b290c9e3b5", "CLONE_PIDFD with CLONE_THREAD was EINVAL"), old_expect=fails(EINVAL)),
)

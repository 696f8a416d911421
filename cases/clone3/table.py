"""clone3() conformance cases, one row each.

Errno order and versions: cases/kernel-facts.md §1 (copy_clone_args_from_user,
clone3_args_valid, kernel_clone, copy_process, alloc_pid).  Ids are stable:
dashboards key on ``<behaviour>/<id>``; never rename a published id.
"""

from __future__ import annotations

import errno
import signal

from conformance.host.uapi import (
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
from conformance.suite.case import OldModel
from conformance.suite.requirements import (
    PIDNS_PRIVILEGED,
    PRIVILEGED,
    Cgroup1Hierarchy,
    Cgroup2Writable,
    Feature,
    Requirement,
)

from .model import (
    CLONE3,
    STACK,
    THREAD_FLAGS,
    ChildPid,
    CloneCase,
    DispositionIs,
    Exited,
    FailsAtPidnsDepth,
    InCgroup,
    InitialPidns,
    IsThread,
    Namespace,
    ParentIsCaller,
    ParentTidIsChild,
    PidfdPolls,
    PidnsDepthKnown,
    RanOnStack,
    ReturnedPid,
    SharesMemory,
    SignalReceived,
    WaitSees,
    c3,
    fails,
    succeeds,
    thread,
)
from .table71 import VALIDATION
from .wire import Action, ArgsAt, Disposition, Ns, Ptr, Ref, Setup, Stack, Syscall
from .wire import CloneRequest as Req

SIGCHLD = int(signal.SIGCHLD)
SIGUSR1 = int(signal.SIGUSR1)
SIGUSR2 = int(signal.SIGUSR2)
SIGRT1 = int(signal.SIGRTMIN) + 1
SIGRTMAX = int(signal.SIGRTMAX)

EINVAL, E2BIG, EFAULT, EPERM, EBADF, EEXIST = (
    errno.EINVAL, errno.E2BIG, errno.EFAULT, errno.EPERM, errno.EBADF, errno.EEXIST,
)

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


CASES: tuple[CloneCase, ...] = (
    # ---- basic ----------------------------------------------------------------------------------
    c3("fork-like", "basic", FORK_LIKE),
    c3("exit-code", "basic", succeeds(Exited(42)), Req(action_arg=42)),
    c3("parent-settid", "basic", succeeds(ParentTidIsChild(), Exited(0)),
       Req(flags=CLONE_PARENT_SETTID, parent_tid=Ptr.VALID)),
    c3("legacy-parent-settid", "basic", succeeds(ParentTidIsChild(), Exited(0)),
       Req(syscall=Syscall.CLONE, flags=CLONE_PARENT_SETTID, parent_tid=Ptr.VALID), needs=(),
       doc="legacy clone(): the parent-tid pointer is the 3rd argument on every architecture"),
    c3("vm-shared-memory", "basic", succeeds(SharesMemory(True), RanOnStack(), Exited(0)),
       Req(flags=CLONE_VM, stack=Stack.MAPPED, stack_size=STACK)),
    c3("no-vm-private-memory", "basic", succeeds(SharesMemory(False), Exited(0))),
    c3("vfork", "basic", succeeds(SharesMemory(True), Exited(0)),
       Req(flags=CLONE_VFORK | CLONE_VM, stack=Stack.MAPPED, stack_size=STACK)),
    c3("files-shared", "basic", succeeds(Exited(0)), Req(flags=CLONE_FILES)),
    # ---- struct size ABI ------------------------------------------------------------------------
    c3("size-0", "struct_size", fails(EINVAL), Req(size=0)),
    c3("size-56", "struct_size", fails(EINVAL), Req(size=56)),
    c3("size-63", "struct_size", fails(EINVAL), Req(size=63)),
    c3("size-64-ver0", "struct_size", FORK_LIKE, Req(size=64)),
    c3("size-80-ver1", "struct_size", FORK_LIKE, Req(size=80)),
    c3("size-88-ver2", "struct_size", FORK_LIKE, Req(size=88)),
    c3("size-96-zero-tail", "struct_size", FORK_LIKE, Req(size=96)),
    c3("size-page-zero-tail", "struct_size", FORK_LIKE, Req(size=Ref.PAGE_SIZE)),
    c3("size-96-nonzero-tail", "struct_size", fails(E2BIG), Req(size=96, tail_nonzero=True)),
    c3("size-104-nonzero-tail", "struct_size", fails(E2BIG), Req(size=104, tail_nonzero=True)),
    c3("size-page-plus-8", "struct_size", fails(E2BIG), Req(size=Ref.PAGE_SIZE_PLUS_8)),
    c3("size-96-tail-unmapped", "struct_size", fails(EFAULT), Req(size=96, args_at=ArgsAt.TAIL_UNMAPPED)),
    c3("size-89-tail-unmapped", "struct_size", fails(EFAULT), Req(size=89, args_at=ArgsAt.TAIL_UNMAPPED)),
    c3("size-88-at-page-end", "struct_size", FORK_LIKE, Req(size=88, args_at=ArgsAt.TAIL_UNMAPPED)),
    c3("args-null", "struct_size", fails(EFAULT), Req(args_at=ArgsAt.NULL)),
    c3("args-bad-pointer", "struct_size", fails(EFAULT), Req(args_at=ArgsAt.BAD_POINTER)),
    c3("size-56-newpid-unprivileged", "struct_size", fails(EINVAL), Req(size=56, flags=CLONE_NEWPID, setup=UNPRIV),
       doc="the size check comes before the privilege check"),
    c3("size-page-plus-8-newpid-unprivileged", "struct_size", fails(E2BIG),
       Req(size=Ref.PAGE_SIZE_PLUS_8, flags=CLONE_NEWPID, setup=UNPRIV)),
    # ---- unknown flags / CSIGNAL bits -----------------------------------------------------------
    c3("flag-bit-38", "flags_unknown", fails(EINVAL), Req(flags=1 << 38)),
    c3("flag-bit-40", "flags_unknown", fails(EINVAL), Req(flags=1 << 40)),
    c3("flag-bit-63", "flags_unknown", fails(EINVAL), Req(flags=1 << 63)),
    c3("csignal-sigchld-in-flags", "flags_csignal", fails(EINVAL), Req(flags=SIGCHLD)),
    c3("csignal-0x01-in-flags", "flags_csignal", fails(EINVAL), Req(flags=0x01)),
    c3("csignal-0x7f-in-flags", "flags_csignal", fails(EINVAL), Req(flags=0x7F)),
    # ---- CLONE_DETACHED -------------------------------------------------------------------------
    c3("clone3-detached", "detached", fails(EINVAL), Req(flags=CLONE_DETACHED)),
    c3("clone3-detached-pidfd", "detached", fails(EINVAL), Req(flags=CLONE_DETACHED | CLONE_PIDFD, pidfd=Ptr.VALID)),
    c3("legacy-detached-ignored", "detached", FORK_LIKE, Req(syscall=Syscall.CLONE, flags=CLONE_DETACHED), needs=(),
       doc="legacy clone() has no flag validation: the bit is ignored, the child is a fork child"),
    c3("legacy-detached-pidfd", "detached", fails(EINVAL),
       Req(syscall=Syscall.CLONE, flags=CLONE_DETACHED | CLONE_PIDFD, pidfd=Ptr.VALID), needs=()),
    c3("legacy-pidfd", "detached", succeeds(PidfdPolls(), Exited(0)),
       Req(syscall=Syscall.CLONE, flags=CLONE_PIDFD, pidfd=Ptr.VALID, action=Action.REPORT_WAIT),
       needs=(Feature("pidfd_open"),)),
    c3("legacy-pidfd-parent-settid", "detached", fails(EINVAL),
       Req(syscall=Syscall.CLONE, flags=CLONE_PIDFD | CLONE_PARENT_SETTID, pidfd=Ptr.VALID), needs=()),
    # ---- flag combinations ----------------------------------------------------------------------
    c3("sighand-clear-sighand", "flag_combinations", fails(EINVAL),
       Req(flags=CLONE_SIGHAND | CLONE_VM | CLONE_CLEAR_SIGHAND, stack=Stack.MAPPED, stack_size=STACK),
       doc="with CLONE_VM so that only the SIGHAND/CLEAR_SIGHAND rule can fire"),
    c3("thread-without-sighand", "flag_combinations", fails(EINVAL), thread(flags=CLONE_THREAD | CLONE_VM)),
    c3("sighand-without-vm", "flag_combinations", fails(EINVAL), Req(flags=CLONE_SIGHAND)),
    c3("newns-fs", "flag_combinations", fails(EINVAL), Req(flags=CLONE_NEWNS | CLONE_FS)),
    c3("newuser-fs", "flag_combinations", fails(EINVAL), Req(flags=CLONE_NEWUSER | CLONE_FS)),
    c3("thread-newpid", "flag_combinations", fails(EINVAL), thread(flags=THREAD_FLAGS | CLONE_NEWPID)),
    c3("thread-newuser", "flag_combinations", fails(EINVAL), thread(flags=THREAD_FLAGS | CLONE_NEWUSER)),
    c3("thread-after-unshare-newpid", "flag_combinations", fails(EINVAL),
       thread(flags=THREAD_FLAGS, setup=Setup.UNSHARE_PIDNS), needs=ROOT,
       doc="pid_ns_for_children differs from the active pid namespace"),
    c3("newipc-sysvsem", "flag_combinations", fails(EINVAL), Req(flags=CLONE_NEWIPC | CLONE_SYSVSEM), needs=ROOT),
    c3("newipc-sysvsem-unprivileged", "flag_combinations", fails(EPERM),
       Req(flags=CLONE_NEWIPC | CLONE_SYSVSEM, setup=UNPRIV),
       doc="the capability check in copy_namespaces comes first"),
    # ---- threads and PARENT ---------------------------------------------------------------------
    c3("thread", "threads", succeeds(IsThread()), thread(flags=THREAD_FLAGS)),
    c3("thread-exit-signal", "threads", fails(EINVAL), thread(flags=THREAD_FLAGS, exit_signal=SIGCHLD)),
    c3("legacy-thread", "threads", succeeds(IsThread()),
       Req(syscall=Syscall.CLONE, flags=THREAD_FLAGS, stack=Stack.MAPPED, stack_size=STACK), needs=(),
       doc="legacy clone() of a thread: the child-tid word (CLONE_CHILD_CLEARTID, cleared at the thread's exit) "
           "is clone's 4th argument on x86_64 and its 5th, after tls, where the architecture selects "
           "CONFIG_CLONE_BACKWARDS (arm64): a wrong order leaves the word unset and the exit unseen"),
    c3("parent-exit-signal", "threads", fails(EINVAL), Req(flags=CLONE_PARENT, exit_signal=SIGCHLD)),
    c3("thread-pidfd-bad-pointer-order", "threads", fails(EINVAL),
       thread(flags=THREAD_FLAGS | CLONE_PIDFD, exit_signal=SIGUSR1, pidfd=Ptr.VALID),
       doc="exit_signal with THREAD is rejected before any pidfd handling"),
    # ---- exit_signal validation -----------------------------------------------------------------
    c3("exit-signal-65", "exit_signal_validation", fails(EINVAL), Req(exit_signal=65)),
    c3("exit-signal-0xf0", "exit_signal_validation", fails(EINVAL), Req(exit_signal=0xF0)),
    c3("exit-signal-0x100", "exit_signal_validation", fails(EINVAL), Req(exit_signal=0x100)),
    c3("exit-signal-upper-32-bits", "exit_signal_validation", fails(EINVAL), Req(exit_signal=0xBADC0DED00000000)),
    c3("exit-signal-bit-31", "exit_signal_validation", fails(EINVAL), Req(exit_signal=0x80000000)),
    c3("exit-signal-minus-1", "exit_signal_validation", fails(EINVAL), Req(exit_signal=-1)),
    c3("exit-signal-64-valid", "exit_signal_validation",
       succeeds(SignalReceived(SIGRTMAX), WaitSees(plain=False, wclone=True)), Req(exit_signal=SIGRTMAX)),
    # ---- exit_signal delivery and wait visibility -----------------------------------------------
    c3("deliver-sigchld", "exit_signal_delivery",
       succeeds(SignalReceived(SIGCHLD), WaitSees(plain=True, wclone=False), Exited(0)), Req(exit_signal=SIGCHLD)),
    c3("deliver-sigusr1", "exit_signal_delivery",
       succeeds(SignalReceived(SIGUSR1), WaitSees(plain=False, wclone=True), Exited(0)), Req(exit_signal=SIGUSR1)),
    c3("deliver-sigrtmin-plus-1", "exit_signal_delivery",
       succeeds(SignalReceived(SIGRT1), WaitSees(plain=False, wclone=True), Exited(0)), Req(exit_signal=SIGRT1)),
    c3("deliver-none", "exit_signal_delivery",
       succeeds(SignalReceived(0), WaitSees(plain=False, wclone=True), Exited(0)), Req(exit_signal=0)),
    c3("deliver-sigusr1-exit-code", "exit_signal_delivery", succeeds(SignalReceived(SIGUSR1), Exited(9)),
       Req(exit_signal=SIGUSR1, action_arg=9)),
    # ---- stack ----------------------------------------------------------------------------------
    c3("stack-null-with-size", "stack", fails(EINVAL), Req(stack=Stack.NO_ADDR, stack_size=4096)),
    c3("stack-without-size", "stack", fails(EINVAL), Req(stack=Stack.NO_SIZE, stack_size=STACK)),
    c3("stack-kernel-address", "stack", fails(EINVAL), Req(stack=Stack.KERNEL_ADDR, stack_size=STACK)),
    c3("stack-used-by-child", "stack", succeeds(RanOnStack(), Exited(0)), Req(stack=Stack.MAPPED, stack_size=STACK)),
    # ---- set_tid --------------------------------------------------------------------------------
    c3("set-tid-size-33", "set_tid", fails(EINVAL), Req(set_tid=(0,) * 33, set_tid_ptr=Ptr.VALID, set_tid_size=33),
       needs=(SET_TID,)),
    c3("set-tid-size-64", "set_tid", fails(EINVAL), Req(set_tid=(-1,) * 64, set_tid_ptr=Ptr.VALID, set_tid_size=64),
       needs=(SET_TID,)),
    c3("set-tid-null-size-1", "set_tid", fails(EINVAL), Req(set_tid_ptr=Ptr.NONE, set_tid_size=1), needs=(SET_TID,)),
    c3("set-tid-array-size-0", "set_tid", fails(EINVAL), Req(set_tid=(1,), set_tid_ptr=Ptr.VALID, set_tid_size=0),
       needs=(SET_TID,)),
    c3("set-tid-bad-pointer", "set_tid", fails(EFAULT), Req(set_tid_ptr=Ptr.BAD, set_tid_size=1), needs=(SET_TID,)),
    c3("set-tid-0", "set_tid", fails(EINVAL), Req(set_tid=(0,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
       needs=(SET_TID,)),
    c3("set-tid-minus-1", "set_tid", fails(EINVAL), Req(set_tid=(-1,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
       needs=(SET_TID,)),
    c3("set-tid-pid-max", "set_tid", fails(EINVAL), Req(set_tid=(Ref.PID_MAX,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
       needs=(SET_TID,)),
    c3("set-tid-size-2-one-level", "set_tid", FailsAtPidnsDepth(),
       Req(set_tid=(Ref.FREE_PID, 1), set_tid_ptr=Ptr.VALID, set_tid_size=2), needs=(SET_TID, PidnsDepthKnown()),
       doc="more entries than nested pid namespaces: EINVAL in the initial pid namespace (one level). In a "
           "nested one (every container) 2 entries fit, and the second names pid 1 of the parent pid namespace: "
           "EEXIST with the capability over its owner, EPERM without; the expectation follows the depth and "
           "capabilities observed, and the row skips where this pid namespace's owner may or may not own its "
           "parent (that cannot be seen from inside)"),
    c3("set-tid-unprivileged", "set_tid", fails(EPERM),
       Req(set_tid=(Ref.FREE_PID,), set_tid_ptr=Ptr.VALID, set_tid_size=1, setup=UNPRIV), needs=(SET_TID,)),
    c3("set-tid-1-unprivileged", "set_tid", fails(EPERM),
       Req(set_tid=(1,), set_tid_ptr=Ptr.VALID, set_tid_size=1, setup=UNPRIV), needs=(SET_TID,),
       doc="the capability check comes before the in-use check"),
    c3("set-tid-in-use", "set_tid", fails(EEXIST), Req(set_tid=(1,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
       needs=(SET_TID, PIDNS_PRIVILEGED)),
    c3("set-tid-free-pid", "set_tid", succeeds(ReturnedPid(Ref.FREE_PID), ChildPid(Ref.FREE_PID), Exited(0)),
       Req(set_tid=(Ref.FREE_PID,), set_tid_ptr=Ptr.VALID, set_tid_size=1), needs=(SET_TID, PIDNS_PRIVILEGED)),
    c3("set-tid-newpid-1", "set_tid", succeeds(ChildPid(1), Exited(0)),
       Req(flags=CLONE_NEWPID, set_tid=(1,), set_tid_ptr=Ptr.VALID, set_tid_size=1), needs=(SET_TID, PRIVILEGED)),
    c3("set-tid-newpid-nested", "set_tid", succeeds(ReturnedPid(Ref.FREE_PID), ChildPid(1), Exited(0)),
       Req(flags=CLONE_NEWPID, set_tid=(1, Ref.FREE_PID), set_tid_ptr=Ptr.VALID, set_tid_size=2),
       needs=(SET_TID, PIDNS_PRIVILEGED), doc="innermost first: pid 1 in the new namespace, the free pid outside"),
    c3("set-tid-newpid-not-1", "set_tid", fails(EINVAL),
       Req(flags=CLONE_NEWPID, set_tid=(Ref.FREE_PID,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
       needs=(SET_TID, PRIVILEGED), doc="a new namespace has no reaper yet: only pid 1 may be asked for"),
    c3("set-tid-newpid-minus-1", "set_tid", fails(EINVAL),
       Req(flags=CLONE_NEWPID, set_tid=(-1,), set_tid_ptr=Ptr.VALID, set_tid_size=1), needs=(SET_TID, PRIVILEGED)),
    c3("set-tid-newpid-pid-max", "set_tid", fails(EINVAL),
       Req(flags=CLONE_NEWPID, set_tid=(Ref.PID_MAX,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
       needs=(SET_TID, PRIVILEGED)),
    c3("set-tid-newpid-too-deep", "set_tid", fails(EINVAL),
       Req(flags=CLONE_NEWPID, set_tid=(1, 42, Ref.FREE_PID), set_tid_ptr=Ptr.VALID, set_tid_size=3),
       needs=(SET_TID, PRIVILEGED, InitialPidns("a new pid namespace below the initial one has two levels, so 3 "
                                                "entries are too many only there")),
       doc="EINVAL only counted from the initial pid namespace: one level deeper the three entries fit, and the "
           "answer then depends on which of pids 1 and 42 the intermediate namespace has in use"),
    c3("set-tid-no-reaper", "set_tid", fails(EINVAL),
       Req(setup=Setup.UNSHARE_PIDNS, set_tid=(Ref.FREE_PID,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
       needs=(SET_TID, PRIVILEGED), doc="after unshare(CLONE_NEWPID) the first child must be pid 1"),
    c3("set-tid-after-unshare-1", "set_tid", succeeds(ChildPid(1), Exited(0)),
       Req(setup=Setup.UNSHARE_PIDNS, set_tid=(1,), set_tid_ptr=Ptr.VALID, set_tid_size=1),
       needs=(SET_TID, PRIVILEGED)),
    # ---- CLONE_INTO_CGROUP ----------------------------------------------------------------------
    c3("into-cgroup-size-80", "into_cgroup", fails(EINVAL), Req(flags=CLONE_INTO_CGROUP, size=80),
       needs=(INTO_CGROUP,)),
    c3("into-cgroup-above-int-max", "into_cgroup", fails(EINVAL), Req(flags=CLONE_INTO_CGROUP, cgroup=0x80000000),
       needs=(INTO_CGROUP,)),
    c3("into-cgroup-closed-fd", "into_cgroup", fails(EBADF), Req(flags=CLONE_INTO_CGROUP, cgroup=Ref.CLOSED_FD),
       needs=(INTO_CGROUP,)),
    c3("into-cgroup-regular-file", "into_cgroup", fails(EBADF),
       Req(flags=CLONE_INTO_CGROUP, cgroup=Ref.REGULAR_FILE_FD), needs=(INTO_CGROUP,)),
    c3("into-cgroup-procs-file", "into_cgroup", fails(EBADF), Req(flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP_PROCS_FD),
       needs=(INTO_CGROUP, PRIVILEGED, Cgroup2Writable())),
    c3("into-cgroup-v1-dir", "into_cgroup", fails(EBADF), Req(flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP1_DIR_FD),
       needs=(INTO_CGROUP, Cgroup1Hierarchy())),
    c3("into-cgroup-lands", "into_cgroup", succeeds(InCgroup(), Exited(0)),
       Req(flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP_DIR_FD), needs=(INTO_CGROUP, PRIVILEGED, Cgroup2Writable())),
    c3("into-cgroup-o-path", "into_cgroup", succeeds(InCgroup(), Exited(0)),
       Req(flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP_PATH_FD), needs=(INTO_CGROUP, PRIVILEGED, Cgroup2Writable())),
    c3("into-cgroup-unprivileged", "into_cgroup", fails(errno.EACCES),
       Req(flags=CLONE_INTO_CGROUP, cgroup=Ref.CGROUP_DIR_FD, setup=UNPRIV),
       needs=(INTO_CGROUP, PRIVILEGED, Cgroup2Writable()), doc="a root-owned group is not writable by uid 65534"),
    # ---- CLONE_CLEAR_SIGHAND --------------------------------------------------------------------
    c3("clear-sighand-resets-handler", "clear_sighand", succeeds(DispositionIs(SIGUSR1, Disposition.DEFAULT)),
       Req(flags=CLONE_CLEAR_SIGHAND, setup=Setup.HANDLE_USR1), needs=(CLEAR_SIGHAND,)),
    c3("clear-sighand-resets-rt-handler", "clear_sighand", succeeds(DispositionIs(SIGRT1, Disposition.DEFAULT)),
       Req(flags=CLONE_CLEAR_SIGHAND, setup=Setup.HANDLE_RTMIN1), needs=(CLEAR_SIGHAND,)),
    c3("clear-sighand-keeps-ignore", "clear_sighand", succeeds(DispositionIs(SIGUSR2, Disposition.IGNORE)),
       Req(flags=CLONE_CLEAR_SIGHAND, setup=Setup.IGNORE_USR2), needs=(CLEAR_SIGHAND,)),
    c3("no-clear-sighand-inherits", "clear_sighand",
       succeeds(DispositionIs(SIGUSR1, Disposition.HANDLER), DispositionIs(SIGUSR2, Disposition.IGNORE)),
       Req(setup=Setup.HANDLE_USR1 | Setup.IGNORE_USR2), doc="control: without the flag handlers are inherited"),
    # ---- CLONE_NEWTIME and other namespaces -----------------------------------------------------
    c3("newtime-accepted", "newtime", succeeds(Namespace(Ns.TIME, new=True), Exited(0)), Req(flags=CLONE_NEWTIME),
       needs=ROOT,
       old=OldModel("6.3", "a402f1e35313", "clone3 rejected CLONE_NEWTIME with EINVAL", expect=fails(EINVAL))),
    c3("newtime-unprivileged", "newtime", fails(EPERM), Req(flags=CLONE_NEWTIME, setup=UNPRIV), needs=(NEWTIME,)),
    c3("newpid", "namespaces", succeeds(ChildPid(1), Namespace(Ns.PID, new=True), Exited(0)), Req(flags=CLONE_NEWPID),
       needs=ROOT),
    c3("newpid-unprivileged", "namespaces", fails(EPERM), Req(flags=CLONE_NEWPID, setup=UNPRIV)),
    c3("newnet-unprivileged", "namespaces", fails(EPERM), Req(flags=CLONE_NEWNET, setup=UNPRIV)),
    c3("newuts-ipc-net", "namespaces", succeeds(Namespace(Ns.NET, new=True), Namespace(Ns.IPC, new=True), Exited(0)),
       Req(flags=CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET), needs=ROOT),
    c3("newuser", "namespaces", succeeds(Namespace(Ns.USER, new=True), Exited(0)), Req(flags=CLONE_NEWUSER),
       needs=(CLONE3, USERNS)),
    c3("newuser-newpid", "namespaces", succeeds(ChildPid(1), Namespace(Ns.USER, new=True), Exited(0)),
       Req(flags=CLONE_NEWUSER | CLONE_NEWPID), needs=(CLONE3, USERNS)),
    # ---- CLONE_PIDFD ----------------------------------------------------------------------------
    c3("pidfd-polls-on-exit", "pidfd", succeeds(PidfdPolls(), Exited(0)),
       Req(flags=CLONE_PIDFD, pidfd=Ptr.VALID, action=Action.REPORT_WAIT)),
    c3("pidfd-equals-parent-tid", "pidfd", fails(EINVAL),
       Req(flags=CLONE_PIDFD | CLONE_PARENT_SETTID, pidfd=Ptr.SAME_AS_PARENT_TID)),
    c3("pidfd-distinct-parent-tid", "pidfd", succeeds(ParentTidIsChild(), PidfdPolls(), Exited(0)),
       Req(flags=CLONE_PIDFD | CLONE_PARENT_SETTID, pidfd=Ptr.VALID, parent_tid=Ptr.VALID, action=Action.REPORT_WAIT)),
    c3("pidfd-bad-pointer", "pidfd", fails(EFAULT), Req(flags=CLONE_PIDFD, pidfd=Ptr.BAD)),
    c3("pidfd-thread", "pidfd_thread", succeeds(IsThread(), PidfdPolls(thread=True)),
       thread(flags=THREAD_FLAGS | CLONE_PIDFD, pidfd=Ptr.VALID, action=Action.REPORT_WAIT),
       old=OldModel("6.9", "83b290c9e3b5", "CLONE_PIDFD with CLONE_THREAD was EINVAL", expect=fails(EINVAL))),
    # ---- Linux 7.1: CLONE_AUTOREAP, CLONE_NNP, CLONE_PIDFD_AUTOKILL, CLONE_EMPTY_MNTNS (table71.py; their
    # semantic rows are pidfd scenarios: cases/pidfd/clone71.py) ----------------------------------------------
    *VALIDATION,
)

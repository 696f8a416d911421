"""clone3(): struct size ABI, flag validation, exit_signal, stack, set_tid, CLONE_INTO_CGROUP,
CLEAR_SIGHAND, NEWTIME and PIDFD."""

from __future__ import annotations

import errno
import os

from conformance import native
from conformance.host.uapi import (
    CLONE_AUTOREAP,
    CLONE_CLEAR_SIGHAND,
    CLONE_EMPTY_MNTNS,
    CLONE_INTO_CGROUP,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_NNP,
    CLONE_PIDFD,
    CLONE_PIDFD_AUTOKILL,
    CLONE_SIGHAND,
    CLONE_THREAD,
    CLONE_VM,
)
from conformance.suite.registry import Behaviour, Family, Probe, State, classify_errno

from .wire import Action, CloneRequest, Ptr, Stack, clone3_flag_probe, clone3_nochild, clone_scenario


def _said(ret: int) -> str:
    return "succeeded" if ret >= 0 else native.errno_name(-ret)


def clone_probe(req: CloneRequest, present: tuple[int, ...], absent: tuple[int, ...]) -> tuple[State, str]:
    """Run one clone scenario and classify its errno (0: it succeeded)."""
    res = clone_scenario(req)
    if res.harness_error is not native.HarnessError.NONE:
        return State.UNKNOWN, res.describe()
    err = 0 if res.ret >= 0 else res.err
    return classify_errno(err, present, absent), f"clone3 {res.describe()}"


def _probe_clone3() -> tuple[State, str]:
    ret = clone3_nochild(0)
    return classify_errno(-ret, (errno.EINVAL,), (errno.ENOSYS,)), f"clone3(size=0) gave {_said(ret)}"


def _probe_set_tid() -> tuple[State, str]:
    # set_tid = [-1]: EINVAL from the tid check where set_tid exists; a kernel
    # whose struct ends at 64 bytes sees a non-zero tail: E2BIG.
    req = CloneRequest(size=80, set_tid=(-1,), set_tid_ptr=Ptr.VALID, set_tid_size=1, action=Action.EXIT)
    return clone_probe(req, (errno.EINVAL,), (errno.E2BIG,))


def _probe_into_cgroup() -> tuple[State, str]:
    # A descriptor number that is never open: EBADF where the flag is known;
    # EINVAL (unknown flag) or E2BIG (non-zero tail) where it is not.
    req = CloneRequest(flags=CLONE_INTO_CGROUP, cgroup=1_000_000, action=Action.EXIT)
    return clone_probe(req, (errno.EBADF,), (errno.EINVAL, errno.E2BIG))


def _probe_clear_sighand() -> tuple[State, str]:
    req = CloneRequest(flags=CLONE_CLEAR_SIGHAND, action=Action.EXIT)
    return clone_probe(req, (0,), (errno.EINVAL,))


def _probe_newtime_clone3() -> tuple[State, str]:
    if not os.path.exists("/proc/self/ns/time"):
        return State.ABSENT, "no /proc/self/ns/time (CONFIG_TIME_NS off)"
    # Unprivileged the flag gets as far as copy_namespaces (EPERM) where it
    # is accepted; where clone3 rejects it, EINVAL comes first.
    req = CloneRequest(flags=CLONE_NEWTIME, action=Action.EXIT)
    return clone_probe(req, (0, errno.EPERM), (errno.EINVAL,))


def _probe_pidfd_thread() -> tuple[State, str]:
    req = CloneRequest(
        flags=CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_PIDFD,
        exit_signal=0,
        pidfd=Ptr.VALID,
        stack=Stack.MAPPED,
        stack_size=256 * 1024,
        action=Action.EXIT,
    )
    return clone_probe(req, (0,), (errno.EINVAL,))


def _probe_user_namespaces() -> tuple[State, str]:
    req = CloneRequest(flags=CLONE_NEWUSER, action=Action.EXIT)
    return clone_probe(req, (0,), (errno.EPERM, errno.EINVAL, errno.ENOSPC, errno.EUSERS, errno.EACCES))


def _probe_71(flags: int) -> tuple[State, str]:
    # clone3(flags|CLONE_PIDFD) with an unmapped pidfd pointer: an unknown flag is EINVAL in
    # clone3_args_valid(); a known one fails later (EFAULT storing the pidfd, or EPERM), no child runs.
    ret = clone3_flag_probe(flags)
    return classify_errno(-ret, (errno.EFAULT, errno.EPERM), (errno.EINVAL,)), f"clone3 gave {_said(ret)}"


def _probe_autoreap() -> tuple[State, str]:
    return _probe_71(CLONE_AUTOREAP)


def _probe_nnp() -> tuple[State, str]:
    return _probe_71(CLONE_NNP)


def _probe_autokill() -> tuple[State, str]:
    return _probe_71(CLONE_AUTOREAP | CLONE_NNP | CLONE_PIDFD_AUTOKILL)


def _probe_empty_mntns() -> tuple[State, str]:
    return _probe_71(CLONE_EMPTY_MNTNS)


def _b(id: str, statement: str, since: str, commit: str = "", probe: str = "") -> Behaviour:
    return Behaviour(id, statement, since, commit, probe)


FAMILY = Family(
    "clone3",
    behaviours=(
        _b("clone3.basic", "clone3() creates a child that runs, exits and is reaped like fork", "5.3",
           "7f192e3cd316", "clone3"),
        _b("clone3.struct_size", "sizes below 64 are EINVAL, known sizes and zero tails are accepted, "
           "non-zero tails and sizes above PAGE_SIZE are E2BIG, unreadable memory is EFAULT", "5.4",
           "f14c234b4bc5", "clone3"),
        _b("clone3.flags_unknown", "flag bits the kernel does not know are EINVAL", "5.3", "7f192e3cd316", "clone3"),
        _b("clone3.flags_csignal", "CSIGNAL bits in flags are EINVAL (the exit signal has its own field)", "5.3",
           "7f192e3cd316", "clone3"),
        _b("clone3.detached", "clone3 rejects CLONE_DETACHED; legacy clone() ignores it, but not with CLONE_PIDFD",
           "5.3", "7f192e3cd316", "clone3"),
        _b("clone3.flag_combinations", "invalid combinations (SIGHAND|CLEAR_SIGHAND, THREAD without SIGHAND, SIGHAND "
           "without VM, NEWNS|FS, NEWUSER|FS, THREAD with NEWPID/NEWUSER, NEWIPC|SYSVSEM) are EINVAL", "5.3",
           "7f192e3cd316", "clone3"),
        _b("clone3.threads", "CLONE_THREAD|SIGHAND|VM creates a thread of the caller; THREAD or PARENT with a "
           "non-zero exit_signal is EINVAL", "5.3", "7f192e3cd316", "clone3"),
        _b("clone3.exit_signal_validation", "exit_signal must fit CSIGNAL and be a valid signal, else EINVAL",
           "5.4", "", "clone3"),
        _b("clone3.exit_signal_delivery", "the parent receives exactly exit_signal (none for 0); wait() without "
           "__WCLONE ignores children whose exit_signal is not SIGCHLD", "5.3", "7f192e3cd316", "clone3"),
        _b("clone3.stack", "stack/stack_size must both be set or both be 0 and be user memory; the child runs on it",
           "5.4", "fa729c4df558", "clone3"),
        _b("clone3.set_tid", "set_tid chooses the child's pid per namespace level, with EINVAL/EPERM/EEXIST rules",
           "5.5", "49cb2fc42ce4", "clone3.set_tid"),
        _b("clone3.into_cgroup", "CLONE_INTO_CGROUP places the child in the cgroup given by a cgroup2 dir fd", "5.7",
           "ef2c41cf38a7", "clone3.into_cgroup"),
        _b("clone3.clear_sighand", "CLONE_CLEAR_SIGHAND resets handled signals to SIG_DFL and keeps SIG_IGN", "5.5",
           "b612e5df4587", "clone3.clear_sighand"),
        _b("clone3.newtime", "clone3 accepts CLONE_NEWTIME and the child gets a new time namespace", "6.3",
           "a402f1e35313", "clone3.newtime"),
        _b("clone3.namespaces", "CLONE_NEW* create namespaces with privilege and give EPERM without", "5.3",
           "7f192e3cd316", "clone3"),
        _b("clone3.pidfd", "CLONE_PIDFD returns a pidfd that polls readable on exit; pidfd == parent_tid is EINVAL",
           "5.3", "7f192e3cd316", "clone3"),
        _b("clone3.pidfd_thread", "CLONE_PIDFD with CLONE_THREAD gives a PIDFD_THREAD pidfd", "6.9", "83b290c9e3b5",
           "clone3.pidfd_thread"),
        _b("clone3.autoreap", "CLONE_AUTOREAP: the child is reaped by the kernel at exit (no zombie, wait gives "
           "ECHILD, no SIGCHLD) while its pidfd polls and PIDFD_INFO_EXIT gives the exit code; EINVAL with "
           "THREAD, PARENT or a non-zero exit_signal, and CLONE_PARENT from an autoreaped process is EINVAL",
           "7.1", "12ae2c81b21c", "clone3.autoreap"),
        _b("clone3.nnp", "CLONE_NNP sets no_new_privs in the child only; EINVAL with THREAD", "7.1", "24baca56fafc",
           "clone3.nnp"),
        _b("clone3.pidfd_autokill", "CLONE_PIDFD_AUTOKILL: the child is SIGKILLed when its clone3 pidfd file is "
           "finally released (not a pidfd_open() one); needs PIDFD and AUTOREAP, not THREAD (EINVAL); without NNP "
           "it needs CAP_SYS_ADMIN (EPERM), the EINVAL rules first", "7.1", "c8134b5f13ae", "clone3.pidfd_autokill"),
        _b("clone3.empty_mntns", "CLONE_EMPTY_MNTNS implies CLONE_NEWNS (so EINVAL with CLONE_FS, EPERM without "
           "privilege) and the child's mount namespace holds one mount with an empty root", "7.1", "4e9f7592b6f5",
           "clone3.empty_mntns"),
    ),
    probes=(
        Probe("clone3", "clone3()", "5.3", "7f192e3cd316", _probe_clone3),
        Probe("clone3.set_tid", "clone3 set_tid", "5.5", "49cb2fc42ce4", _probe_set_tid),
        Probe("clone3.into_cgroup", "CLONE_INTO_CGROUP", "5.7", "ef2c41cf38a7", _probe_into_cgroup),
        Probe("clone3.clear_sighand", "CLONE_CLEAR_SIGHAND", "5.5", "b612e5df4587", _probe_clear_sighand),
        Probe("clone3.newtime", "CLONE_NEWTIME in clone3", "6.3", "a402f1e35313", _probe_newtime_clone3),
        Probe("clone3.pidfd_thread", "CLONE_PIDFD|CLONE_THREAD", "6.9", "83b290c9e3b5", _probe_pidfd_thread),
        Probe("clone3.autoreap", "CLONE_AUTOREAP", "7.1", "12ae2c81b21c", _probe_autoreap),
        Probe("clone3.nnp", "CLONE_NNP", "7.1", "24baca56fafc", _probe_nnp),
        Probe("clone3.pidfd_autokill", "CLONE_PIDFD_AUTOKILL", "7.1", "c8134b5f13ae", _probe_autokill),
        Probe("clone3.empty_mntns", "CLONE_EMPTY_MNTNS", "7.1", "4e9f7592b6f5", _probe_empty_mntns),
        # used by other families too (a system probe, tried here with a clone scenario)
        Probe("userns", "user namespaces for this user", "3.8", "", _probe_user_namespaces),
    ),
)

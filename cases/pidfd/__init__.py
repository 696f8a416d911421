"""pidfds: pidfd_open, poll, waitid(P_PIDFD), pidfd_send_signal, pidfd_getfd, pidfs, the namespace and
PIDFD_GET_INFO ioctls, thread pidfds, and pidfds of the kernel's user workers (io-wq, SQPOLL, vhost)."""

from __future__ import annotations

import errno
import functools
import os

from conformance import native
from conformance._kc_pidfd_h import PidfdFs, PidfdInfo, PidfdProbe
from conformance.host.uapi import (
    PID_FS_MAGIC,
    PIDFD_INFO_COREDUMP,
    PIDFD_INFO_COREDUMP_CODE,
    PIDFD_INFO_COREDUMP_SIGNAL,
    PIDFD_INFO_EXIT,
)
from conformance.native import HarnessError
from conformance.suite.registry import Behaviour, Family, Probe, State, classify_errno

from .wire import PidfdRequest, PidfdScenario, PidfdValue, pidfd_probe, pidfd_scenario


def _said(ret: int) -> str:
    return f"gave {ret}" if ret >= 0 else f"gave {native.errno_name(-ret)}"


def _errno_probe(what: PidfdProbe, present: tuple[int, ...], absent: tuple[int, ...], call: str,
                 flags: int = 0) -> tuple[State, str]:
    ret = pidfd_probe(what, flags)
    return classify_errno(0 if ret >= 0 else -ret, present, absent), f"{call} {_said(ret)}"


def _probe_nonblock() -> tuple[State, str]:
    return _errno_probe(PidfdProbe.OPEN, (0,), (errno.EINVAL,), "pidfd_open(self, PIDFD_NONBLOCK)", os.O_NONBLOCK)


def _probe_thread() -> tuple[State, str]:
    return _errno_probe(PidfdProbe.OPEN, (0,), (errno.EINVAL,), "pidfd_open(self, PIDFD_THREAD)",
                        os.O_EXCL)  # O_EXCL is PIDFD_THREAD


def _probe_getfd() -> tuple[State, str]:
    return _errno_probe(PidfdProbe.GETFD, (0, errno.EBADF), (errno.ENOSYS,), "pidfd_getfd(self, 0)")


def _probe_scope() -> tuple[State, str]:
    return _errno_probe(PidfdProbe.SIGNAL_GROUP, (0,), (errno.EINVAL,),
                        "pidfd_send_signal(self, 0, PIDFD_SIGNAL_THREAD_GROUP)")


def _probe_self() -> tuple[State, str]:
    return _errno_probe(PidfdProbe.SIGNAL_SELF, (0,), (errno.EBADF,), "pidfd_send_signal(PIDFD_SELF_PROCESS, 0)")


def _probe_ns_ioctl() -> tuple[State, str]:
    return _errno_probe(PidfdProbe.PIDNS, (0,), (errno.ENOTTY, errno.EINVAL), "ioctl(PIDFD_GET_PID_NAMESPACE)")


def _probe_info() -> tuple[State, str]:
    return _errno_probe(PidfdProbe.INFO, (0,), (errno.ENOTTY, errno.EINVAL), "ioctl(PIDFD_GET_INFO)")


def _probe_fhandle() -> tuple[State, str]:
    return _errno_probe(PidfdProbe.FHANDLE, (0,), (errno.EOPNOTSUPP, errno.EINVAL), "name_to_handle_at(pidfd)")


def _probe_supported_mask() -> tuple[State, str]:
    ret = pidfd_probe(PidfdProbe.SUPPORTED_MASK)
    if ret >= 0:
        return State.PRESENT, f"PIDFD_INFO_SUPPORTED_MASK gave {ret:#x}"
    return classify_errno(-ret, (), (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL)), (
        f"PIDFD_INFO_SUPPORTED_MASK {_said(ret)} (EOPNOTSUPP: the mask bit was not returned)")


def _probe_xattr() -> tuple[State, str]:
    return _errno_probe(PidfdProbe.XATTR, (0,), (errno.EOPNOTSUPP,), "fsetxattr(pidfd, trusted.*) and fremovexattr")


def _probe_bind_mount() -> tuple[State, str]:
    res = pidfd_scenario(PidfdRequest(PidfdScenario.PIDFS, PidfdFs.BIND_MOUNT))
    if res.harness_error is not HarnessError.NONE:
        why = native.errno_name(res.harness_errno) if res.harness_errno else res.harness_error.name.lower()
        return State.UNKNOWN, f"no private mount namespace to try it in ({why})"
    ret = res.values.get(PidfdValue.RET2, -errno.EPROTO)
    state = classify_errno(0 if ret >= 0 else -ret, (0,), (errno.EINVAL,))
    return state, f"open_tree(pidfd, OPEN_TREE_CLONE) {_said(ret)}"


def _probe_pidfs() -> tuple[State, str]:
    ret = pidfd_probe(PidfdProbe.FSTATFS)
    if ret < 0:
        return State.UNKNOWN, f"fstatfs(pidfd) {_said(ret)}"
    return (State.PRESENT if ret == PID_FS_MAGIC else State.ABSENT), f"fstatfs(pidfd).f_type = {ret:#x}"


@functools.cache
def _info_scenario(variant: int) -> tuple[int, int]:
    res = pidfd_scenario(PidfdRequest(PidfdScenario.INFO, variant, arg=3))
    return res.values.get(PidfdValue.RET, -errno.EPROTO), res.values.get(PidfdValue.INFO_MASK, 0)


def _mask_probe(variant: int, bit: int, what: str) -> tuple[State, str]:
    ret, mask = _info_scenario(variant)
    if ret < 0:
        return classify_errno(-ret, (), (errno.ENOTTY, errno.EINVAL)), f"PIDFD_GET_INFO {_said(ret)}"
    return (State.PRESENT if mask & bit else State.ABSENT), f"{what}: returned mask {mask:#x}"


def _probe_info_exit() -> tuple[State, str]:
    return _mask_probe(PidfdInfo.EXIT, PIDFD_INFO_EXIT, "PIDFD_INFO_EXIT on a reaped child")


def _probe_info_coredump() -> tuple[State, str]:
    return _mask_probe(PidfdInfo.CORE_LIVE, PIDFD_INFO_COREDUMP, "PIDFD_INFO_COREDUMP on a live child")


def _probe_coredump_socket() -> tuple[State, str]:
    try:
        with open("/proc/sys/kernel/core_modes") as f:
            modes = f.read().split()
    except FileNotFoundError:
        return State.ABSENT, "no kernel.core_modes sysctl (it lists the coredump modes since 6.16)"
    except OSError as e:
        return State.UNKNOWN, f"kernel.core_modes unreadable: {e.strerror}"
    state = State.PRESENT if "socket" in modes else State.ABSENT
    return state, f"kernel.core_modes lists {' '.join(modes) or 'nothing'}"


def _supported_bit(bit: int, what: str) -> tuple[State, str]:
    """A PIDFD_INFO_* bit in PIDFD_INFO_SUPPORTED_MASK (6.19: a kernel without that mask has neither field)."""
    ret = pidfd_probe(PidfdProbe.SUPPORTED_MASK)
    if ret < 0:
        return State.ABSENT, f"no PIDFD_INFO_SUPPORTED_MASK to list {what} ({_said(ret)})"
    return (State.PRESENT if ret & bit else State.ABSENT), f"PIDFD_INFO_SUPPORTED_MASK gave {ret:#x}"


def _probe_core_signal() -> tuple[State, str]:
    return _supported_bit(PIDFD_INFO_COREDUMP_SIGNAL, "PIDFD_INFO_COREDUMP_SIGNAL")


def _probe_core_code() -> tuple[State, str]:
    return _supported_bit(PIDFD_INFO_COREDUMP_CODE, "PIDFD_INFO_COREDUMP_CODE")


def _b(id: str, statement: str, since: str, commit: str = "", probe: str = "") -> Behaviour:
    return Behaviour(id, statement, since, commit, probe)


FAMILY = Family(
    "pidfd",
    behaviours=(
        _b("pidfd.open", "pidfd_open(pid, 0) returns an O_CLOEXEC O_RDWR pidfd (readlink anon_inode:[pidfd]) for a "
           "live or zombie process; PIDFD_NONBLOCK (5.10) and PIDFD_THREAD (6.9) add their file flags; any other "
           "flag is EINVAL", "5.3", "32fcb426ec00", "pidfd_open"),
        _b("pidfd.open_pids", "pidfd_open with pid <= 0 is EINVAL; an unused or reaped pid is ESRCH", "5.3",
           "32fcb426ec00", "pidfd_open"),
        _b("pidfd.open_nonleader", "pidfd_open of a non-leader thread without PIDFD_THREAD is refused: ENOENT "
           "(a hint: not a thread-group leader); kernels before the change answer EINVAL", "6.16", "8cf4b738f6d8",
           "pidfd_open"),
        _b("pidfd.poll", "a pidfd is not readable while the process runs, POLLIN once it exited, POLLIN|POLLHUP "
           "once it is reaped (POLLHUP since 6.9, 43f0df54c96f); SIGKILL through the pidfd makes it readable promptly",
           "5.3", "b53b0b9d9a61",
           "pidfd_open"),
        _b("pidfd.poll_threads", "a process pidfd does not poll early when a non-leader thread execs or when the "
           "leader thread exits before the other threads", "5.3", "b53b0b9d9a61", "pidfd_open"),
        _b("pidfd.waitid", "waitid(P_PIDFD) reaps the child with si_pid/si_code/si_status, sees WSTOPPED and "
           "WCONTINUED, gives ECHILD for a non-child and after the reap", "5.4", "", "pidfd_open"),
        _b("pidfd.waitid_badfd", "waitid(P_PIDFD) with a non-pidfd fd (/proc dirfd, /dev/null) or a closed fd is "
           "EBADF, with a negative fd EINVAL", "5.4", "", "pidfd_open"),
        _b("pidfd.waitid_nonblock", "a PIDFD_NONBLOCK pidfd makes waitid on a running child EAGAIN, 0 with "
           "WNOHANG", "5.10", "4da9af0014b5", "pidfd.nonblock"),
        _b("pidfd.send_signal", "pidfd_send_signal delivers (SI_USER, sender pid), works with a /proc/<pid> dirfd, "
           "signal 0 checks, a zombie takes it, a reaped process is ESRCH, a non-pidfd fd EBADF", "5.1",
           "3eb39f47934f", "pidfd_open"),
        _b("pidfd.send_signal_siginfo", "with a siginfo, si_signo must equal sig (EINVAL); kernel-reserved si_code "
           "(>= 0 or SI_TKILL) is allowed only to the caller itself (else EPERM); SI_QUEUE reaches others", "5.1",
           "3eb39f47934f", "pidfd_open"),
        _b("pidfd.send_signal_perm", "pidfd_send_signal to a process of another uid without privilege is EPERM; "
           "unknown flags are EINVAL", "5.1", "3eb39f47934f", "pidfd_open"),
        _b("pidfd.send_signal_scope", "PIDFD_SIGNAL_THREAD / _THREAD_GROUP / _PROCESS_GROUP choose the target "
           "(one thread's private queue, the shared queue, every process of the group); the default follows the "
           "pidfd type; two scope flags are EINVAL", "6.9", "e1fb1dc08e73", "pidfd.signal_scope"),
        _b("pidfd.self", "PIDFD_SELF_THREAD and PIDFD_SELF_THREAD_GROUP address the caller without an fd", "6.15",
           "f08d0c3a7111", "pidfd.self"),
        _b("pidfd.getfd", "pidfd_getfd duplicates the target's open file (kcmp KCMP_FILE equal) with FD_CLOEXEC; "
           "an fd not open there is EBADF, flags EINVAL, a reaped target ESRCH", "5.6", "8649c322f75c",
           "pidfd.getfd"),
        _b("pidfd.getfd_perm", "pidfd_getfd needs ptrace attach rights: a non-dumpable target or another uid is "
           "EPERM without privilege, CAP_SYS_PTRACE passes", "5.6", "8649c322f75c", "pidfd.getfd"),
        _b("pidfd.pidfs", "pidfds live on pidfs: one inode per process (equal st_ino for two pidfds of one "
           "process, different across processes) and f_type PID_FS_MAGIC; before, all shared the anon inode",
           "6.9", "cb12fd8e0dab", "pidfd_open"),
        _b("pidfd.fdinfo", "fdinfo of a pidfd shows Pid: and NSpid: of the target (all levels), -1 once reaped "
           "and 0 when read from a sibling pid namespace", "5.3", "", "pidfd_open"),
        _b("pidfd.setattr", "a pidfd's inode refuses fchown/fchmod (EOPNOTSUPP) and cannot be executed "
           "(execveat EACCES); before 6.16 chown/chmod went through simple_setattr (EPERM)", "6.16",
           "c83b90249660", "pidfd.pidfs"),
        _b("pidfd.setns", "setns(pidfd, flags) joins the namespaces of the target; flags 0 or non-namespace bits "
           "are EINVAL", "5.8", "", "pidfd_open"),
        _b("pidfd.ns_ioctl", "PIDFD_GET_*_NAMESPACE ioctls return the target's namespace, the same inode as "
           "/proc/<pid>/ns/<name>", "6.11", "", "pidfd.ns_ioctl"),
        _b("pidfd.file_handle", "pidfs file handles: name_to_handle_at(pidfd) and open_by_handle_at give a pidfd of "
           "the same inode for a live or zombie process, ESTALE once reaped; O_EXCL gives a thread pidfd, other "
           "open flags are EINVAL", "6.14", "b3caba8f7a34", "pidfd.file_handle"),
        _b("pidfd.file_handle_pidns", "a pidfs file handle decodes (open_by_handle_at) only where its process is "
           "visible: from an ancestor pid namespace of the process, not from a sibling one; AT_HANDLE_FID is "
           "accepted, AT_HANDLE_CONNECTABLE is EINVAL; a decoded pidfd is no directory (openat ENOTDIR)", "6.14",
           "b3caba8f7a34", "pidfd.file_handle"),
        _b("pidfd.bind_mount", "a pidfd can be bind-mounted (open_tree(pidfd, \"\", OPEN_TREE_CLONE|AT_EMPTY_PATH) and "
           "move_mount onto a file); the path then stats and opens as the same pidfs inode", "6.14", "",
           "pidfd.bind_mount"),
        _b("pidfd.xattr", "the pidfs inode of a process holds trusted.* xattrs (set, get, list, remove with "
           "CAP_SYS_ADMIN); they stay with the process, not the file: a new pidfd of it reads them", "6.16", "",
           "pidfd.xattr"),
        _b("pidfd.info", "PIDFD_GET_INFO returns pid, tgid, ppid, the r/e/s/fs ids and the cgroup id of the target, "
           "mask PID|CREDS|CGROUPID; a thread pidfd reports the thread's pid", "6.13", "cdda1f26e74b",
           "pidfd.info"),
        _b("pidfd.info_args", "PIDFD_GET_INFO accepts every published size (VER0 64 .. VER3 88, larger zero "
           "extended) and writes no byte past it; a NULL argument is EINVAL; a non-pidfd is ENOTTY; unknown mask "
           "bits are ignored", "6.13", "cdda1f26e74b", "pidfd.info"),
        _b("pidfd.info_small", "PIDFD_GET_INFO with a size below VER0 (64) is rejected: ENOTTY since the ioctl "
           "number is validated as extensible, EINVAL from pidfd_info() before", "6.18", "3c17001b21b9",
           "pidfd.info"),
        _b("pidfd.info_reaped", "PIDFD_GET_INFO of a reaped process is ESRCH without PIDFD_INFO_EXIT", "6.13",
           "cdda1f26e74b", "pidfd.info"),
        _b("pidfd.info_exit_reap_race", "PIDFD_GET_INFO with PIDFD_INFO_EXIT asked while another thread reaps the "
           "process never fails with a spurious ESRCH nor returns neither the task's ids nor its exit information: "
           "it looks the task up first and starts over when the task was reaped under it (Debian 7.3.4, stable "
           "'pidfs: don't let PIDFD_GET_INFO miss a reaped task'; 7.2.13 has the race)", "7.3.4", "",
           "pidfd.info_exit"),
        _b("pidfd.info_exit", "PIDFD_INFO_EXIT: after the reap the wait status (exit code or signal) and cgroup "
           "id, no credentials; not for a zombie", "6.15", "7477d7dce48a", "pidfd.info_exit"),
        _b("pidfd.info_remote", "PIDFD_GET_INFO about a process outside the caller's pid namespace is EREMOTE (ESRCH "
           "before)", "7.0", "ab89060fbc92", "pidfd.info"),
        _b("pidfd.info_coredump", "PIDFD_INFO_COREDUMP reports how a process would dump (USER for a dumpable one, "
           "SKIP for a non-dumpable one that crashed)", "6.16", "1d8db6fd698d", "pidfd.info_coredump"),
        _b("pidfd.info_coredump_file", "a child that crashes with a core written to a file (plain core_pattern) "
           "shows the core flag in its wait status and in PIDFD_INFO_EXIT; PIDFD_COREDUMPED is recorded only for "
           "a dump to a coredump socket, so coredump_mask stays 0 after a dump to a file", "6.16", "1d8db6fd698d",
           "pidfd.info_coredump"),
        _b("pidfd.info_exec", "when a non-leader thread execs it takes over the leader's struct pid: the exec'ing "
           "thread's own thread pidfd reports the replaced leader's clean exit (POLLHUP, PIDFD_INFO_EXIT exit 0, no "
           "credentials), the process pidfd keeps naming the live process, and the leader's thread pidfd is not "
           "notified until the new process ends", "6.15", "7477d7dce48a", "pidfd.info_exit"),
        _b("pidfd.info_supported", "PIDFD_INFO_SUPPORTED_MASK returns the mask bits the kernel knows", "6.19", "",
           "pidfd.info_supported"),
        _b("pidfd.thread", "a PIDFD_THREAD pidfd polls when its thread exits while the group lives; a leader's "
           "thread pidfd waits for the group; the process pidfd polls when the group is gone", "6.9",
           "64bef697d33b", "pidfd.thread"),
        _b("pidfd.worker_open", "an io-wq worker, SQPOLL thread or vhost worker is a non-leader: pidfd_open(tid, "
           "0) is refused, pidfd_open(tid, PIDFD_THREAD) succeeds (not yet readable)", "6.9", "64bef697d33b",
           "pidfd.thread"),
        _b("pidfd.worker_info", "PIDFD_GET_INFO of a worker's thread pidfd: pid is the worker, tgid the owner, ppid "
           "and credentials the owner's", "6.13", "cdda1f26e74b", "pidfd.info"),
        _b("pidfd.worker_signal", "pidfd_send_signal to a worker's thread pidfd succeeds and leaves the signal "
           "pending on the worker (workers block all but SIGKILL/SIGSTOP): no handler runs, owner and worker live",
           "6.9", "64bef697d33b", "pidfd.thread"),
        _b("pidfd.worker_kthread", "a vhost worker in kthread mode is a kernel thread and its own thread-group "
           "leader: pidfd_open(tid, 0) works, PIDFD_GET_INFO shows tgid = tid and ppid 2, a signal through the "
           "pidfd is accepted and discarded, closing its pidfds kills nothing", "2.6.33", "", "vhost.device"),
        _b("pidfd.worker_autokill", "a worker never carries PIDFD_AUTOKILL: pidfd_open refuses its bit (O_TRUNC), "
           "closing a worker's pidfds kills nothing, and closing the AUTOKILL pidfd of an owner SIGKILLs the owner "
           "with its workers", "7.1", "c8134b5f13ae", "pidfd.thread"),
        _b("pidfd.coredump_socket", "core_pattern \"@<path>\": the kernel connects to the listening AF_UNIX socket "
           "for a crashing task and streams its core; the server's SO_PEERPIDFD pidfd reports COREDUMPED; an "
           "ordinary client of the socket is not marked; without a listener there is no dump", "6.16",
           "a9194f88782a", "pidfd.coredump_socket"),
        _b("pidfd.coredump_socket_signal", "PIDFD_INFO_COREDUMP_SIGNAL: the signal that caused a socket dump, through "
           "the server's pidfd and after the reap", "6.19", "036375522be8", "pidfd.info_coredump_signal"),
        _b("pidfd.coredump_socket_code", "PIDFD_INFO_COREDUMP_CODE: the si_code of the signal that caused a socket "
           "dump (SEGV_MAPERR, SI_TKILL)", "7.1", "701f7f4fbabb", "pidfd.info_coredump_code"),
        _b("pidfd.coredump_pattern", "a coredump socket pattern must be an absolute path without spaces or '..' "
           "(\"@ /x\", \"@../x\", \"@/x/..\", \"@@@\"): the sysctl write is EINVAL and the old value stays",
           "6.16", "a9194f88782a", "pidfd.coredump_socket"),
        _b("pidfd.coredump_request", "core_pattern \"@@<path>\": the kernel sends struct coredump_req and waits for "
           "struct coredump_ack (kernel writes, user space writes, or reject), answers with a mark; a bad ack size, "
           "an unknown, conflicting or spare flag aborts the dump", "6.17", "12b5b138d111", "pidfd.coredump_socket"),
    ),
    probes=(
        Probe("pidfd.nonblock", "PIDFD_NONBLOCK", "5.10", "4da9af0014b5", _probe_nonblock),
        Probe("pidfd.thread", "PIDFD_THREAD", "6.9", "64bef697d33b", _probe_thread),
        Probe("pidfd.getfd", "pidfd_getfd()", "5.6", "8649c322f75c", _probe_getfd),
        Probe("pidfd.signal_scope", "pidfd_send_signal scope flags", "6.9", "e1fb1dc08e73", _probe_scope),
        Probe("pidfd.self", "PIDFD_SELF sentinels", "6.15", "f08d0c3a7111", _probe_self),
        Probe("pidfd.pidfs", "pidfs", "6.9", "cb12fd8e0dab", _probe_pidfs),
        Probe("pidfd.ns_ioctl", "PIDFD_GET_*_NAMESPACE ioctls", "6.11", "", _probe_ns_ioctl),
        Probe("pidfd.info", "PIDFD_GET_INFO", "6.13", "cdda1f26e74b", _probe_info),
        Probe("pidfd.info_exit", "PIDFD_INFO_EXIT", "6.15", "7477d7dce48a", _probe_info_exit),
        Probe("pidfd.info_coredump", "PIDFD_INFO_COREDUMP", "6.16", "1d8db6fd698d", _probe_info_coredump),
        Probe("pidfd.info_supported", "PIDFD_INFO_SUPPORTED_MASK", "6.19", "", _probe_supported_mask),
        Probe("pidfd.file_handle", "pidfs file handles", "6.14", "b3caba8f7a34", _probe_fhandle),
        Probe("pidfd.bind_mount", "bind mounts of pidfds", "6.14", "", _probe_bind_mount),
        Probe("pidfd.xattr", "pidfs xattrs", "6.16", "", _probe_xattr),
        Probe("pidfd.coredump_socket", "the coredump socket (core_pattern \"@<path>\")", "6.16", "a9194f88782a",
              _probe_coredump_socket),
        Probe("pidfd.info_coredump_signal", "PIDFD_INFO_COREDUMP_SIGNAL", "6.19", "036375522be8", _probe_core_signal),
        Probe("pidfd.info_coredump_code", "PIDFD_INFO_COREDUMP_CODE", "7.1", "701f7f4fbabb", _probe_core_code),
    ),
)

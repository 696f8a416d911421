"""The behaviour registry: every documented behaviour the suite checks, as data.

Each case names exactly one behaviour; reports use ``<behaviour id>`` as the
JUnit classname and the case id as the name, so both are stable across runs.
A behaviour id is ``<family>.<name>`` and never changes once published.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Behaviour:
    id: str
    statement: str
    since: str  # release that introduced it, or changed it last
    commit: str  # upstream commit (12 hex digits) or "" when historical
    probe: str = ""  # name in probes.PROBES that detects it, "" when none

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


def _b(id: str, statement: str, since: str, commit: str = "", probe: str = "") -> Behaviour:
    return Behaviour(id, statement, since, commit, probe)


BEHAVIOURS: tuple[Behaviour, ...] = (
    # ---- clone3 ---------------------------------------------------------
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
    # ---- vhost --------------------------------------------------------------
    _b("vhost.worker_model", "the vhost worker is a thread of the owner (vhost-<tid>), not a kernel thread",
       "6.4", "f9010dbdce91", "vhost.task_mode"),
    _b("vhost.task_worker", "the task-mode worker is vhost-<owner tid>, Tgid = owner, PF_USER_WORKER, Kthread 0, "
       "listed by ps -eL but not ps -e", "6.4", "f9010dbdce91", "vhost.task_mode"),
    _b("vhost.fork_owner_control", "VHOST_[GS]ET_FORK_FROM_OWNER select kernel-thread or task mode before "
       "SET_OWNER (EBUSY after, EINVAL above 1)", "6.17", "7d9896e9f6d0", "vhost.fork_owner_control"),
    _b("vhost.ownership", "a second VHOST_SET_OWNER is EBUSY", "2.6.33", "", "vhost.device"),
    _b("vhost.teardown", "close() of the device or SIGKILL of the owner ends the worker", "6.10",
       "db5247d9bf5c", "vhost.device"),
    _b("vhost.cgroup", "the worker is in the owner's cgroup and freezes with it", "6.4", "f9010dbdce91",
       "vhost.device"),
    _b("vhost.nproc", "task-mode workers are charged to the owner's RLIMIT_NPROC; kernel threads are not", "6.4",
       "6e890c5d5021", "vhost.device"),
    _b("vhost.workers", "VHOST_NEW_WORKER/VHOST_FREE_WORKER add and remove vhost-<tid> threads (vhost-scsi)", "6.5",
       "1cdaafa1b8b4", "vhost.new_worker"),
    # ---- resolve_cached ---------------------------------------------------
    _b("resolve_cached.create_trunc_tmpfile", "openat2 with RESOLVE_CACHED and O_CREAT, O_TRUNC or O_TMPFILE is "
       "EAGAIN before any lookup, even for a cached name", "5.12", "99668f618062", "openat2.resolve_cached"),
    _b("resolve_cached.o_directory", "O_DIRECTORY with RESOLVE_CACHED opens a cached directory (the check used "
       "to test O_TMPFILE, which includes O_DIRECTORY, and gave EAGAIN)", "6.5", "a0fc452a5d7f",
       "openat2.resolve_cached"),
    _b("resolve_cached.warm", "a path whose every component is in the dentry cache opens under RESOLVE_CACHED",
       "5.12", "99668f618062", "openat2.resolve_cached"),
    _b("resolve_cached.cold", "a name that is not in the dentry cache (never looked up, or evicted by "
       "drop_caches) is EAGAIN: the lookup would need ref-walk", "5.12", "99668f618062", "openat2.resolve_cached"),
    _b("resolve_cached.negative_dentry", "a cached negative dentry gives ENOENT; tmpfs keeps no negative dentries "
       "(simple_lookup + always_delete_dentry), so a missing name there stays EAGAIN", "5.12", "99668f618062",
       "openat2.resolve_cached"),
    _b("resolve_cached.procfs", "procfs magic links (/proc/self/fd/N, cwd, exe) are EAGAIN; /proc/self/status is "
       "EAGAIN on first contact in a new process and opens once looked up (from a /proc dfd; an absolute path "
       "also needs a root filesystem that revalidates in RCU-walk); before 5.16 every /proc/<pid> lookup was "
       "EAGAIN", "5.16", "da4d6b9cf80a", "openat2.resolve_cached"),
    _b("resolve_cached.scoped", "RESOLVE_BENEATH/IN_ROOT/NO_XDEV/NO_SYMLINKS/NO_MAGICLINKS still hold under "
       "RESOLVE_CACHED: a violation gives the restriction's errno or EAGAIN (where RCU-walk must be left to "
       "decide), never an open", "5.12", "99668f618062", "openat2.resolve_cached"),
    _b("resolve_cached.final_errors", "errors of the last component and of the final open (EACCES, EISDIR, "
       "ENOENT, ENXIO, ELOOP) come through RESOLVE_CACHED unchanged", "5.12", "99668f618062",
       "openat2.resolve_cached"),
    _b("resolve_cached.midwalk_errors", "errors detected mid-walk in RCU mode (ENOTDIR on a non-directory "
       "component since 5.12; EACCES on a directory that may not be searched since 6.8, cdb67fdeed72) become "
       "EAGAIN under RESOLVE_CACHED: confirming them needs try_to_unlazy(), which LOOKUP_CACHED forbids", "6.8",
       "cdb67fdeed72", "openat2.resolve_cached"),
    # ---- io_uring -----------------------------------------------------------
    _b("io_uring.openat2_cached", "IORING_OP_OPENAT2 with the application's RESOLVE_CACHED gives the same result "
       "as openat2(): EAGAIN comes back in the CQE and is not retried in io-wq", "5.12", "99668f618062",
       "io_uring.openat2"),
    _b("io_uring.native_workers", "io-wq workers are threads of the submitting process named iou-wrk-<submitter "
       "tid>, with PF_IO_WORKER and never PF_KTHREAD; IORING_FEAT_NATIVE_WORKERS is reported", "5.12",
       "3bfe6106693b", "io_uring.native_workers"),
    _b("io_uring.user_worker", "io threads also carry PF_USER_WORKER, and /proc/<pid>/status shows Kthread: 0 "
       "for them", "6.4", "54e6842d0775", "io_uring.native_workers"),
    _b("io_uring.worker_proc_self", "through a worker /proc/self resolves to the submitting process and "
       "/proc/thread-self to the worker itself", "5.12", "3bfe6106693b", "io_uring.native_workers"),
    _b("io_uring.worker_context", "a worker opens with the submitter's context: its controlling tty, net "
       "namespace, root directory and the fsuid/fsgid of the submission", "5.12", "3bfe6106693b",
       "io_uring.native_workers"),
    _b("io_uring.sqpoll", "the SQPOLL thread is iou-sqp-<tid>, a thread of the process (/proc/self through it "
       "is the process), and submits with the credentials captured at io_uring_setup", "5.12", "3bfe6106693b",
       "io_uring.sqpoll"),
    _b("io_uring.worker_signals", "io threads block every signal but SIGKILL and SIGSTOP: a SIGUSR1 sent to one "
       "never runs a handler on it; SIGKILL of the process ends all of them", "5.12", "b16b3855d89f",
       "io_uring.native_workers"),
    _b("io_uring.disabled_sysctl", "kernel.io_uring_disabled: 2 makes io_uring_setup EPERM for everyone, 1 for "
       "all but CAP_SYS_ADMIN (and kernel.io_uring_group)", "6.6", "76d3ccecfa18", "io_uring.disabled_sysctl"),
    # ---- (other families: add blocks above this line) ---------------------
)


def by_id() -> dict[str, Behaviour]:
    return {b.id: b for b in BEHAVIOURS}

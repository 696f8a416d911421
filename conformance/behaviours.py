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
    # ---- (other families: add blocks above this line) ---------------------
)


def by_id() -> dict[str, Behaviour]:
    return {b.id: b for b in BEHAVIOURS}

"""user_workers: the life of a user worker (io-wq, SQPOLL, vhost) side by side.

Accounting (RLIMIT_NPROC, IORING_REGISTER_IOWQ_MAX_WORKERS, pids.max), cgroups and the freezer, exec,
exit and core dumps, signals and tracing aimed at one worker tid, and how long workers live.
"""

from __future__ import annotations

from conformance.suite.registry import Behaviour, Family


def _b(name: str, statement: str, since: str, commit: str = "", probe: str = "") -> Behaviour:
    return Behaviour(f"user_workers.{name}", statement, since, commit, probe)


IOWQ = "io_uring.native_workers"

FAMILY = Family(
    "user_workers",
    behaviours=(
        _b("nproc_exhausted", "at RLIMIT_NPROC no worker is created: io-wq cancels the request (-ECANCELED), SQPOLL "
           "setup fails (-EAGAIN), VHOST_NEW_WORKER fails (-ENOMEM)", "6.4", "6e890c5d5021", IOWQ),
        _b("nproc_count", "io-wq workers count against the owner's RLIMIT_NPROC: owner plus workers never exceed "
           "it, and queued requests still complete once a worker is free", "5.12", "3bfe6106693b", IOWQ),
        _b("max_workers_unbounded", "IORING_REGISTER_IOWQ_MAX_WORKERS reports the previous [bounded, unbounded] "
           "limits (unbounded = RLIMIT_NPROC) and caps the unbounded workers", "5.15", "2e480058ddc2", IOWQ),
        _b("max_workers_bounded", "IORING_REGISTER_IOWQ_MAX_WORKERS caps the bounded workers and {0, 0} reads the "
           "limits back without changing them", "5.15", "2e480058ddc2", IOWQ),
        _b("pids_max", "a worker is a task of the owner's pids cgroup: at pids.max it is not created (io-wq "
           "cancels, SQPOLL setup -EAGAIN, VHOST_SET_OWNER -ENOMEM) and pids.events counts it", "6.4",
           "6e890c5d5021", IOWQ),
        _b("cgroup_threads", "workers are listed in the owner's cgroup.threads", "6.4", "f9010dbdce91", IOWQ),
        _b("cgroup_move", "writing the owner's pid to another cgroup.procs moves its workers with it", "6.4",
           "f9010dbdce91", IOWQ),
        _b("freeze", "cgroup.freeze reaches frozen with live workers, and requests complete after the thaw", "6.4",
           "f9010dbdce91", IOWQ),
        _b("freeze_blocked", "a request blocked in an io-wq worker when the cgroup freezes gets a completion "
           "after the thaw (no hang)", "5.12", "3bfe6106693b", IOWQ),
        _b("interrupted_result", "a request interrupted in an io-wq worker by the freezer completes with -EINTR "
           "(or its result), never with a kernel-internal errno such as -ERESTARTSYS", "5.12", "3bfe6106693b", IOWQ),
        _b("owner_stop", "SIGSTOP of the owner stops its workers too (group stop); SIGCONT resumes them", "6.4",
           "f9010dbdce91", IOWQ),
        _b("exec", "exec by an owner with live workers succeeds and leaves a single-threaded process", "6.4",
           "f9010dbdce91", IOWQ),
        _b("exec_cancels", "exec by an owner with requests blocked in io-wq cancels them: their CQEs, read through "
           "another process's copy of the ring, are -ECANCELED (or -EINTR, never -ERESTARTSYS since 7.3.2), and "
           "the new image is single-threaded (7.3.2 moved the cancel before de_thread())", "5.12", "3bfe6106693b",
           IOWQ),
        _b("exit_in_flight", "exit_group with requests in flight ends the owner promptly and leaves no worker",
           "5.12", "3bfe6106693b", IOWQ),
        _b("core_dump", "a core dump of an owner with live workers completes; io threads are dumped as threads, "
           "vhost workers take no part", "6.4", "f9010dbdce91", IOWQ),
        _b("unshare_newuser", "unshare(CLONE_NEWUSER) is EINVAL in a process whose workers are threads (it implies "
           "CLONE_THREAD)", "6.4", "f9010dbdce91", IOWQ),
        _b("unshare_newns", "unshare(CLONE_NEWNS) succeeds in a process with workers; the existing workers keep "
           "the old mount namespace", "5.12", "3bfe6106693b", IOWQ),
        _b("sigkill_worker", "SIGKILL sent to one worker tid kills the whole process", "6.4", "f9010dbdce91", IOWQ),
        _b("sigstop_worker", "SIGSTOP sent to one worker tid stops the whole process (group stop)", "5.12",
           "b16b3855d89f", IOWQ),
        _b("sigusr1_worker", "SIGUSR1 sent to one worker tid stays pending on it (blocked) and runs no handler",
           "5.12", "b16b3855d89f", IOWQ),
        _b("ptrace_attach", "PTRACE_ATTACH to a worker tid: io threads can be traced like threads; a vhost "
           "kernel thread cannot (EPERM)", "6.4", "f9010dbdce91", IOWQ),
        _b("ptrace_seize", "PTRACE_SEIZE (and PTRACE_INTERRUPT) of a worker tid, as PTRACE_ATTACH", "6.4",
           "f9010dbdce91", IOWQ),
        _b("ptrace_setsigmask", "PTRACE_SETSIGMASK on a traced user worker (iou-wrk, iou-sqp, vhost task) is EPERM "
           "and leaves its blocked mask alone, while attaching and PTRACE_GETSIGMASK still work (in Debian's 7.3.4 "
           "and 6.12.118, kernel/ptrace.c; not in 7.2.13 or 6.18.44; no stable subject names it)", "7.3", "", IOWQ),
        _b("proc_fd", "/proc/<tid>/fd of an io thread lists the owner's files; a vhost worker has none", "6.4",
           "11f3f500ec8a", IOWQ),
        _b("proc_mem", "/proc/<tid>/mem of a worker reads the owner's memory; a vhost kernel thread has no mm",
           "6.4", "f9010dbdce91", IOWQ),
        _b("lifetime_close", "workers end once their ring or device is closed", "6.4", "f9010dbdce91", IOWQ),
        _b("lifetime_kill", "SIGKILL of the owner ends it and all its workers", "6.10", "db5247d9bf5c", IOWQ),
        _b("idle_timeout", "idle io-wq workers exit after WORKER_IDLE_TIMEOUT (5 s) while the ring stays open, "
           "but the last one of its account stays", "5.12", "3bfe6106693b", IOWQ),
        _b("vring_worker", "VHOST_ATTACH_VRING_WORKER binds a virtqueue to a new worker, VHOST_GET_VRING_WORKER "
           "reads it back, and VHOST_FREE_WORKER of a bound worker is EBUSY (vhost-scsi)", "6.5", "1cdaafa1b8b4",
           "vhost.new_worker"),
    ),
)

"""io_uring: IORING_OP_OPENAT2 with RESOLVE_CACHED, and what io-wq workers and the SQPOLL thread are."""

from __future__ import annotations

from conformance import iouring_workers
from conformance.registry import Behaviour, Family, Probe


def _b(id: str, statement: str, since: str, commit: str = "", probe: str = "") -> Behaviour:
    return Behaviour(id, statement, since, commit, probe)


FAMILY = Family(
    "io_uring",
    behaviours=(
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
    ),
    probes=(
        Probe("io_uring", "io_uring", "5.1", "", iouring_workers.probe_io_uring),
        Probe("io_uring.openat2", "IORING_OP_OPENAT2", "5.6", "", iouring_workers.probe_uring_openat2),
        Probe("io_uring.native_workers", "IORING_FEAT_NATIVE_WORKERS", "5.12", "3bfe6106693b",
              iouring_workers.probe_native_workers),
        Probe("io_uring.sqpoll", "IORING_SETUP_SQPOLL for this user (unprivileged since 5.11)", "5.11", "",
              iouring_workers.probe_sqpoll),
        Probe("io_uring.disabled_sysctl", "kernel.io_uring_disabled sysctl", "6.6", "76d3ccecfa18",
              iouring_workers.probe_disabled_sysctl),
    ),
)

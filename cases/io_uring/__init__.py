"""io_uring: IORING_OP_OPENAT2 with RESOLVE_CACHED, and what io-wq workers and the SQPOLL thread are."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from conformance import native
from conformance.native import errno_name, uring
from conformance.suite.registry import Behaviour, Family, Probe, State, classify_errno

from . import wire
from .wire import IORING_FEAT_NATIVE_WORKERS, IORING_SETUP_SQPOLL

DISABLED_PATH = "/proc/sys/kernel/io_uring_disabled"


def _setup_probe(flags: int = 0, want_openat2: bool = False) -> wire.SetupProbe:
    # kernel.io_uring_disabled is changed only under the exclusive global lock,
    # and the plugin holds it shared around every case (requirements included):
    # taking it again here would deadlock against a waiting writer.
    return wire.setup_probe(flags, want_openat2)


def _setup_said(p: wire.SetupProbe) -> str:
    return "succeeded" if p.setup_res >= 0 else errno_name(-p.setup_res)


def probe_io_uring() -> tuple[State, str]:
    p = _setup_probe()
    if p.harness_error is not native.HarnessError.NONE:
        return State.UNKNOWN, f"probe child: {p.harness_error.name}"
    said = f"io_uring_setup gave {_setup_said(p)}"
    if p.setup_res == -errno.EPERM and os.path.exists(DISABLED_PATH):
        value = Path(DISABLED_PATH).read_text().strip()
        # This run changes it only under the exclusive lock and restores it before letting go.
        said += (f" (kernel.io_uring_disabled={value}: io_uring disabled machine-wide, set outside this run)"
                 if value != "0" else f" (kernel.io_uring_disabled={value})")
    return classify_errno(-p.setup_res, (0,), (errno.ENOSYS, errno.EPERM)), said


def probe_native_workers() -> tuple[State, str]:
    p = _setup_probe()
    if p.setup_res < 0:
        return State.ABSENT, f"io_uring_setup gave {_setup_said(p)}"
    have = bool(p.features & IORING_FEAT_NATIVE_WORKERS)
    return (State.PRESENT if have else State.ABSENT), f"io_uring_params.features {p.features:#x}"


def probe_sqpoll() -> tuple[State, str]:
    p = _setup_probe(IORING_SETUP_SQPOLL)
    return (classify_errno(-p.setup_res, (0,), (errno.EPERM, errno.EINVAL, errno.ENOSYS)),
            f"io_uring_setup(IORING_SETUP_SQPOLL) as uid {os.geteuid()} gave {_setup_said(p)}")


def probe_uring_openat2() -> tuple[State, str]:
    p = _setup_probe(0, want_openat2=True)
    if p.setup_res < 0:
        return State.ABSENT, f"io_uring_setup gave {_setup_said(p)}"
    said = f"IORING_OP_OPENAT2 of \"/\" gave {uring.said(p.openat2_res)}"
    if p.openat2_res >= 0:
        return State.PRESENT, said
    return classify_errno(-p.openat2_res, (), (errno.EINVAL, errno.EOPNOTSUPP)), said


def probe_disabled_sysctl() -> tuple[State, str]:
    if os.path.exists(DISABLED_PATH):
        return State.PRESENT, f"{DISABLED_PATH} = {Path(DISABLED_PATH).read_text().strip()}"
    return State.ABSENT, f"no {DISABLED_PATH}"



def probe_task_restrictions() -> tuple[State, str]:
    """Register restrictions (no_new_privs) in a throw-away harness: nothing outlives it."""
    try:
        r = wire.restrict_scenario(wire.RestrictRequest())
    except OSError as e:
        return State.UNKNOWN, str(e)
    if r.harness_error:
        return State.UNKNOWN, f"probe harness error {r.harness_error}"
    said = f"io_uring_register(-1, IORING_REGISTER_RESTRICTIONS) gave {_ret_said(r.register_ret)}"
    return classify_errno(-r.register_ret, (0,), (errno.EINVAL, errno.EBADF, errno.ENOSYS)), said


def _ret_said(ret: int) -> str:
    return "0" if ret >= 0 else errno_name(-ret)


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
        _b("io_uring.task_restrictions", "restrictions registered for a task (IORING_REGISTER_RESTRICTIONS with ring "
           "fd -1) restrict every ring it creates and are copied to every task it creates (fork, vfork, clone, "
           "clone3, threads, grandchildren); a denied SQE is -EACCES, also through io-wq and SQPOLL; a second "
           "registration is EPERM, one without no_new_privs or CAP_SYS_ADMIN EACCES", "7.0", "ed82f35b926b",
           "io_uring.task_restrictions"),
        _b("io_uring.disabled_sysctl", "kernel.io_uring_disabled: 2 makes io_uring_setup EPERM for everyone, 1 for "
           "all but CAP_SYS_ADMIN (and kernel.io_uring_group)", "6.6", "76d3ccecfa18", "io_uring.disabled_sysctl"),
    ),
    probes=(
        Probe("io_uring", "io_uring", "5.1", "", probe_io_uring),
        Probe("io_uring.openat2", "IORING_OP_OPENAT2", "5.6", "", probe_uring_openat2),
        Probe("io_uring.native_workers", "IORING_FEAT_NATIVE_WORKERS", "5.12", "3bfe6106693b",
              probe_native_workers),
        Probe("io_uring.sqpoll", "IORING_SETUP_SQPOLL for this user (unprivileged since 5.11)", "5.11", "",
              probe_sqpoll),
        Probe("io_uring.task_restrictions", "io_uring task restrictions (IORING_REGISTER_RESTRICTIONS, fd -1)", "7.0",
              "ed82f35b926b", probe_task_restrictions),
        Probe("io_uring.disabled_sysctl", "kernel.io_uring_disabled sysctl", "6.6", "76d3ccecfa18",
              probe_disabled_sysctl),
    ),
)

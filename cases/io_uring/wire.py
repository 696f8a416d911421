"""The io_uring family's C side (native_helpers/kc_uring.h), as typed dataclasses: the worker and
signal scenarios, the setup probe, kernel.io_uring_disabled, task restrictions and the thread list.

One dataclass per C struct (same field names), marshalled by conformance.native; the open scenario the
worker rows share with resolve_cached is in the core (conformance.native.uring).  Every ring lives in a C
child created for one scenario, so io-wq workers and SQPOLL threads never appear in the Python process.
"""

from __future__ import annotations

from typing import Annotated

from conformance import native
from conformance._kc_uring_h import How as How
from conformance._kc_uring_h import Op as Op
from conformance._kc_uring_h import Ring as Ring
from conformance._kc_uring_h import Setup as Setup
from conformance._kc_uring_h import Via as Via
from conformance._kc_uring_h import WorkerKind as WorkerKind
from conformance.host.procfs import Task
from conformance.host.records import record
from conformance.native import CountedBy, const, errno_name

THREADS_MAX = const("KC_U_THREADS")
IORING_SETUP_SQPOLL = const("KC_IORING_SETUP_SQPOLL")
IORING_FEAT_NATIVE_WORKERS = const("KC_IORING_FEAT_NATIVE_WORKERS")
NOT_CALLED = const("KC_UR_NOT_CALLED")  # a restriction scenario's call that was not made


# --------------------------------------------------------------------------- worker scenarios


@native.wire("kc_worker_res")
@record(frozen=True)
class WorkerResult(native.Harnessed):
    harness: native.HarnessStatus  # pid: the submitter (the harness process itself)
    ring_res: int
    target_tid: int
    signal_res: int
    hits_after_target: int
    handler_tid: int
    hits_after_self: int
    self_handler_tid: int
    reap_ms: int
    task_dir_after: int
    nthreads: int
    target_pending: int
    target_blocked: int
    threads: Annotated[tuple[Task, ...], CountedBy("nthreads")]

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.threads

    def problem(self) -> str | None:
        if not self.harness.ok:
            return self.harness.describe()
        if self.ring_res < 0:
            return f"io_uring_setup failed with {errno_name(-self.ring_res)}"
        return None


@native.wire("kc_worker_req")
@record(frozen=True)
class WorkerRequest:
    kind: WorkerKind
    via: Via = Via.ASYNC
    # A thread-directed signal is never moved to another thread, and one the kernel wrongly delivered
    # process-wide would run the handler on the submitter's return from tgkill: 10 ms is ample.
    settle_ms: int = 10
    timeout_ms: int = 10000


def worker_scenario(kind: WorkerKind, via: Via = Via.ASYNC, settle_ms: int = 10) -> WorkerResult:
    return native.run_harness("kc_uring_worker_scenario", WorkerResult, WorkerRequest(kind, via, settle_ms),
                              what="worker scenario")


# --------------------------------------------------------------------------- probes and sysctl


@native.wire("kc_setup_probe")
@record(frozen=True)
class SetupProbe(native.Harnessed):
    harness: native.HarnessStatus
    setup_res: int  # 0 or -errno
    features: int
    openat2_res: int  # CQE of an inline IORING_OP_OPENAT2 of "/", or conformance.native.uring.NOT_ATTEMPTED


def setup_probe(flags: int = 0, want_openat2: bool = False) -> SetupProbe:
    """io_uring_setup (and optionally one IORING_OP_OPENAT2) in a fresh child."""
    return native.run_harness("kc_uring_setup_probe", SetupProbe, flags, want_openat2, what="setup probe")


@native.wire("kc_disabled_res")
@record(frozen=True)
class DisabledResult(native.Harnessed):
    harness: native.HarnessStatus  # of the setup child
    original: int
    write_res: int
    setup_res: int
    restore_res: int
    after: int


def disabled_try(value: int, drop_privileges: bool) -> DisabledResult:
    """Write kernel.io_uring_disabled, try io_uring_setup in a child, restore: all in one C call."""
    rc, res = native.call_out("kc_uring_disabled_try", DisabledResult, value, drop_privileges)
    if rc < 0:
        raise OSError(-rc, f"cannot read kernel.io_uring_disabled: {errno_name(-rc)}")
    return res


def list_threads(pid: int = 0) -> tuple[Task, ...]:
    """The threads of a process (0: this one) as the C helpers see them."""
    n, tasks = native.call_array("kc_list_threads", Task, THREADS_MAX * 4, pid)
    if n < 0:
        raise OSError(-n, f"cannot list threads of {pid or 'self'}: {errno_name(-n)}")
    return tasks[:n]


# --------------------------------------------------------------------------- task restrictions


@native.wire("kc_ur_req", internal=("pad0",))
@record(frozen=True)
class RestrictRequest:
    """struct kc_ur_req."""

    how: How = How.SELF
    ring: Ring = Ring.PLAIN
    do_register: bool = True
    nnp: bool = True
    drop: bool = False
    bad_flags: bool = False
    timeout_ms: int = 8000


@native.wire("kc_ur_res", internal=("pad0",))
@record(frozen=True)
class RestrictResult(native.Harnessed):
    """struct kc_ur_res."""

    harness: native.HarnessStatus
    register_ret: int
    register2_ret: int
    create_ret: int
    child_status: int
    reported: int
    setup_ret: int
    nop_res: int
    read_res: int
    child_register_ret: int
    nnp_child: int
    nthreads: int


def restrict_scenario(req: RestrictRequest) -> RestrictResult:
    """One restriction scenario in a throw-away harness (kc_uring_restrict_scenario): the restrictions
    die with it."""
    return native.run_harness("kc_uring_restrict_scenario", RestrictResult, req, what="restriction")

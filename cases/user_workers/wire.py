"""The user_workers family's C side (native_helpers/kc_workers.h), as typed dataclasses.

WorkersRequest and WorkersResult mirror struct kc_wk_req and struct kc_wk_res field for field;
conformance.native marshals them, and ``run`` runs one scenario in a throw-away C harness process.
"""

from __future__ import annotations

from typing import Annotated

from conformance import native
from conformance._kc_workers_h import SetupStep as SetupStep
from conformance._kc_workers_h import WorkerAction as WorkerAction
from conformance._kc_workers_h import WorkerKind as WorkerKind
from conformance.host.procfs import Task
from conformance.host.records import record
from conformance.native import CountedBy


@native.wire("kc_wk_req")
@record(frozen=True)
class WorkersRequest:
    """struct kc_wk_req."""

    kind: WorkerKind
    action: WorkerAction = WorkerAction.NONE
    arg: int = 0
    nblock: int = 0
    block_bound: bool = False
    nnop: int = 0
    want_workers: int = 0
    maxw_set: bool = False
    maxw: tuple[int, ...] = (0, 0)
    maxw_query: bool = False
    private_uid: bool = False
    nproc: int = -1
    vhost_fork_owner: int = -1
    vhost_new_workers: int = 0
    vhost_attach: bool = False
    timeout_ms: int = 3000
    device: str = ""
    cgroup: str = ""
    dst_cgroup: str = ""
    core_dir: str = ""
    exec_path: str = ""
    sigmask: bool = False
    exec_cqes: bool = False


@native.wire("kc_wk_res", internal=("pad0",))
@record(frozen=True)
class WorkersResult(native.Harnessed):
    """struct kc_wk_res."""

    harness: native.HarnessStatus
    owner_pid: int
    owner_status: int
    owner_ended: int
    setup_step: int
    setup_ret: int
    features: int
    fork_owner_ret: int
    new_worker_ret: int
    new_worker_id: int
    attach_ret: int
    get_vring_ret: int
    get_vring_id: int
    free_ret: int
    maxw_ret: int
    maxw_old: tuple[int, ...]
    maxw_query_ret: int
    maxw_now: tuple[int, ...]
    nnop_done: int
    nop_res: tuple[int, ...]
    nthreads: int
    nworkers: int
    kthread_tid: int
    target_tid: int
    pids_current: int
    pids_max_events: int
    in_cgroup: int
    action_ret: int
    action_ms: int
    owner_state: int
    target_state: int
    stopped_workers: int
    after_nthreads: int
    after_nworkers: int
    after_kthread: int
    after_in_cgroup: int
    in_dst: int
    frozen: int
    thawed: int
    fd_count: int
    owner_fd_count: int
    mem_ret: int
    mem_match: int
    post_ret: int
    handler_hits: int
    handler_tid: int
    target_pending: int
    ncomplete: int
    complete_res: tuple[int, ...]
    core_dumped: int
    core_size: int
    core_prstatus: int
    leaked: int
    mntns_owner: int
    mntns_worker: int
    sigmask_before: int
    sigmask_after: int
    ring_copy_ret: int
    exec_sqes: int
    getsigmask_ret: int
    setsigmask_ret: int
    nlisted: int
    threads: Annotated[tuple[Task, ...], CountedBy("nlisted")]


def run(req: WorkersRequest) -> WorkersResult:
    """One scenario in a throw-away harness process (kc_workers_run)."""
    return native.run_harness("kc_workers_run", WorkersResult, req, what="user-worker")

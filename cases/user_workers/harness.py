"""The C side of the family (native_helpers/kc_workers.h), as typed dataclasses.

WorkersRequest and WorkersResult mirror struct kc_wk_req and struct kc_wk_res field for field;
conformance.native marshals them.
"""

from __future__ import annotations

import enum
from typing import Annotated

from conformance import native
from conformance.native import CountedBy, const, errno_name
from conformance.procfs import Task
from conformance.records import record


class WorkerKind(enum.IntEnum):
    IOWQ = const("KC_WK_IOWQ")
    SQPOLL = const("KC_WK_SQPOLL")
    VHOST = const("KC_WK_VHOST")


class WorkerAction(enum.IntEnum):
    NONE = const("KC_WA_NONE")
    TGKILL = const("KC_WA_TGKILL")
    PTRACE = const("KC_WA_PTRACE")
    PROCFS = const("KC_WA_PROCFS")
    STOP = const("KC_WA_STOP")
    FREEZE = const("KC_WA_FREEZE")
    MOVE = const("KC_WA_MOVE")
    EXEC = const("KC_WA_EXEC")
    EXIT = const("KC_WA_EXIT")
    CORE = const("KC_WA_CORE")
    UNSHARE = const("KC_WA_UNSHARE")
    CLOSE = const("KC_WA_CLOSE")
    KILL = const("KC_WA_KILL")
    IDLE = const("KC_WA_IDLE")
    NEW_WORKER = const("KC_WA_NEW_WORKER")


class SetupStep(enum.IntEnum):
    OK = const("KC_WS_OK")
    CGROUP = const("KC_WS_CGROUP")
    IDENTITY = const("KC_WS_IDENTITY")
    RLIMIT = const("KC_WS_RLIMIT")
    RING = const("KC_WS_RING")
    OPEN = const("KC_WS_OPEN")
    SET_OWNER = const("KC_WS_SET_OWNER")
    SUBMIT = const("KC_WS_SUBMIT")


PTRACE_ATTACH = const("KC_PTRACE_ATTACH")
PTRACE_SEIZE = const("KC_PTRACE_SEIZE")
CLONE_NEWNS = const("KC_CLONE_NEWNS")
CLONE_NEWUSER = const("KC_CLONE_NEWUSER")
NOT_CALLED = const("KC_WK_NOT_CALLED")


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


@record(frozen=True)
class WorkersResult:
    """struct kc_wk_res."""

    harness_error: int
    harness_errno: int
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
    rc, res = native.call_out("kc_workers_run", WorkersResult, req)
    if rc < 0:
        raise OSError(-rc, f"cannot start the user-worker harness: {errno_name(-rc)}")
    return res

"""vhost workers: vhost-<pid> as a thread of the owner (6.4+) or a kernel thread (before, or selected)."""

from __future__ import annotations

from collections.abc import Callable

from conformance.suite.registry import Behaviour, Family, Probe, State

from .model import (
    probe_device,
    probe_fork_owner_control,
    probe_new_worker,
    probe_scsi_device,
    probe_task_mode,
    probe_vsock_device,
)


def _after_device(run: Callable[[], tuple[State, str]]) -> Callable[[], tuple[State, str]]:
    """A probe that needs the vhost-net device first."""

    def probe() -> tuple[State, str]:
        state, why = probe_device()
        return (state, why) if state is not State.PRESENT else run()

    return probe


def _b(id: str, statement: str, since: str, commit: str = "", probe: str = "") -> Behaviour:
    return Behaviour(id, statement, since, commit, probe)


FAMILY = Family(
    "vhost",
    behaviours=(
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
    ),
    probes=(
        Probe("vhost.device", "vhost-net device", "2.6.33", "", probe_device),
        Probe("vhost.vsock_device", "vhost-vsock device", "4.8", "", probe_vsock_device),
        Probe("vhost.task_mode", "vhost workers as threads of the owner", "6.4", "f9010dbdce91",
              _after_device(probe_task_mode)),
        Probe("vhost.fork_owner_control", "VHOST_SET_FORK_FROM_OWNER", "6.17", "7d9896e9f6d0",
              _after_device(probe_fork_owner_control)),
        Probe("vhost.scsi_device", "vhost-scsi device", "3.6", "", probe_scsi_device),
        Probe("vhost.new_worker", "VHOST_NEW_WORKER (vhost-scsi)", "6.5", "1cdaafa1b8b4",
              _after_device(probe_new_worker)),
    ),
)

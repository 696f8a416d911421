"""vhost worker conformance cases (kernel-history.md section 4 and 7).

Model by release: <= 6.3 the worker is a kernel thread ``vhost-<owner tid>``
(PPid 2); since 6.4 (f9010dbdce91) it is a thread of the owner (PF_USER_WORKER,
counted against RLIMIT_NPROC, frozen with its cgroup); where
VHOST_SET_FORK_FROM_OWNER exists (6.17, backported to 6.12.y/6.16.y) the owner
may choose the kernel-thread mode before VHOST_SET_OWNER.
"""

from __future__ import annotations

import errno
from typing import Any

from conformance.case import Check
from conformance.requirements import PRIVILEGED, Cgroup2Writable, Feature, ProgramOnPath, Requirement
from conformance.verdict import OldModel
from conformance.vhost import (
    SCSI,
    VSOCK,
    FreezeBlocked,
    Freezes,
    GetValue,
    Gone,
    Ioctl,
    KthreadWorker,
    NewWorkers,
    NoWorker,
    Observation,
    OwnerRequest,
    PsShows,
    SameCgroup,
    Scenario,
    TaskModeWorker,
    Teardown,
    VhostCase,
    WorkerFlags,
    WorkersFreed,
)

DEVICE = Feature("vhost.device")
BASE: tuple[Requirement, ...] = (DEVICE, PRIVILEGED)
TASK = (*BASE, Feature("vhost.task_mode"))
CONTROL = (*BASE, Feature("vhost.fork_owner_control"))
NEW_WORKER = (*TASK, Feature("vhost.new_worker"))
KTHREAD_MODEL = OldModel("6.4", "f9010dbdce91", "the vhost worker is a kernel thread vhost-<pid> with PPid 2")
FREEZE_MODEL = OldModel("6.4", "f9010dbdce91", "the kernel-thread worker is PF_NOFREEZE: a frozen cgroup "
                        "holding it never reports frozen 1")
NPROC_MODEL = OldModel("6.4", "6e890c5d5021", "kernel-thread workers are not charged to RLIMIT_NPROC")


def vh(id: str, behaviour: str, *expect: Check[Observation], needs: tuple[Requirement, ...] = BASE,
       old: OldModel | None = None, old_expect: tuple[Check[Observation], ...] | None = None, doc: str = "",
       ps: bool = False, in_cgroup: bool = False, freeze: bool = False, free_workers: bool = False,
       teardown: Teardown = Teardown.CLOSE, **owner: Any) -> VhostCase:
    sc = Scenario(OwnerRequest(**owner), ps=ps, in_cgroup=in_cgroup, freeze=freeze, free_workers=free_workers,
                  teardown=teardown)
    return VhostCase(id, f"vhost.{behaviour}", scenario=sc, expect=expect, needs=needs, old=old,
                     old_expect=old_expect, doc=doc)


CASES: tuple[VhostCase, ...] = (
    # ---- which model the kernel implements by default ---------------------------------------------
    vh("default-model", "worker_model", Ioctl("set_owner_ret"), TaskModeWorker(),
       old=KTHREAD_MODEL, old_expect=(Ioctl("set_owner_ret"), KthreadWorker()),
       doc="after VHOST_SET_OWNER the owner has exactly one new thread vhost-<owner tid>"),
    vh("task-worker-identity", "task_worker", TaskModeWorker(), needs=TASK,
       doc="comm vhost-<owner tid>, Tgid = owner, no kernel thread of that name"),
    vh("task-worker-flags", "task_worker", WorkerFlags(), needs=TASK,
       doc="PF_USER_WORKER set, PF_KTHREAD clear, status Kthread: 0"),
    vh("task-worker-ps", "task_worker", PsShows(), needs=(*TASK, ProgramOnPath("ps")), ps=True,
       doc="procps: ps -e lists no vhost process, ps -eL lists the thread"),
    vh("task-worker-vsock", "task_worker", TaskModeWorker(), needs=(*TASK, Feature("vhost.vsock_device")),
       device=VSOCK),
    # ---- fork-owner control --------------------------------------------------------------------
    vh("fork-owner-default", "fork_owner_control", GetValue("get_before", 1), needs=CONTROL, set_owner=False,
       get_before=True, doc="fork_from_owner_default=Y: task mode unless the owner asks"),
    vh("fork-owner-kthread-selected", "fork_owner_control", Ioctl("fork_owner_ret"), Ioctl("set_owner_ret"),
       KthreadWorker(), needs=CONTROL, fork_owner=0),
    vh("fork-owner-task-selected", "fork_owner_control", Ioctl("fork_owner_ret"), TaskModeWorker(),
       needs=CONTROL, fork_owner=1),
    vh("fork-owner-get-returns-set", "fork_owner_control", Ioctl("fork_owner_ret"), GetValue("get_after", 0),
       needs=CONTROL, fork_owner=0, set_owner=False, get_after=True),
    vh("fork-owner-after-set-owner", "fork_owner_control", Ioctl("fork_owner_after_ret", errno.EBUSY),
       needs=CONTROL, fork_owner_after=0),
    vh("fork-owner-value-2", "fork_owner_control", Ioctl("fork_owner_ret", errno.EINVAL), needs=CONTROL,
       fork_owner=2, set_owner=False),
    vh("kthread-mode-teardown", "fork_owner_control", KthreadWorker(), Gone(), needs=CONTROL, fork_owner=0),
    # ---- ownership and teardown -----------------------------------------------------------------
    vh("set-owner-twice", "ownership", Ioctl("set_owner_ret"), Ioctl("set_owner2_ret", errno.EBUSY),
       set_owner_twice=True),
    vh("teardown-close", "teardown", Ioctl("set_owner_ret"), Gone(), teardown=Teardown.CLOSE,
       doc="close() of the device makes the worker disappear within the bound"),
    vh("teardown-sigkill", "teardown", Ioctl("set_owner_ret"), Gone(), teardown=Teardown.KILL,
       doc="SIGKILL of the owner makes the worker disappear within the bound"),
    # ---- cgroup and freezer ---------------------------------------------------------------------
    vh("worker-in-owner-cgroup", "cgroup", SameCgroup(), needs=(*TASK, Cgroup2Writable()), in_cgroup=True),
    vh("freeze-and-thaw", "cgroup", Ioctl("set_owner_ret"), Freezes(), needs=(*BASE, Cgroup2Writable()),
       in_cgroup=True, freeze=True, old=FREEZE_MODEL, old_expect=(Ioctl("set_owner_ret"), FreezeBlocked()),
       doc="the group reaches frozen 1 and thaws (the 6.4 fix made workers freezable threads)"),
    # ---- RLIMIT_NPROC ---------------------------------------------------------------------------
    vh("nproc-task-mode-refused", "nproc", Ioctl("set_owner_ret", -1), NoWorker(),
       old=NPROC_MODEL, old_expect=(Ioctl("set_owner_ret"), KthreadWorker()),
       doc="uid 65534 at RLIMIT_NPROC 1: no task-mode worker; the kernel answers ENOMEM (vhost_dev_set_owner "
           "maps every worker-creation failure to ENOMEM)", drop_privileges=True, nproc_limit=1),
    vh("nproc-kthread-mode-not-charged", "nproc", Ioctl("set_owner_ret"), KthreadWorker(), needs=CONTROL,
       fork_owner=0, drop_privileges=True, nproc_limit=1),
    # ---- multiple workers (6.5) -----------------------------------------------------------------
    vh("new-worker-adds-threads", "workers", NewWorkers(), TaskModeWorker(count=3), needs=NEW_WORKER,
       device=SCSI, new_workers=2, doc="vhost-scsi: the default worker plus two new vhost-<owner tid> threads"),
    vh("free-worker-removes-threads", "workers", NewWorkers(), WorkersFreed(), needs=NEW_WORKER, device=SCSI,
       new_workers=2, free_workers=True),
)

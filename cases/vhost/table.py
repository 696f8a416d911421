"""vhost worker conformance cases (cases/kernel-facts.md §4).

Model by release: <= 6.3 the worker is a kernel thread ``vhost-<owner tid>``
(PPid 2); since 6.4 (f9010dbdce91) it is a thread of the owner (PF_USER_WORKER,
counted against RLIMIT_NPROC, frozen with its cgroup); where
VHOST_SET_FORK_FROM_OWNER exists (6.17, backported to 6.12.y/6.16.y) the owner
may choose the kernel-thread mode before VHOST_SET_OWNER.
"""

from __future__ import annotations

import errno

from conformance.suite.requirements import Cgroup2Writable, Feature, ProgramOnPath

from .model import (
    ANY_ERROR,
    BASE,
    Call,
    FreezeBlocked,
    Freezes,
    GetValue,
    Gone,
    Ioctl,
    KthreadWorker,
    NewWorkers,
    NoWorker,
    PsShows,
    SameCgroup,
    TaskModeWorker,
    Teardown,
    VhostCase,
    WorkerFlags,
    WorkersFreed,
    old_model,
    vh,
)
from .wire import SCSI, VSOCK
from .wire import OwnerRequest as Owner

TASK = (*BASE, Feature("vhost.task_mode"))
CONTROL = (*BASE, Feature("vhost.fork_owner_control"))
NEW_WORKER = (*TASK, Feature("vhost.new_worker"))
KTHREAD_MODEL = old_model("6.4", "f9010dbdce91", "the vhost worker is a kernel thread vhost-<pid> with PPid 2",
                          Ioctl(Call.SET_OWNER), KthreadWorker())
FREEZE_MODEL = old_model("6.4", "f9010dbdce91", "the kernel-thread worker is PF_NOFREEZE: a frozen cgroup "
                         "holding it never reports frozen 1", Ioctl(Call.SET_OWNER), FreezeBlocked())
NPROC_MODEL = old_model("6.4", "6e890c5d5021", "kernel-thread workers are not charged to RLIMIT_NPROC",
                        Ioctl(Call.SET_OWNER), KthreadWorker())


CASES: tuple[VhostCase, ...] = (
    # ---- which model the kernel implements by default ---------------------------------------------
    vh("default-model", "worker_model", Ioctl(Call.SET_OWNER), TaskModeWorker(),
       doc="after VHOST_SET_OWNER the owner has exactly one new thread vhost-<owner tid>", old=KTHREAD_MODEL),
    vh("task-worker-identity", "task_worker", TaskModeWorker(), needs=TASK,
       doc="comm vhost-<owner tid>, Tgid = owner, no kernel thread of that name"),
    vh("task-worker-flags", "task_worker", WorkerFlags(), needs=TASK,
       doc="PF_USER_WORKER set, PF_KTHREAD clear, status Kthread: 0"),
    vh("task-worker-ps", "task_worker", PsShows(), needs=(*TASK, ProgramOnPath("ps")), ps=True,
       doc="procps: ps -e lists no vhost process, ps -eL lists the thread"),
    vh("task-worker-vsock", "task_worker", TaskModeWorker(), owner=Owner(device=VSOCK),
       needs=(*TASK, Feature("vhost.vsock_device"))),
    # ---- fork-owner control --------------------------------------------------------------------
    vh("fork-owner-default", "fork_owner_control", GetValue(Call.GET_BEFORE, 1),
       owner=Owner(set_owner=False, get_before=True), needs=CONTROL,
       doc="fork_from_owner_default=Y: task mode unless the owner asks"),
    vh("fork-owner-kthread-selected", "fork_owner_control", Ioctl(Call.FORK_OWNER), Ioctl(Call.SET_OWNER),
       KthreadWorker(), owner=Owner(fork_owner=0), needs=CONTROL),
    vh("fork-owner-task-selected", "fork_owner_control", Ioctl(Call.FORK_OWNER), TaskModeWorker(),
       owner=Owner(fork_owner=1), needs=CONTROL),
    vh("fork-owner-get-returns-set", "fork_owner_control", Ioctl(Call.FORK_OWNER), GetValue(Call.GET_AFTER, 0),
       owner=Owner(fork_owner=0, set_owner=False, get_after=True), needs=CONTROL),
    vh("fork-owner-after-set-owner", "fork_owner_control", Ioctl(Call.FORK_OWNER_AFTER, errno.EBUSY),
       owner=Owner(fork_owner_after=0), needs=CONTROL),
    vh("fork-owner-value-2", "fork_owner_control", Ioctl(Call.FORK_OWNER, errno.EINVAL),
       owner=Owner(fork_owner=2, set_owner=False), needs=CONTROL),
    vh("kthread-mode-teardown", "fork_owner_control", KthreadWorker(), Gone(), owner=Owner(fork_owner=0),
       needs=CONTROL),
    # ---- ownership and teardown -----------------------------------------------------------------
    vh("set-owner-twice", "ownership", Ioctl(Call.SET_OWNER), Ioctl(Call.SET_OWNER_AGAIN, errno.EBUSY),
       owner=Owner(set_owner_twice=True)),
    vh("teardown-close", "teardown", Ioctl(Call.SET_OWNER), Gone(), teardown=Teardown.CLOSE,
       doc="close() of the device makes the worker disappear within the bound"),
    vh("teardown-sigkill", "teardown", Ioctl(Call.SET_OWNER), Gone(), teardown=Teardown.KILL,
       doc="SIGKILL of the owner makes the worker disappear within the bound"),
    # ---- cgroup and freezer ---------------------------------------------------------------------
    vh("worker-in-owner-cgroup", "cgroup", SameCgroup(), needs=(*TASK, Cgroup2Writable()), in_cgroup=True),
    vh("freeze-and-thaw", "cgroup", Ioctl(Call.SET_OWNER), Freezes(), needs=(*BASE, Cgroup2Writable()), in_cgroup=True,
       freeze=True, doc="the group reaches frozen 1 and thaws (the 6.4 fix made workers freezable threads)",
       old=FREEZE_MODEL),
    # ---- RLIMIT_NPROC ---------------------------------------------------------------------------
    vh("nproc-task-mode-refused", "nproc", Ioctl(Call.SET_OWNER, ANY_ERROR), NoWorker(),
       owner=Owner(drop_privileges=True, nproc_limit=1),
       doc="uid 65534 at RLIMIT_NPROC 1: no task-mode worker; the kernel answers ENOMEM (vhost_dev_set_owner "
           "maps every worker-creation failure to ENOMEM)",
       old=NPROC_MODEL),
    vh("nproc-kthread-mode-not-charged", "nproc", Ioctl(Call.SET_OWNER), KthreadWorker(),
       owner=Owner(fork_owner=0, drop_privileges=True, nproc_limit=1), needs=CONTROL),
    # ---- multiple workers (6.5) -----------------------------------------------------------------
    vh("new-worker-adds-threads", "workers", NewWorkers(), TaskModeWorker(count=3),
       owner=Owner(device=SCSI, new_workers=2), needs=NEW_WORKER,
       doc="vhost-scsi: the default worker plus two new vhost-<owner tid> threads"),
    vh("free-worker-removes-threads", "workers", NewWorkers(), WorkersFreed(), owner=Owner(device=SCSI, new_workers=2),
       needs=NEW_WORKER, free_workers=True),
)

"""io_uring conformance cases: io-wq/SQPOLL worker identity, signals, kernel.io_uring_disabled, task
restrictions across process creation.

The io_uring variant of every resolve_cached row (``<id>.io_uring``, behaviour
``io_uring.openat2_cached``) is declared there, once, as a variant axis.
Worker model: cases/kernel-facts.md §3.  Every case runs in a fresh C child
whose ring is closed (and whose workers end) before the case returns.  Ids
are stable: never rename one.
"""

from __future__ import annotations

import errno
import os

from conformance.host.kernel import CAP_NET_ADMIN, CAP_SETUID, CAP_SYS_CHROOT
from conformance.host.uapi import PF_IO_WORKER, PF_KTHREAD, PF_USER_WORKER
from conformance.suite.case import AllOf, OldModel
from conformance.suite.checks import Is
from conformance.suite.requirements import DROPS_PRIVILEGES, PRIVILEGED, SETS_FSID, Cap, Feature

from .model import (
    READ_LEN,
    BothFail,
    BothOpen,
    ControlHandlerRuns,
    CreatedBy,
    InNewNetns,
    IoUringCase,
    IsControllingTty,
    KilledWithWorkers,
    KthreadField,
    NameIsWorker,
    NoHandlerOnTarget,
    Prep,
    R,
    ReadsMarker,
    SameContent,
    SameInode,
    StatusField,
    StaysPendingBlocked,
    WorkerFlags,
    WorkerOpen,
    WorkerThreads,
    disabled_case,
    restrict_row,
    signal_case,
    worker_case,
)
from .wire import NOT_CALLED, How, Op, Ring, Setup, Via, WorkerKind
from .wire import RestrictRequest as Restrict

W = WorkerOpen
STATUS = 255  # bytes of a status file to read (Name, Umask, State, Tgid, Ngid, Pid come first)
USER_WORKER = OldModel("6.4", "54e6842d0775", "io threads had PF_IO_WORKER but not PF_USER_WORKER",
                       expect=AllOf((WorkerFlags(PF_IO_WORKER, PF_KTHREAD | PF_USER_WORKER),)))
# 522dc4e5f51e "fs/proc: add Kthread flag to /proc/$pid/status" (Chunguang Wu, via akpm's mm-nonmm-stable,
# merged for 6.4; the same id is in post-6.4-rc1 kernel.org revlists of several trees)
KTHREAD_LINE = OldModel("6.4", "522dc4e5f51e", "/proc/<pid>/status had no Kthread: line",
                        expect=AllOf((KthreadField(None),)))
TTY_FLAGS = os.O_RDWR | os.O_NOCTTY
CREATE_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY
STALE_NETNS_DOC = ("Not a case: a worker created before unshare(CLONE_NEWNET) keeps the nsproxy it was copied "
                   "with, so /proc/thread-self/ns/net through it shows the old namespace while /proc/self/ns/net "
                   "(the thread-group leader) shows the new one; which worker serves a request is not "
                   "deterministic, so the suite only records it.")

# Task restrictions (IORING_REGISTER_RESTRICTIONS with ring fd -1, 7.0 ed82f35b926b "io_uring: allow
# registration of per-task restrictions"): every ring the task creates afterwards starts with a copy
# (io_uring_create()) and copy_process() copies them to every new task (io_uring_fork()); a second
# registration is EPERM, one without no_new_privs and CAP_SYS_ADMIN EACCES, flags other than 0 EINVAL.  A
# denied SQE completes with -EACCES at submission, so neither io-wq nor SQPOLL runs it.  Allowed:
# IORING_OP_NOP and IOSQE_ASYNC; denied: IORING_OP_READ.
EACCES, EPERM, EINVAL = -errno.EACCES, -errno.EPERM, -errno.EINVAL
REGISTERED = (Is(R.register_ret, 0, "the task registration"),
              Is(R.register2_ret, EPERM, "a second registration by the same task"))
RESTRICTED = (Is(R.setup_ret, 0, "io_uring_setup"), Is(R.nop_res, 0, "the allowed NOP completes"),
              Is(R.read_res, EACCES, "the READ the restrictions leave out completes with -EACCES"),
              Is(R.child_register_ret, EPERM, "a task with restrictions cannot register others"))
INHERIT_DOC = ("The registering task creates the child after registering; the child's own ring starts "
               "restricted (copy_process() -> io_uring_fork() copied the task's set, io_uring_create() copies it "
               "into the ring).")

WORKER_NAME_DOC = ("The kernel names workers after the submitter's tid in the initial pid namespace (task->pid). "
                   "It is checked exactly where that number is visible: in the initial pid namespace, or through "
                   "NSpid when /proc belongs to the initial one. In a nested pid namespace with its own /proc (a "
                   "container) it is not: there the name's shape is checked and that a listed thread of the "
                   "submitter (Tgid the submitter, another tid) bears it, and the message says so.")

CASES: tuple[IoUringCase, ...] = (
    # ---- /proc/self and /proc/thread-self through a worker ----------------------------------------
    worker_case("proc-self-status-is-submitter", "worker_proc_self",
                W("/proc/self/status", read_len=STATUS), BothOpen(), StatusField("Tgid"), StatusField("Pid"),
                doc="/proc/self resolves to the thread group: the submitting process"),
    worker_case("thread-self-comm-is-worker", "worker_proc_self",
                W("/proc/thread-self/comm", read_len=64, list_threads=True), BothOpen(), NameIsWorker(),
                doc=f"iou-wrk-<the submitter's tid in the initial pid namespace>. {WORKER_NAME_DOC}"),
    worker_case("thread-self-status-is-worker", "worker_proc_self",
                W("/proc/thread-self/status", read_len=STATUS, list_threads=True), BothOpen(), StatusField("Tgid"),
                StatusField("Pid", equal_to_submitter=False), NameIsWorker(status=True), doc=WORKER_NAME_DOC),
    # ---- the workers in the task list --------------------------------------------------------------
    worker_case("task-list-names-workers", "native_workers", W("/proc/self/status", list_threads=True),
                BothOpen(), WorkerThreads("iou-wrk-"),
                doc=f"IOSQE_ASYNC forces a worker: iou-wrk-<submitter tid>. {WORKER_NAME_DOC}"),
    worker_case("task-flags-io-worker", "native_workers", W("/proc/self/status", list_threads=True),
                WorkerFlags(PF_IO_WORKER), doc="PF_IO_WORKER 0x10 set, PF_KTHREAD 0x200000 never"),
    worker_case("task-flags-user-worker", "user_worker", W("/proc/self/status", list_threads=True),
                WorkerFlags(PF_IO_WORKER | PF_USER_WORKER), old=USER_WORKER),
    worker_case("task-status-kthread-0", "user_worker", W("/proc/self/status", list_threads=True),
                KthreadField(0), old=KTHREAD_LINE),
    # ---- the submitter's context --------------------------------------------------------------------
    worker_case("dev-tty-is-ctty", "worker_context", W("/dev/tty", flags=TTY_FLAGS, setup=Setup.CTTY),
                BothOpen(), IsControllingTty(),
                doc="a pty slave is made the child's controlling tty; /dev/tty through the worker must be that "
                    "pty (TIOCGDEV) and belong to the child's session (TIOCGSID)"),
    worker_case("dev-tty-without-ctty", "worker_context", W("/dev/tty", flags=TTY_FLAGS, setup=Setup.SETSID),
                BothFail(errno.ENXIO), doc="a new session without a tty: ENXIO both ways"),
    worker_case("netns-proc-self-ns-net", "worker_context", W("/proc/self/ns/net", setup=Setup.NEWNET),
                BothOpen(), InNewNetns(), needs=(PRIVILEGED, Cap(CAP_NET_ADMIN)), doc=STALE_NETNS_DOC),
    worker_case("netns-proc-net-dev", "worker_context", W("/proc/net/dev", read_len=STATUS, setup=Setup.NEWNET),
                BothOpen(), InNewNetns(net_dev=True), SameContent(), needs=(PRIVILEGED, Cap(CAP_NET_ADMIN))),
    worker_case("chroot-absolute-path", "worker_context", W("/etc/hostname", read_len=64, setup=Setup.CHROOT,
                prep=Prep.CHROOT), BothOpen(), SameInode(), ReadsMarker(), needs=(Cap(CAP_SYS_CHROOT),),
                doc="the worker shares the process's fs_struct: an absolute path starts at the new root"),
    worker_case("fsuid-create-owner", "worker_context", W("made-by-ring", op=Op.OPENAT, flags=CREATE_FLAGS,
                mode=0o644, setup=Setup.FSID, prep=Prep.CREATE, path_direct="made-directly"), BothOpen(),
                CreatedBy(ring_fsid=True), needs=(Cap(CAP_SETUID), SETS_FSID),
                doc="IORING_OP_OPENAT with O_CREAT (always punted to io-wq) after setfsuid/setfsgid(65534)"),
    worker_case("fsuid-after-ring-creation", "worker_context", W("made-by-ring", op=Op.OPENAT,
                flags=CREATE_FLAGS, mode=0o644, setup=Setup.FSID | Setup.RING_FIRST, prep=Prep.CREATE,
                path_direct="made-directly"), BothOpen(), CreatedBy(ring_fsid=True), needs=(Cap(CAP_SETUID), SETS_FSID),
                doc="ring and worker exist before setfsuid: the request carries the creds of its submission "
                    "(io_prep_async_work), not the worker's"),
    # ---- SQPOLL -------------------------------------------------------------------------------------
    worker_case("sqpoll-thread-listed", "sqpoll", W("/proc/self/status", via=Via.SQPOLL, list_threads=True),
                BothOpen(), WorkerThreads("iou-sqp-"), WorkerFlags(PF_IO_WORKER),
                doc=f"iou-sqp-<the submitter's pid in the initial pid namespace>. {WORKER_NAME_DOC}"),
    worker_case("sqpoll-proc-self-is-submitter", "sqpoll", W("/proc/self/status", via=Via.SQPOLL,
                read_len=STATUS), BothOpen(), StatusField("Tgid"), StatusField("Pid")),
    worker_case("sqpoll-creds-from-ring-creation", "sqpoll", W("made-by-ring", via=Via.SQPOLL, op=Op.OPENAT,
                flags=CREATE_FLAGS, mode=0o644, setup=Setup.FSID | Setup.RING_FIRST, prep=Prep.CREATE,
                path_direct="made-directly"), BothOpen(), CreatedBy(ring_fsid=False),
                needs=(Cap(CAP_SETUID), SETS_FSID),
                doc="io_uring/sqpoll.c: the SQ thread submits with ctx->sq_creds, captured at io_uring_setup "
                    "(here root), not the submitter's later fsuid 65534"),
    # ---- signals ------------------------------------------------------------------------------------
    signal_case("sigusr1-to-worker", WorkerKind.SIGNAL, Via.ASYNC, NoHandlerOnTarget(), StaysPendingBlocked(),
                ControlHandlerRuns(),
                doc="tgkill(worker, SIGUSR1) with a handler installed: the worker blocks it, the handler (which "
                    "records gettid()) never runs; the same signal to the submitter runs it there"),
    signal_case("sigusr1-to-sqpoll-thread", WorkerKind.SIGNAL, Via.SQPOLL, NoHandlerOnTarget(),
                StaysPendingBlocked(), ControlHandlerRuns()),
    signal_case("sigkill-ends-workers", WorkerKind.SIGKILL, Via.ASYNC, KilledWithWorkers(),
                doc="a child with an io-wq worker is SIGKILLed: it is reaped (all threads gone) and its "
                    "/proc/<pid>/task disappears"),
    signal_case("sigkill-ends-sqpoll", WorkerKind.SIGKILL, Via.SQPOLL, KilledWithWorkers()),
    # ---- kernel.io_uring_disabled -------------------------------------------------------------------
    disabled_case("disabled-2-eperm", 2, errno.EPERM,
                  doc="written, probed and restored inside one C call; the case holds the global lock "
                      "exclusively so no other io_uring case runs meanwhile"),
    disabled_case("disabled-1-root-allowed", 1, 0, doc="1 keeps io_uring for CAP_SYS_ADMIN"),
    disabled_case("disabled-1-unprivileged-eperm", 1, errno.EPERM, drop_privileges=True,
                  doc="1: a child as uid 65534 (not in kernel.io_uring_group) gets EPERM"),
    # ---- task restrictions across process creation ---------------------------------------------------
    restrict_row("task-restrict-self", Restrict(How.SELF), *REGISTERED, *RESTRICTED,
                 doc="the registering task's own new ring; liburing test/task-restrict.c checks the fork case "
                 "only"),
    *(restrict_row(f"task-restrict-{how.name.lower()}-inherits", Restrict(how), *REGISTERED, *RESTRICTED,
                   Is(R.nnp_child, 1, "no_new_privs came along"), doc=INHERIT_DOC)
      for how in (How.FORK, How.VFORK, How.CLONE, How.CLONE3, How.THREAD, How.GRANDCHILD)),
    restrict_row("task-restrict-iowq", Restrict(How.FORK, Ring.IOWQ), *REGISTERED, *RESTRICTED,
                 needs=(Feature("io_uring.native_workers"),),
                 doc="IOSQE_ASYNC (an allowed flag): the NOP runs in an io-wq worker and completes; the READ is "
                 "refused at submission and never reaches io-wq."),
    restrict_row("task-restrict-sqpoll", Restrict(How.FORK, Ring.SQPOLL), *REGISTERED, *RESTRICTED,
                 needs=(Feature("io_uring.sqpoll"),),
                 doc="a SQPOLL ring of a restricted child: the SQPOLL thread submits the NOP and refuses the READ "
                 "with -EACCES like io_uring_enter would."),
    restrict_row("task-restrict-control", Restrict(How.FORK, do_register=False),
                 Is(R.register_ret, NOT_CALLED, "nothing registered"), Is(R.setup_ret, 0, "io_uring_setup"),
                 Is(R.nop_res, 0, "the NOP completes"), Is(R.read_res, READ_LEN, "the READ of /dev/zero reads 8"),
                 Is(R.child_register_ret, 0, "the child may register its own"),
                 doc="control for the rows above: without a registration the same READ works."),
    restrict_row("task-restrict-needs-nnp", Restrict(How.SELF, nnp=False, drop=True),
                 Is(R.register_ret, EACCES, "no no_new_privs and no CAP_SYS_ADMIN"),
                 Is(R.register2_ret, EACCES, "still refused"), Is(R.setup_ret, 0, "io_uring_setup"),
                 Is(R.read_res, READ_LEN, "nothing was restricted"),
                 Is(R.child_register_ret, EACCES, "refused again"), needs=(DROPS_PRIVILEGES,),
                 doc="like seccomp: uid 65534 without capabilities and without no_new_privs."),
    restrict_row("task-restrict-bad-flags", Restrict(How.SELF, bad_flags=True),
                 Is(R.register_ret, EINVAL, "flags 1"), Is(R.register2_ret, 0, "nothing was kept: a valid one works"),
                 Is(R.read_res, EACCES, "the valid registration restricts"),
                 doc="struct io_uring_task_restriction.flags must be 0 in 7.3."),
)

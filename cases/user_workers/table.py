"""user_workers rows: each behaviour once, with its worker kinds (the variant axis)."""

from __future__ import annotations

import errno
import signal
from collections.abc import Callable
from dataclasses import replace

from conformance.host import uapi
from conformance.host.uapi import CLONE_NEWNS, CLONE_NEWUSER, PTRACE_ATTACH, PTRACE_SEIZE
from conformance.isolation.globallock import Lock
from conformance.suite.case import Check, ClockWait, OldModel
from conformance.suite.checks import AllResults, AtLeast, Between, Is, OneOf, SameAs
from conformance.suite.requirements import PRIVILEGED, Cgroup2Writable, CoreDumpsToCwd, Feature, Requirement

from .model import (
    IDLE_BOUND_MS,
    PRIVATE_IDS,
    SLEEP_ON_PATH,
    Behaviour,
    F,
    Kind,
    Obs,
    PidsController,
    Scenario,
    UringForAnyUser,
    Variant,
    WorkerCase,
    expect,
    rows,
)
from .wire import SetupStep, WorkerAction

A = WorkerAction
KTHREAD_CHANGE = ("6.4", "f9010dbdce91", "the vhost worker is a kernel thread vhost-<pid> outside the owner")

ERESTARTSYS = -uapi.ERESTARTSYS  # kernel-internal (include/linux/errno.h)
RESTART_CHANGE = ("7.3.2", "", "an io-wq request interrupted by a cancel, the freezer or a stop completed with "
                  "-ERESTARTSYS (-512) in its CQE (before the stable 'io_uring: don't pass restart error codes to "
                  "userspace')")
SETSIGMASK_CHANGE = ("7.3", "", "PTRACE_SETSIGMASK replaced the blocked mask of a user worker (7.2.13, 6.18.44; "
                     "6.12.118 has the backport)")
KIND_NEEDS: dict[Kind, tuple[Requirement, ...]] = {
    Kind.IOWQ: (Feature("io_uring.native_workers"),),
    Kind.SQPOLL: (Feature("io_uring.sqpoll"),),
    Kind.VHOST: (Feature("vhost.device"),),
    Kind.VHOST_KTHREAD: (Feature("vhost.fork_owner_control"),),
}


def old_kthread(*checks: Check[Obs]) -> OldModel[Obs]:
    """The pre-6.4 model: one vhost kernel thread (the same as the kthread mode selected on 6.17+)."""
    changed_in, commit, summary = KTHREAD_CHANGE
    return OldModel(changed_in, commit, summary, expect(*checks))


def B(name: str, scenario: Scenario, variants: dict[Kind, Variant], *, doc: str = "",
      needs: tuple[Requirement, ...] = (), lock: Lock = Lock.SHARED, waits: ClockWait | None = None
      ) -> tuple[WorkerCase, ...]:
    """One behaviour, its kinds expanded into rows user_workers.<name>.<kind>."""
    if scenario.private_uid:
        needs = (*needs, *PRIVATE_IDS)  # a namespaced root may not map the private uid
    return rows(Behaviour(name, scenario, variants, needs=needs, doc=doc, kind_needs=KIND_NEEDS, lock=lock,
                          waits=waits))


def V(*checks: Check[Obs], old: OldModel[Obs] | None = None, needs: tuple[Requirement, ...] = (),
      scenario: Callable[[Scenario], Scenario] | None = None, doc: str = "", waits: ClockWait | None = None
      ) -> Variant:
    return Variant(expect(*checks), old, needs, scenario, doc, waits)


HAS_WORKER = AtLeast(F.workers, 1, "a worker of the kind exists")
KTHREAD = Is(F.kthread, 1, "the worker is a kernel thread outside the owner")
ECANCELED, EAGAIN, ENOMEM, EINVAL, EPERM, EBUSY = (-errno.ECANCELED, -errno.EAGAIN, -errno.ENOMEM, -errno.EINVAL,
                                                  -errno.EPERM, -errno.EBUSY)

# The harness waits up to 1.5 s for want_workers; a row that expects fewer (a limit holds) waits all of it,
# the time a wrong kernel has to show a worker too many.  io-wq would start that worker the way it started
# the allowed ones (a worker that blocks with work queued creates the next), so the bound could be a
# multiple of the time those took; it is kept at 1.5 s until that time is measured under TCG, and the rows
# wait in the background, beside the other cases.
SETTLE_WAIT = ClockWait(1.5, "fewer workers than requests are expected: the harness watches the whole 1.5 s for "
                        "one more")

# A vhost kernel thread neither freezes nor leaves with an exec (the device stays open): the harness watches
# its whole bound (TIMEOUT_MS) for a frozen group or a gone worker that must not come.
KTHREAD_STAYS = ClockWait(4.0, "the harness watches its 4 s bound for what the kernel thread does not do")
# The same wait on a kernel of the earlier model only (vhost workers were kernel threads before 6.4): the row
# ends at once where the worker is a thread of the owner, and watches the whole bound where it is not.
OLD_KTHREAD_STAYS = ClockWait(4.0, f"before {KTHREAD_CHANGE[0]} ({KTHREAD_CHANGE[1]}) the worker is a kernel thread: "
                                   "the harness watches its 4 s bound for what that thread does not do")

# A signal aimed at a worker: the harness watches a bound for what a wrong kernel would show, and the row
# waits it out beside the other cases.  The bounds against what the kernels showed under TCG (7.3.4 and
# 7.2.13, one vCPU, each kind's own row): an owner killed through its worker is reaped 2-3 ms after tgkill;
# a group stopped through a worker is stopped 0-9 ms after it; a signal that a handler catches has run it
# at once where it reaches the owner, which waits on its command pipe (interrupted by any caught signal).
KILL_BOUND = ClockWait(0.5, "SIGKILL to the vhost kernel thread: the harness watches 500 ms (over 100 times the "
                            "2-3 ms an owner killed through its worker takes to die under TCG) for an owner "
                            "that must not die")
STOP_BOUND = ClockWait(0.3, "SIGSTOP to the vhost kernel thread: the harness watches 300 ms (over 30 times the "
                            "0-9 ms a group stopped through its worker takes under TCG) for an owner that must "
                            "not stop")
USR1_BOUND = ClockWait(0.1, "SIGUSR1 to a worker: the harness watches 100 ms for a handler that must not run "
                            "(the owner waits on its command pipe, so a signal that reaches it runs the handler "
                            "at once) before it reads what is pending where")

CASES: tuple[WorkerCase, ...] = (
    # ---------------------------------------------------------------- accounting
    *B("nproc_exhausted", Scenario(private_uid=True, nproc=0, nnop=2, want=0), {
        Kind.IOWQ: V(Is(F.nworkers, 0, "no io-wq worker"),
                     AllResults(F.nop_results, (ECANCELED,), 2, "async requests without a worker are cancelled"),
                     needs=(UringForAnyUser(),)),
        Kind.SQPOLL: V(Is(F.setup_step, SetupStep.RING, "io_uring_setup fails"),
                       Is(F.setup_ret, EAGAIN, "no SQPOLL thread at RLIMIT_NPROC"), needs=(UringForAnyUser(),)),
        Kind.VHOST: V(Is(F.action_ret, ENOMEM, "VHOST_NEW_WORKER at RLIMIT_NPROC"),
                      Is(F.after_nworkers, 1, "only the SET_OWNER worker"),
                      needs=(Feature("vhost.new_worker"),),
                      scenario=(lambda sc: replace(sc, nproc=-1, scsi=True, action=A.NEW_WORKER, arg=0, want=1))),
    }, needs=PRIVATE_IDS, doc="The owner takes a private uid (root's RLIMIT_NPROC is not enforced, and no other "
       "process may share the count), then RLIMIT_NPROC 0; vhost lowers it after VHOST_SET_OWNER."),
    *B("nproc_count", Scenario(private_uid=True, nproc=3, nblock=5, nnop=0, want=5), {
        Kind.IOWQ: V(Is(F.nworkers, 2, "owner + workers = RLIMIT_NPROC 3"),
                     AllResults(F.completed, (1,), 5, "all five splices complete once unblocked")),
    }, needs=(*PRIVATE_IDS, UringForAnyUser()), waits=SETTLE_WAIT,
       doc="Five splices block on empty pipes (unbounded io-wq work) under RLIMIT_NPROC 3."),
    *B("max_workers_unbounded", Scenario(maxw=(0, 2), maxw_query=True, nblock=4, nnop=0, want=4), {
        Kind.IOWQ: V(Is(F.maxw_ret, 0, "the register call"), AtLeast(F.maxw_old_bound, 1, "bounded limit reported"),
                     AtLeast(F.maxw_old_unbound, 1, "unbounded limit (RLIMIT_NPROC) reported"),
                     Is(F.maxw_now_unbound, 2, "new unbounded limit"),
                     SameAs(F.maxw_now_bound, F.maxw_old_bound, "a 0 leaves the bounded limit"),
                     Is(F.nworkers, 2, "two unbounded workers for four blocked splices"),
                     AllResults(F.completed, (1,), 4, "queued splices complete once unblocked")),
    }, waits=SETTLE_WAIT),
    *B("max_workers_bounded", Scenario(maxw=(1, 0), maxw_query=True, nnop=4, want=0), {
        Kind.IOWQ: V(Is(F.maxw_ret, 0, "the register call"), Is(F.maxw_now_bound, 1, "new bounded limit"),
                     SameAs(F.maxw_now_unbound, F.maxw_old_unbound, "a 0 leaves the unbounded limit"),
                     Between(F.nworkers, 0, 1, "at most one bounded worker"),
                     AllResults(F.nop_results, (0,), 4, "async NOPs complete")),
    }),
    *B("pids_max", Scenario(cgroups=1, pids_max=1, nnop=2, want=0), {
        Kind.IOWQ: V(Is(F.nworkers, 0, "no io-wq worker"),
                     AllResults(F.nop_results, (ECANCELED,), 2, "async requests without a worker are cancelled"),
                     AtLeast(F.pids_max_events, 1, "pids.events max")),
        Kind.SQPOLL: V(Is(F.setup_ret, EAGAIN, "io_uring_setup at pids.max"),
                       AtLeast(F.pids_max_events, 1, "pids.events max")),
        Kind.VHOST: V(Is(F.setup_step, SetupStep.SET_OWNER, "VHOST_SET_OWNER fails"),
                      Is(F.setup_ret, ENOMEM, "no vhost task at pids.max"),
                      old=old_kthread(Is(F.setup_ret, 0, "a kernel thread is not charged at fork"), KTHREAD)),
        Kind.VHOST_KTHREAD: V(Is(F.setup_ret, 0, "a kernel thread is not charged at fork"), KTHREAD),
    }, needs=(PidsController(),), lock=Lock.EXCLUSIVE,
       doc="The owner joins a fresh cgroup with pids.max 1 (itself). At a hierarchy root without +pids in "
       "cgroup.subtree_control (a test VM) the case enables it and takes it back afterwards."),
    # ---------------------------------------------------------------- cgroups
    *B("cgroup_threads", Scenario(cgroups=1), {
        k: V(HAS_WORKER, SameAs(F.in_cgroup, F.workers, "workers in the owner's cgroup.threads"),
             old=old_kthread(KTHREAD, Is(F.in_cgroup, 1, "the kernel thread is attached to the owner's cgroup"))
             if k is Kind.VHOST else None)
        for k in Kind
    }, needs=(Cgroup2Writable(),)),
    *B("cgroup_move", Scenario(cgroups=2, action=A.MOVE), {
        **{k: V(HAS_WORKER, Is(F.action_ret, 0, "cgroup.procs write"),
                SameAs(F.in_dst, F.workers, "workers moved with the owner"),
                Is(F.after_in_cgroup, 0, "no worker left behind"),
                old=old_kthread(KTHREAD, Is(F.in_dst, 0, "the kernel thread stays"),
                                Is(F.after_in_cgroup, 1, "the kernel thread stays"))
                if k is Kind.VHOST else None)
           for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.in_dst, 0, "the kernel thread stays"),
                              Is(F.after_in_cgroup, 1, "the kernel thread stays")),
    }, needs=(Cgroup2Writable(),)),
    *B("freeze", Scenario(cgroups=1, action=A.FREEZE), {
        **{k: V(HAS_WORKER, Is(F.frozen, 1, "cgroup.events frozen 1"), Is(F.thawed, 1, "frozen 0 after the thaw"),
                Is(F.post_ret, 0, "a request after the thaw completes"),
                old=old_kthread(KTHREAD, Is(F.frozen, 0, "a PF_NOFREEZE kernel thread keeps the group unfrozen"),
                                Is(F.post_ret, 0, "a request after the thaw completes"))
                if k is Kind.VHOST else None, waits=OLD_KTHREAD_STAYS if k is Kind.VHOST else None)
           for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.frozen, 0, "a PF_NOFREEZE kernel thread keeps the group unfrozen"),
                              Is(F.post_ret, 0, "a request after the thaw completes"), waits=KTHREAD_STAYS),
    }, needs=(Cgroup2Writable(),)),
    *B("freeze_blocked", Scenario(cgroups=1, action=A.FREEZE, nblock=1, nnop=0), {
        Kind.IOWQ: V(HAS_WORKER, Is(F.frozen, 1, "cgroup.events frozen 1"),
                     AtLeast(F.ncomplete, 1, "the blocked splice completes after the thaw"),
                     doc="Only that a completion arrives (no hang); its value is user_workers.interrupted_result."),
    }, needs=(Cgroup2Writable(),)),
    *B("interrupted_result", Scenario(cgroups=1, action=A.FREEZE, nblock=1, nnop=0), {
        Kind.IOWQ: V(HAS_WORKER, Is(F.frozen, 1, "cgroup.events frozen 1"),
                     AllResults(F.completed, (1, -errno.EINTR), 1, "an interrupted splice gives -EINTR or its result"),
                     old=OldModel(*RESTART_CHANGE, expect(
                         HAS_WORKER, Is(F.frozen, 1, "cgroup.events frozen 1"),
                         AllResults(F.completed, (ERESTARTSYS,), 1,
                                    "the interrupted splice completed with -ERESTARTSYS"))),
                     doc="6.1, 6.12.118 and 7.3.4 complete it with -EINTR; 6.18.15, 6.18.44 and 7.2.13 put -512 "
                     "(-ERESTARTSYS, which include/linux/errno.h says user programs never see) into the CQE, also "
                     "after a group stop or a ptrace stop of the worker, until 7.3.2's stable 'io_uring: don't pass "
                     "restart error codes to userspace' (io_issue_sqe() maps the restart codes; 6.12.118 has it as a "
                     "backport): the old model, as for exec_cancels."),
    }, needs=(Cgroup2Writable(),)),
    *B("owner_stop", Scenario(action=A.STOP), {
        **{k: V(HAS_WORKER, Is(F.owner_stopped, 1, "owner stopped"), Is(F.all_stopped, 1, "every worker stopped"),
                Is(F.post_ret, 0, "a request after SIGCONT completes"),
                old=old_kthread(KTHREAD, Is(F.owner_stopped, 1, "owner stopped"),
                                Is(F.target_stopped, 0, "the kernel thread runs on"))
                if k is Kind.VHOST else None)
           for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.owner_stopped, 1, "owner stopped"),
                              Is(F.target_stopped, 0, "the kernel thread runs on")),
    }),
    # ---------------------------------------------------------------- exec, exit, core dump, unshare
    *B("exec", Scenario(action=A.EXEC, exec_sleep=True), {
        **{k: V(HAS_WORKER, Is(F.action_ret, 0, "exec succeeds"), Is(F.after_nthreads, 1, "single-threaded after"),
                Is(F.after_kthread, 0, "no kernel thread"),
                old=old_kthread(KTHREAD, Is(F.action_ret, 0, "exec succeeds"),
                                Is(F.after_nthreads, 1, "single-threaded after"))
                if k is Kind.VHOST else None, waits=OLD_KTHREAD_STAYS if k is Kind.VHOST else None)
           for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.action_ret, 0, "exec succeeds"),
                              Is(F.after_nthreads, 1, "single-threaded after"), waits=KTHREAD_STAYS),
    }, needs=(SLEEP_ON_PATH,), doc="The owner execs sleep(1); the vhost device is not close-on-exec."),
    *B("exec_cancels", Scenario(action=A.EXEC, exec_sleep=True, exec_cqes=True, nblock=2, nnop=0), {
        k: V(HAS_WORKER, AtLeast(F.ring_copy_ret, 0, "the harness holds a copy of the owner's ring (pidfd_getfd)"),
             Is(F.action_ret, 0, "exec succeeds"), Is(F.after_nthreads, 1, "single-threaded after"),
             AllResults(F.completed, (ECANCELED, -errno.EINTR), 2,
                        "both blocked splices completed, cancelled, once the owner exec'd"),
             old=OldModel(*RESTART_CHANGE, expect(
                 HAS_WORKER, Is(F.action_ret, 0, "exec succeeds"), Is(F.after_nthreads, 1, "single-threaded after"),
                 AllResults(F.completed, (ERESTARTSYS, ECANCELED), 2,
                            "the cancelled splices completed with -ERESTARTSYS (one not yet running: -ECANCELED)"))))
        for k in (Kind.IOWQ, Kind.SQPOLL)
    }, needs=(SLEEP_ON_PATH, Feature("pidfd.getfd")),
       doc="Two splices block in io-wq (IOSQE_ASYNC; for sqpoll submitted by the SQPOLL thread); the harness takes a "
       "copy of the ring with pidfd_getfd, the owner execs sleep(1), and the harness reads the CQEs from the "
       "ring's fdinfo: exec cancels the owner's requests (io_uring_task_cancel()), which complete with -ECANCELED "
       "(or -EINTR when the worker was interrupted in the splice) and never -ERESTARTSYS. 7.3.2's stable 'exec: "
       "cancel io_uring requests before de_thread()' moved that cancel before de_thread(), so task work it runs "
       "can no longer create an io-wq worker after the other threads were zapped; the CQEs user space sees are "
       "the same. 7.2.13 and the host's 6.18.44 complete both with -512 (-ERESTARTSYS, a kernel-internal code): "
       "the old model (a splice the worker had not started yet is -ECANCELED there too: seen once in three host "
       "runs for sqpoll), until 7.3.2's stable 'io_uring: don't pass restart error codes to userspace' (io_issue_sqe() "
       "maps the restart codes); 7.3.4 gives -EINTR."),
    *B("exit_in_flight", Scenario(action=A.EXIT, nblock=2, nnop=0), {
        k: V(HAS_WORKER, Is(F.owner_ended, 1, "the owner is reaped in time"), Is(F.exit_code, 0, "exit status"),
             Is(F.leaked, 0, "no task named after the owner remains"))
        for k in Kind
    }),
    *B("core_dump", Scenario(action=A.CORE, core=True, nblock=2, nnop=0), {
        **{k: V(HAS_WORKER, Is(F.core_dumped, 1, "WCOREDUMP"), Is(F.term_signal, signal.SIGSEGV, "signal"),
                AtLeast(F.core_size, 1, "a core file"),
                SameAs(F.core_prstatus, F.nthreads, "one NT_PRSTATUS per thread, io threads included"),
                scenario=(lambda sc: replace(sc, nblock=0, nnop=1)) if k is Kind.SQPOLL else None)
           for k in (Kind.IOWQ, Kind.SQPOLL)},
        Kind.VHOST: V(HAS_WORKER, Is(F.core_dumped, 1, "WCOREDUMP"), Is(F.term_signal, signal.SIGSEGV, "signal"),
                      AtLeast(F.core_size, 1, "a core file"),
                      Between(F.core_prstatus, 1, 2, "the owner, and the vhost task only if it raced in"),
                      doc="zap_process() does not wait for a vhost task (it takes no part in the dump), yet since "
                      "6.10 the task exits on the SIGKILL and may join the dumper list first: 6.12 showed 2 notes."),
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.core_dumped, 1, "WCOREDUMP"),
                              Is(F.term_signal, signal.SIGSEGV, "signal"), AtLeast(F.core_size, 1, "a core file"),
                              Is(F.core_prstatus, 1, "only the owner: the kernel thread is not in the process")),
    }, needs=(CoreDumpsToCwd(),), doc="RLIMIT_CORE up to 64 MiB and coredump_filter 0 in the owner, a private cwd; "
       "the dump is parsed and removed."),
    *B("unshare_newuser", Scenario(action=A.UNSHARE, arg=CLONE_NEWUSER), {
        **{k: V(HAS_WORKER, Is(F.action_ret, EINVAL, "unshare(CLONE_NEWUSER) in a multi-threaded process"),
                old=old_kthread(KTHREAD, Is(F.action_ret, 0, "the owner is single-threaded"))
                if k is Kind.VHOST else None)
           for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.action_ret, 0, "the owner is single-threaded"),
                              needs=(Feature("userns"),)),
    }),
    *B("unshare_newns", Scenario(action=A.UNSHARE, arg=CLONE_NEWNS), {
        k: V(HAS_WORKER, Is(F.action_ret, 0, "unshare(CLONE_NEWNS)"),
             Is(F.mntns_differs, 1, "the worker keeps the old mount namespace"),
             Is(F.post_ret, 0, "a request afterwards completes"))
        for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)
    }, needs=(PRIVILEGED,)),
    # ---------------------------------------------------------------- signals and tracing aimed at a worker
    *B("sigkill_worker", Scenario(action=A.TGKILL, arg=signal.SIGKILL), {
        **{k: V(HAS_WORKER, Is(F.action_ret, 0, "tgkill"), Is(F.owner_ended, 1, "the process dies"),
                Is(F.term_signal, signal.SIGKILL, "killed by SIGKILL"),
                old=old_kthread(KTHREAD, Is(F.owner_ended, 0, "the kernel thread ignores it; the owner lives"))
                if k is Kind.VHOST else None)
           for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.owner_ended, 0, "the kernel thread ignores it; the owner lives"),
                              waits=KILL_BOUND),
    }),
    *B("sigstop_worker", Scenario(action=A.TGKILL, arg=signal.SIGSTOP), {
        **{k: V(HAS_WORKER, Is(F.action_ret, 0, "tgkill"), Is(F.owner_stopped, 1, "the owner stops"),
                Is(F.all_stopped, 1, "every worker stops"), Is(F.post_ret, 0, "a request after SIGCONT"),
                old=old_kthread(KTHREAD, Is(F.owner_stopped, 0, "nothing stops")) if k is Kind.VHOST else None)
           for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.owner_stopped, 0, "nothing stops"), waits=STOP_BOUND),
    }),
    *B("sigusr1_worker", Scenario(action=A.TGKILL, arg=signal.SIGUSR1), {
        **{k: V(HAS_WORKER, Is(F.action_ret, 0, "tgkill"), Is(F.usr1_pending, 1, "pending on the worker"),
                Is(F.handler_hits, 0, "no handler ran"), Is(F.post_ret, 0, "the owner still works"),
                old=old_kthread(KTHREAD, Is(F.usr1_pending, 0, "a kernel thread discards it"),
                                Is(F.handler_hits, 0, "no handler ran"))
                if k is Kind.VHOST else None)
           for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.usr1_pending, 0, "a kernel thread discards it"),
                              Is(F.handler_hits, 0, "no handler ran")),
    }, waits=USR1_BOUND),
    *(c for req, name in ((PTRACE_ATTACH, "ptrace_attach"), (PTRACE_SEIZE, "ptrace_seize")) for c in B(
        name, Scenario(action=A.PTRACE, arg=req), {
            **{k: V(HAS_WORKER, Is(F.action_ret, 0, "the worker can be traced"),
                    Is(F.target_stopped, 1, "it stops for the tracer"), Is(F.post_ret, 0, "works after detach"),
                    old=old_kthread(KTHREAD, Is(F.action_ret, EPERM, "kernel threads cannot be traced"))
                    if k is Kind.VHOST else None)
               for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
            Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.action_ret, EPERM, "kernel threads cannot be traced")),
        })),
    *B("ptrace_setsigmask", Scenario(action=A.PTRACE, arg=PTRACE_SEIZE, sigmask=True), {
        k: V(HAS_WORKER, Is(F.action_ret, 0, "PTRACE_SEIZE of the worker works"),
             Is(F.target_stopped, 1, "it stops for the tracer"), Is(F.getsigmask_ret, 0, "PTRACE_GETSIGMASK"),
             Is(F.setsigmask_ret, EPERM, "PTRACE_SETSIGMASK of a user worker is refused"),
             Is(F.sigmask_changed, 0, "its blocked mask is unchanged"), Is(F.post_ret, 0, "works after detach"),
             old=OldModel(*SETSIGMASK_CHANGE, expect(
                 HAS_WORKER, Is(F.action_ret, 0, "PTRACE_SEIZE of the worker works"),
                 Is(F.setsigmask_ret, 0, "PTRACE_SETSIGMASK went through"),
                 Is(F.sigmask_changed, 1, "the worker's blocked mask was replaced"))),
             needs=(Feature("vhost.task_mode"),) if k is Kind.VHOST else ())
        for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)
    }, doc="The worker is seized and interrupted; PTRACE_GETSIGMASK reads its blocked mask (all but SIGKILL and "
       "SIGSTOP), PTRACE_SETSIGMASK tries {SIGUSR2}. 7.3.4 refuses the set for PF_USER_WORKER tasks "
       "(kernel/ptrace.c: a user worker only ever takes SIGKILL and SIGSTOP), and so does Debian's 6.12.118 (a "
       "stable backport no changelog subject names); 7.2.13 and 6.18.44 replace the mask (the row puts the old one "
       "back before it detaches). The vhost kind needs vhost tasks (6.4): a vhost "
       "kernel thread cannot be traced at all."),
    *B("proc_fd", Scenario(action=A.PROCFS), {
        **{k: V(HAS_WORKER, SameAs(F.fd_count, F.owner_fd_count, "the worker shares the owner's files"),
                AtLeast(F.fd_count, 1, "files listed"))
           for k in (Kind.IOWQ, Kind.SQPOLL)},
        Kind.VHOST: V(HAS_WORKER, Is(F.fd_count, 0, "a vhost task has no files"),
                      old=old_kthread(KTHREAD, Is(F.fd_count, 0, "the kernel thread has no files"))),
        Kind.VHOST_KTHREAD: V(KTHREAD, Is(F.fd_count, 0, "the kernel thread has no files")),
    }),
    *B("proc_mem", Scenario(action=A.PROCFS), {
        **{k: V(HAS_WORKER, Is(F.mem_ret, 8, "bytes read"), Is(F.mem_match, 1, "the owner's marker"),
                old=old_kthread(KTHREAD, OneOf(F.mem_ret, (0, -errno.ESRCH), "no mm: nothing to read"))
                if k is Kind.VHOST else None)
           for k in (Kind.IOWQ, Kind.SQPOLL, Kind.VHOST)},
        Kind.VHOST_KTHREAD: V(KTHREAD, OneOf(F.mem_ret, (0, -errno.ESRCH), "no mm: nothing to read")),
    }),
    # ---------------------------------------------------------------- lifetime
    *B("lifetime_close", Scenario(action=A.CLOSE), {
        k: V(HAS_WORKER, AtLeast(F.action_ms, 0, "workers gone within the bound"),
             Is(F.after_nworkers, 0, "no worker left"), Is(F.after_kthread, 0, "no kernel thread left"),
             old=OldModel("7.0", "912146614894", "the last idle io-wq worker stays until the task exits",
                          expect(HAS_WORKER, Is(F.after_nworkers, 1, "the last idle worker stays")))
             if k is Kind.IOWQ else None,
             waits=ClockWait(4.0, "before 7.0 (912146614894) the last idle io-wq worker stays: the harness watches "
                                  "its 4 s bound for it to go") if k is Kind.IOWQ else None,
             doc="io-wq exits its idle workers once the task's last ring is gone since Li Chen's exit-on-idle "
             "series (38aa434ab933, 912146614894); before, the last worker lived until the task exited."
             if k is Kind.IOWQ else "")
        for k in Kind
    }),
    *B("lifetime_kill", Scenario(action=A.KILL), {
        k: V(HAS_WORKER, Is(F.owner_ended, 1, "the owner is reaped in time"), Is(F.leaked, 0, "nothing left"),
             Is(F.after_kthread, 0, "no kernel thread left"))
        for k in Kind
    }),
    *B("idle_timeout", Scenario(action=A.IDLE, arg=IDLE_BOUND_MS, nblock=3, nnop=0), {
        Kind.IOWQ: V(Is(F.nworkers, 3, "three workers"), Is(F.after_nworkers, 1, "the last worker stays"),
                     Between(F.action_ms, 4000, IDLE_BOUND_MS, "after the 5 s idle timeout")),
    }, waits=ClockWait(5.0, "io-wq's idle timeout (WORKER_IDLE_TIMEOUT, 5 s) must pass for the idle workers to "
                       "exit (the harness watches up to IDLE_BOUND_MS)")),
    *B("vring_worker", Scenario(vhost_new_workers=1, vhost_attach=True, scsi=True), {
        Kind.VHOST: V(Is(F.new_worker_ret, 0, "VHOST_NEW_WORKER"), Is(F.attach_ret, 0, "VHOST_ATTACH_VRING_WORKER"),
                      Is(F.get_vring_ret, 0, "VHOST_GET_VRING_WORKER"),
                      SameAs(F.get_vring_id, F.new_worker_id, "vring 0 is served by the new worker"),
                      Is(F.free_ret, EBUSY, "a bound worker cannot be freed"),
                      Is(F.nworkers, 2, "two vhost tasks")),
    }, needs=(Feature("vhost.new_worker"),)),
)

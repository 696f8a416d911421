"""The io_uring family's model: io-wq worker / SQPOLL identity cases, checks, references.

Every case runs in a fresh C child (conformance.native.uring's open scenario, the scenarios of .wire):
the child creates the ring, issues one open through a worker (IOSQE_ASYNC) or the SQPOLL thread and
the same open directly, and reports both, plus its task list.  A check names
the attribute that differed between the worker's view and the submitter's.

Model: cases/kernel-facts.md §3.  Since 5.12 (3bfe6106693b) workers are
threads of the submitting process created by create_io_thread(): they share
its signal_struct (controlling tty), files, fs (root, cwd) and mm; they carry
their own nsproxy and credentials copied at creation, and a request runs with
the credentials captured at submission (io_prep_async_work) -- or, for SQPOLL,
those captured at io_uring_setup (ctx->sq_creds).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import functools
import os
import re
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from conformance import native
from conformance.host import kernel, paths, privilege
from conformance.host.procfs import Task
from conformance.host.records import record
from conformance.host.uapi import PF_KTHREAD
from conformance.isolation import guardian, interrupt
from conformance.isolation.globallock import Lock
from conformance.isolation.globalstate import USES_IO_URING, Sysctl
from conformance.native import describe_status, errno_name
from conformance.native.uring import OpenRequest, OpenResult, run_open
from conformance.suite.case import AllOf, Case, Check, HarnessProblem, OldModel
from conformance.suite.checks import Field, Is, shown
from conformance.suite.requirements import DROPS_PRIVILEGES, INIT_PRIVILEGED, Feature, Requirement

from . import wire
from .wire import (
    NOT_CALLED,
    DisabledResult,
    How,
    Op,
    RestrictRequest,
    RestrictResult,
    Setup,
    Via,
    WorkerKind,
    WorkerResult,
)

IO_URING = Feature("io_uring")
NATIVE_WORKERS = Feature("io_uring.native_workers")
SQPOLL = Feature("io_uring.sqpoll")
DISABLED_SYSCTL = Feature("io_uring.disabled_sysctl")
DISABLED_PATH = "/proc/sys/kernel/io_uring_disabled"  # written only by disabled_case rows
BASE: tuple[Requirement, ...] = (IO_URING, NATIVE_WORKERS)


# --------------------------------------------------------------------------- the open scenario


class Prep(enum.Enum):
    """What the Python side prepares in a fresh directory."""

    NOTHING = "nothing"
    CHROOT = "chroot"  # <dir>/etc/hostname holds a unique marker; the child chroots into <dir>
    CREATE = "create"  # the opens create files in <dir>/open (mode 0777)


@record(frozen=True)
class WorkerOpen:
    """One open through a worker (or SQPOLL) and the same open done directly."""

    path: str
    via: Via = Via.ASYNC
    op: Op = Op.OPENAT2
    flags: int = os.O_RDONLY
    mode: int = 0
    setup: Setup = Setup.NONE
    read_len: int = 0
    list_threads: bool = False
    prep: Prep = Prep.NOTHING
    path_direct: str = ""


@record(frozen=True)
class Context:
    """What the submitter's side looks like, for the checks."""

    parent_netns: int  # inode of this (Python) process's /proc/self/ns/net
    parent_net_dev: int  # inode of this process's /proc/net/dev
    marker: str  # CHROOT: the content of /etc/hostname inside the new root
    fsuid: int
    fsgid: int


@record(frozen=True)
class Observation:
    result: OpenResult
    ctx: Context
    via: Via

    @property
    def submitter(self) -> int:
        return self.result.child_pid

    @property
    def who(self) -> str:
        return "the SQPOLL thread" if self.via is Via.SQPOLL else "the worker"

    def workers(self) -> list[Task]:
        return [t for t in self.result.tasks if t.comm.startswith("iou-")]


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A fresh private directory (searchable by the changed fsuid only) with open/ writable by anyone
    who can reach it; removed afterwards."""
    with contextlib.ExitStack() as stack:
        with interrupt.deferred():  # a signal never leaves half a tree behind
            root = paths.fixture_dir("kconform-iou-", kernel.fsgid_for_tests())
            stack.enter_context(guardian.scratch_tree(root))  # journaled; removed in the background
            (root / "open").mkdir()
            os.chmod(root / "open", 0o777)
        yield root


@contextlib.contextmanager
def prepare(spec: WorkerOpen) -> Iterator[tuple[OpenRequest, Context]]:
    marker = ""
    with scratch_dir() as root:
        setup_path, dir_ = "", ""
        path, path_direct = spec.path, spec.path_direct
        if spec.prep is Prep.CHROOT:
            marker = f"kconform-chroot-{uuid.uuid4().hex[:12]}"
            (root / "etc").mkdir()
            (root / "etc" / "hostname").write_text(marker)
            setup_path = str(root)
        elif spec.prep is Prep.CREATE:
            dir_ = str(root / "open")
        req = OpenRequest(
            path=path, via=spec.via, op=spec.op, flags=spec.flags, mode=spec.mode, setup=spec.setup,
            compare=True, dir=dir_, path_direct=path_direct, setup_path=setup_path, read_len=spec.read_len,
            list_threads=spec.list_threads, fsuid=kernel.fsuid_for_tests(), fsgid=kernel.fsgid_for_tests(),
        )
        ctx = Context(
            parent_netns=os.stat("/proc/self/ns/net").st_ino,
            parent_net_dev=os.stat("/proc/net/dev").st_ino,
            marker=marker,
            fsuid=kernel.fsuid_for_tests(),
            fsgid=kernel.fsgid_for_tests(),
        )
        yield req, ctx


# --------------------------------------------------------------------------- checks (open scenario)


@record(frozen=True)
class BothOpen:
    def mismatch(self, obs: Observation) -> str | None:
        m, d = obs.result.measured, obs.result.direct
        if m.ok and d.ok:
            return None
        return f"open through {obs.who} gave {m.describe()}, direct open gave {d.describe()}"


@record(frozen=True)
class BothFail:
    err: int

    def mismatch(self, obs: Observation) -> str | None:
        m, d = obs.result.measured, obs.result.direct
        if m.err == self.err and d.err == self.err:
            return None
        return (f"expected {errno_name(self.err)} both ways: through {obs.who} {m.describe()}, "
                f"directly {d.describe()}")


@record(frozen=True)
class SameInode:
    def mismatch(self, obs: Observation) -> str | None:
        m, d = obs.result.measured, obs.result.direct
        if (m.dev, m.ino) == (d.dev, d.ino):
            return None
        return f"inode differs: through {obs.who} {m.dev:#x}:{m.ino}, directly {d.dev:#x}:{d.ino}"


@record(frozen=True)
class SameContent:
    def mismatch(self, obs: Observation) -> str | None:
        m, d = obs.result.measured, obs.result.direct
        if m.content == d.content:
            return None
        return f"content differs: through {obs.who} {m.text[:60]!r}, directly {d.text[:60]!r}"


@record(frozen=True)
class StatusField:
    """A "Key:" field of a /proc status file read through the worker."""

    key: str
    equal_to_submitter: bool = True

    def mismatch(self, obs: Observation) -> str | None:
        got = obs.result.measured.status_field(self.key)
        direct = obs.result.direct.status_field(self.key)
        if got is None:
            return f"{self.key}: missing in the status read through {obs.who}"
        same = got == str(obs.submitter)
        if same == self.equal_to_submitter:
            return None
        rel = "is not" if self.equal_to_submitter else "is"
        return (f"{self.key} through {obs.who} is {got}: it {rel} the submitter's ({obs.submitter}; "
                f"direct read {direct})")


@functools.cache
def proc_of_initial_pidns() -> bool | None:
    """Whether /proc belongs to the initial pid namespace (its pid 1's pid namespace has the fixed inode
    PROC_PID_INIT_INO); None when pid 1's namespace cannot be read."""
    try:
        return os.stat("/proc/1/ns/pid").st_ino == privilege.PROC_PID_INIT_INO
    except OSError:
        return None


def global_submitter(obs: Observation) -> tuple[int | None, str]:
    """The submitter's tid in the initial pid namespace, which the kernel puts in its workers' names
    (``iou-wrk-<tid>``, ``iou-sqp-<pid>``: task->pid), or None and why it cannot be seen from here."""
    r = obs.result
    if privilege.current().pidns_initial:
        return obs.submitter, ""
    if r.proc_levels >= 2 and proc_of_initial_pidns():
        return r.proc_pid, ""  # NSpid read through the initial pid namespace's /proc: its first entry
    return None, ("the submitter's tid in the initial pid namespace is not visible in this nested pid "
                  "namespace's /proc (NSpid shows only its own levels)")


WORKER_NAME_NOTE = ("iou-* names checked for their shape and for being threads of the submitter only: they carry "
                    "the submitter's tid in the initial pid namespace, not visible here")


def _listed_worker(obs: Observation, comm: str) -> str | None:
    """A listed thread named comm is a thread of the submitter other than the submitter itself."""
    if obs.result.nthreads < 0:
        return f"task list unreadable ({errno_name(-obs.result.nthreads)})"
    named = [t for t in obs.result.tasks if t.comm == comm]
    if not named:
        listing = ", ".join(t.describe() for t in obs.result.tasks)
        return f"no thread named {comm} in /proc/{obs.submitter}/task ({listing})"
    wrong = [t for t in named if t.tgid != obs.submitter or t.tid == obs.submitter]
    if wrong:
        return f"{comm}: Tgid {wrong[0].tgid}, tid {wrong[0].tid} (submitter {obs.submitter})"
    return None


@record(frozen=True)
class NameIsWorker:
    """comm (or the status Name:) read through the worker is iou-wrk-<submitter's tid in the initial pid
    namespace>; where that tid cannot be seen (a nested pid namespace with its own /proc): a name of that
    shape, borne by a listed thread of the submitter (the row lists the threads)."""

    status: bool = False

    def mismatch(self, obs: Observation) -> str | None:
        m = obs.result.measured
        got = m.status_field("Name") if self.status else m.text.strip()
        direct = obs.result.direct.status_field("Name") if self.status else obs.result.direct.text.strip()
        what = "Name:" if self.status else "comm"
        tid, why = global_submitter(obs)
        if tid is None:
            if got is None or not re.fullmatch(r"iou-wrk-[1-9][0-9]*", got):
                return f"{what} through {obs.who} is {got!r}, expected iou-wrk-<tid> (direct read {direct!r}; {why})"
            return _listed_worker(obs, got)
        want = f"iou-wrk-{tid}"
        if got == want:
            return None
        return f"{what} through {obs.who} is {got!r}, expected {want!r} (direct read {direct!r})"


@record(frozen=True)
class WorkerThreads:
    """The task list holds a thread named prefix<submitter's tid in the initial pid namespace> in the
    submitter's thread group; where that tid cannot be seen, a thread of the submitter named prefix<n>."""

    prefix: str

    def mismatch(self, obs: Observation) -> str | None:
        if obs.result.nthreads < 0:
            return f"task list unreadable ({errno_name(-obs.result.nthreads)})"
        tid, why = global_submitter(obs)
        if tid is None:
            shaped = [t for t in obs.result.tasks if re.fullmatch(re.escape(self.prefix) + "[1-9][0-9]*", t.comm)]
            if not shaped:
                listing = ", ".join(t.describe() for t in obs.result.tasks)
                return f"no thread named {self.prefix}<tid> in /proc/{obs.submitter}/task ({listing}; {why})"
            return _listed_worker(obs, shaped[0].comm)
        want = f"{self.prefix}{tid}"
        named = [t for t in obs.result.tasks if t.comm == want]
        if not named:
            listing = ", ".join(t.describe() for t in obs.result.tasks)
            return f"no thread named {want} in /proc/{obs.submitter}/task ({listing})"
        wrong = [t for t in named if t.tgid != obs.submitter or t.tid == obs.submitter]
        if wrong:
            return f"{want}: Tgid {wrong[0].tgid}, tid {wrong[0].tid} (submitter {obs.submitter})"
        return None


@record(frozen=True)
class WorkerFlags:
    """Every iou-* thread has the ``present`` flag bits and none of ``absent``."""

    present: int
    absent: int = PF_KTHREAD

    def mismatch(self, obs: Observation) -> str | None:
        ws = obs.workers()
        if not ws:
            return "no iou-* thread to inspect"
        for t in ws:
            if t.flags & self.present != self.present:
                return f"stat flags of {t.comm} are {t.flags:#x}: missing {self.present & ~t.flags:#x}"
            if t.flags & self.absent:
                return f"stat flags of {t.comm} are {t.flags:#x}: has {t.flags & self.absent:#x}"
        return None


@record(frozen=True)
class KthreadField:
    """The status "Kthread:" line of every iou-* thread (None: the line is absent)."""

    value: int | None

    def mismatch(self, obs: Observation) -> str | None:
        ws = obs.workers()
        if not ws:
            return "no iou-* thread to inspect"
        for t in ws:
            if t.kthread != self.value:
                got = "absent" if t.kthread is None else str(t.kthread)
                want = "absent" if self.value is None else str(self.value)
                return f"Kthread: of {t.comm} is {got}, expected {want}"
        return None


@record(frozen=True)
class IsControllingTty:
    """Both fds are the pty slave the child made its controlling tty (TIOCGDEV, TIOCGSID)."""

    def mismatch(self, obs: Observation) -> str | None:
        r = obs.result
        want = (os.major(r.pty_rdev), os.minor(r.pty_rdev))
        for name, o in ((f"through {obs.who}", r.measured), ("directly", r.direct)):
            if o.tty_dev_res < 0:
                return f"TIOCGDEV on /dev/tty opened {name} gave {errno_name(-o.tty_dev_res)}"
            got = (os.major(o.tty_dev), os.minor(o.tty_dev))
            if got != want:
                return f"tty device of /dev/tty opened {name} is {got[0]}:{got[1]}, the ctty is {want[0]}:{want[1]}"
            if o.tty_sid != r.sid:
                return f"tty session of /dev/tty opened {name} is {o.tty_sid}, the submitter's session is {r.sid}"
        return None


@record(frozen=True)
class InNewNetns:
    """The inode seen through the worker is the direct one and not this process's."""

    net_dev: bool = False  # compare /proc/net/dev instead of /proc/self/ns/net

    def mismatch(self, obs: Observation) -> str | None:
        m, d = obs.result.measured, obs.result.direct
        parent = obs.ctx.parent_net_dev if self.net_dev else obs.ctx.parent_netns
        what = "/proc/net/dev" if self.net_dev else "net namespace"
        if m.ino != d.ino:
            return f"{what} inode through {obs.who} is {m.ino}, the submitter's is {d.ino}"
        if m.ino == parent:
            return f"{what} inode through {obs.who} is the one before unshare(CLONE_NEWNET) ({parent})"
        return None


@record(frozen=True)
class ReadsMarker:
    def mismatch(self, obs: Observation) -> str | None:
        got = obs.result.measured.text
        if got == obs.ctx.marker:
            return None
        return f"/etc/hostname through {obs.who} reads {got[:40]!r}, the new root's holds {obs.ctx.marker!r}"


@record(frozen=True)
class CreatedBy:
    """Owner of the file created through the worker (ring) and directly."""

    ring_fsid: bool  # True: the ring's file has the submitter's fsuid/fsgid; False: uid/gid 0 (creator's)

    def mismatch(self, obs: Observation) -> str | None:
        m, d = obs.result.measured, obs.result.direct
        want_direct = (obs.ctx.fsuid, obs.ctx.fsgid)
        if (d.uid, d.gid) != want_direct:
            return f"direct create made {d.uid}:{d.gid}, the fsuid:fsgid is {want_direct[0]}:{want_direct[1]}"
        want = want_direct if self.ring_fsid else (0, 0)
        if (m.uid, m.gid) != want:
            return f"owner of the file created through {obs.who} is {m.uid}:{m.gid}, expected {want[0]}:{want[1]}"
        return None


# --------------------------------------------------------------------------- the cases


@record(frozen=True, kw_only=True)
class WorkerOpenCase(Case[Observation]):
    spec: WorkerOpen

    def observe(self) -> Observation:
        with prepare(self.spec) as (req, ctx):
            result = run_open(req)
        problem = result.problem()
        if problem is not None:
            raise HarnessProblem(problem)
        return Observation(result, ctx, self.spec.via)

    def describe(self, obs: Observation) -> str:
        text = (f"through {obs.who}: {obs.result.measured.describe()}; directly: {obs.result.direct.describe()}; "
                f"iou threads: {', '.join(t.describe() for t in obs.workers()) or 'not listed'}")
        names = isinstance(self.expect, AllOf) and any(isinstance(c, NameIsWorker | WorkerThreads)
                                                       for c in self.expect.checks)
        if names and global_submitter(obs)[0] is None:
            text += f" ({WORKER_NAME_NOTE})"
        return text


@record(frozen=True)
class SignalObservation:
    result: WorkerResult
    via: Via


@record(frozen=True)
class NoHandlerOnTarget:
    def mismatch(self, obs: SignalObservation) -> str | None:
        r = obs.result
        what = "SQ thread" if obs.via is Via.SQPOLL else "worker"
        if not r.target_tid:
            return f"no {what} thread found to signal"
        if r.signal_res < 0:
            return f"tgkill({what} {r.target_tid}, SIGUSR1) gave {errno_name(-r.signal_res)}"
        if r.hits_after_target:
            return f"the SIGUSR1 handler ran {r.hits_after_target} time(s) after signalling the {what}, " \
                   f"last in tid {r.handler_tid}"
        return None


@record(frozen=True)
class StaysPendingBlocked:
    def mismatch(self, obs: SignalObservation) -> str | None:
        r = obs.result
        bit = 1 << (signal.SIGUSR1 - 1)
        if not r.target_pending & bit:
            return f"SIGUSR1 not pending on {r.target_tid} (SigPnd {r.target_pending:#x})"
        if not r.target_blocked & bit:
            return f"SIGUSR1 not blocked on {r.target_tid} (SigBlk {r.target_blocked:#x})"
        return None


@record(frozen=True)
class ControlHandlerRuns:
    def mismatch(self, obs: SignalObservation) -> str | None:
        r = obs.result
        if r.hits_after_self != r.hits_after_target + 1 or r.self_handler_tid != r.child_pid:
            runs = r.hits_after_self - r.hits_after_target
            return (f"control failed: SIGUSR1 to the submitter ran the handler {runs} time(s), in tid "
                    f"{r.self_handler_tid} (submitter {r.child_pid})")
        return None


@record(frozen=True)
class KilledWithWorkers:
    def mismatch(self, obs: SignalObservation) -> str | None:
        r = obs.result
        workers = [t for t in r.tasks if t.comm.startswith("iou-")]
        if not workers:
            return f"no iou-* thread existed before the kill ({r.nthreads} threads)"
        if r.reap_ms < 0:
            return "the process was not reaped within 5 s of SIGKILL"
        if r.wait_status & 0x7F != signal.SIGKILL:
            return f"the process ended {describe_status(r.wait_status)}, not by SIGKILL"
        if r.task_dir_after != -errno.ENOENT:
            state = errno_name(-r.task_dir_after) if r.task_dir_after else "exists"
            return f"/proc/{r.child_pid}/task after the reap: {state}"
        return None


@record(frozen=True, kw_only=True)
class SignalCase(Case[SignalObservation]):
    kind: WorkerKind
    via: Via = Via.ASYNC

    def observe(self) -> SignalObservation:
        result = wire.worker_scenario(self.kind, self.via)
        problem = result.problem()
        if problem is not None:
            raise HarnessProblem(problem)
        return SignalObservation(result, self.via)

    def describe(self, obs: SignalObservation) -> str:
        r = obs.result
        if self.kind is WorkerKind.SIGKILL:
            return (f"{r.nthreads} threads ({', '.join(t.comm for t in r.tasks)}); "
                    f"{describe_status(r.wait_status)}, reaped after {r.reap_ms} ms")
        sent = errno_name(-r.signal_res) if r.signal_res else "ok"
        return (f"target {r.target_tid}: tgkill {sent}, handler runs {r.hits_after_target}, "
                f"SigPnd {r.target_pending:#x}; control ran in {r.self_handler_tid}")


# --------------------------------------------------------------------------- kernel.io_uring_disabled


@record(frozen=True)
class DisabledObservation:
    result: DisabledResult
    value: int
    drop_privileges: bool

    @property
    def who(self) -> str:
        return "uid 65534" if self.drop_privileges else "root"

    @property
    def got(self) -> str:
        return "succeeded" if self.result.setup_res >= 0 else errno_name(-self.result.setup_res)


@record(frozen=True)
class SetupGives:
    """io_uring_setup under the sysctl: this errno (0: it succeeds)."""

    errno: int

    def mismatch(self, obs: DisabledObservation) -> str | None:
        res = obs.result.setup_res
        if self.errno and res != -self.errno:
            return f"expected {errno_name(self.errno)} from io_uring_setup as {obs.who}, got {obs.got}"
        if not self.errno and res < 0:
            return f"expected io_uring_setup as {obs.who} to succeed, got {obs.got}"
        return None


@record(frozen=True)
class Restored:
    """The C helper put the original value back."""

    def mismatch(self, obs: DisabledObservation) -> str | None:
        r = obs.result
        if r.restore_res < 0 or r.after != r.original:
            why = errno_name(-r.restore_res) if r.restore_res else f"reads {r.after}"
            return f"restoring {r.original} failed ({why})"
        return None


@record(frozen=True, kw_only=True)
class DisabledCase(Case[DisabledObservation]):
    """kernel.io_uring_disabled=value, io_uring_setup in a child, original value restored."""

    value: int
    drop_privileges: bool = False

    def observe(self) -> DisabledObservation:
        # The row declares changes=(Sysctl("kernel.io_uring_disabled"),): the harness saves,
        # journals and restores it (globalstate.changing), even if this process is killed.
        res = wire.disabled_try(self.value, self.drop_privileges)
        if res.write_res < 0:
            raise HarnessProblem(f"writing {self.value} gave {errno_name(-res.write_res)}")
        if res.harness_error is not native.HarnessError.NONE:
            raise HarnessProblem(f"setup child: {res.harness_error.name}")
        return DisabledObservation(res, self.value, self.drop_privileges)

    def describe(self, obs: DisabledObservation) -> str:
        return f"io_uring_disabled={self.value}: io_uring_setup as {obs.who} {obs.got}; restored to {obs.result.after}"


# --------------------------------------------------------------------------- task restrictions


TASK_RESTRICTIONS = Feature("io_uring.task_restrictions")
READ_LEN = 8  # the READ of /dev/zero asks for 8 bytes (kc_uring.c)


def _restrict_show(v: int) -> str:
    if v == NOT_CALLED:
        return "not called"
    return f"-{errno_name(-v)}" if -4095 <= v < 0 else str(v)


def _rfield(name: str, get: Callable[[RestrictResult], int]) -> Field[RestrictResult]:
    return Field(name, get, _restrict_show)


class R:
    """The fields of ``RestrictResult`` a restriction row checks or a description shows, as typed getters."""

    register_ret = _rfield("register_ret", lambda o: o.register_ret)
    register2_ret = _rfield("register2_ret", lambda o: o.register2_ret)
    create_ret = _rfield("create_ret", lambda o: o.create_ret)
    setup_ret = _rfield("setup_ret", lambda o: o.setup_ret)
    nop_res = _rfield("nop_res", lambda o: o.nop_res)
    read_res = _rfield("read_res", lambda o: o.read_res)
    child_register_ret = _rfield("child_register_ret", lambda o: o.child_register_ret)
    nnp_child = _rfield("nnp_child", lambda o: o.nnp_child)


RESTRICT_SHOWN = (R.register_ret, R.register2_ret, R.create_ret, R.setup_ret, R.nop_res, R.read_res,
                  R.child_register_ret, R.nnp_child)


@record(frozen=True, kw_only=True)
class RestrictCase(Case[RestrictResult]):
    """IORING_REGISTER_RESTRICTIONS with ring fd -1 in a throw-away harness, and what the tasks it creates get."""

    request: RestrictRequest

    def observe(self) -> RestrictResult:
        try:
            r = wire.restrict_scenario(self.request)
        except OSError as e:
            raise HarnessProblem(str(e)) from e
        if r.harness_error:
            raise native.harness_problem("restriction", r.harness.describe())
        if self.request.how is not How.SELF and r.create_ret > 0 and not r.reported:
            raise HarnessProblem(f"the {self.request.how.name.lower()} child made no report")
        return r

    def describe(self, obs: RestrictResult) -> str:
        return f"{self.request.how.name.lower()}/{self.request.ring.name.lower()}: " + ", ".join(
            f"{f.name}={shown(f, obs)}" for f in RESTRICT_SHOWN)


# --------------------------------------------------------------------------- typed row constructors

IoUringCase = WorkerOpenCase | SignalCase | DisabledCase | RestrictCase


def worker_case(id: str, behaviour: str, spec: WorkerOpen, *checks: Check[Observation],
                needs: tuple[Requirement, ...] = (), old: OldModel[Observation] | None = None,
                doc: str = "") -> WorkerOpenCase:
    """A row: every io_uring case reads kernel.io_uring_disabled (declared: reads=USES_IO_URING)."""
    extra: tuple[Requirement, ...] = (SQPOLL,) if spec.via is Via.SQPOLL else ()
    return WorkerOpenCase(id=id, behaviour=f"io_uring.{behaviour}", spec=spec, expect=AllOf(checks),
                          needs=(*BASE, *extra, *needs), old=old, doc=doc, lock=Lock.SHARED, reads=USES_IO_URING)


def signal_case(id: str, kind: WorkerKind, via: Via, *checks: Check[SignalObservation], doc: str = "") -> SignalCase:
    needs: tuple[Requirement, ...] = (*BASE, SQPOLL) if via is Via.SQPOLL else BASE
    return SignalCase(id=id, behaviour="io_uring.worker_signals", kind=kind, via=via, expect=AllOf(checks),
                      needs=needs, doc=doc, lock=Lock.SHARED, reads=USES_IO_URING)


def disabled_case(id: str, value: int, setup_gives: int, *, drop_privileges: bool = False,
                  doc: str = "") -> DisabledCase:
    """Writes the sysctl: declared as a change, so the harness journals and restores it, holding the
    global lock exclusively (no other io_uring case runs meanwhile)."""
    return DisabledCase(id=id, behaviour="io_uring.disabled_sysctl", value=value, drop_privileges=drop_privileges,
                        expect=AllOf((SetupGives(setup_gives), Restored())),
                        needs=(IO_URING, DISABLED_SYSCTL, INIT_PRIVILEGED,
                               *((DROPS_PRIVILEGES,) if drop_privileges else ())), doc=doc, lock=Lock.EXCLUSIVE,
                        changes=(Sysctl("kernel.io_uring_disabled"),))


def restrict_row(id: str, req: RestrictRequest, *checks: Is[RestrictResult], needs: tuple[Requirement, ...] = (),
                 doc: str = "") -> RestrictCase:
    """A task restriction row (behaviour io_uring.task_restrictions)."""
    return RestrictCase(id=id, behaviour="io_uring.task_restrictions", request=req, expect=AllOf(checks),
                        needs=(TASK_RESTRICTIONS, *needs), doc=doc, reads=USES_IO_URING)
